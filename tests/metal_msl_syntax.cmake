# Compiles the MSL program geomkit hands to the Metal compiler as C++14 against a stub
# <metal_stdlib> (tests/metal_stub): catches C++17-only constructs, undeclared names and
# syntax errors in the text itself (not just in its C++ expansion), without a Mac.
# -D DUMP=<metal_msl_dump> -D CXX=<compiler> -D STUB=<dir> -D WORK=<dir>
file(MAKE_DIRECTORY "${WORK}")
set(_msl "${WORK}/geomkit_kernels.metal.cpp")
execute_process(COMMAND "${DUMP}" "${_msl}" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "metal_msl_dump failed (${_rc})")
endif()
execute_process(
  COMMAND "${CXX}" -std=c++14 -fsyntax-only -fno-exceptions -Wall -Wextra -Wpedantic -Wshadow -Werror
          -Wno-attributes -Wno-unknown-attributes -Wno-unknown-warning-option -I "${STUB}" -x c++ "${_msl}"
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "the MSL program does not compile as C++14:\n${_out}${_err}")
endif()
message(STATUS "MSL program (${_msl}) compiles as C++14 against the stub metal_stdlib")
