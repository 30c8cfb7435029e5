# cmake -DMODE=find_package|add_subdirectory -DSOURCE_DIR=... -DWORK_DIR=...
#       [-DPREFIX=...] [-DCXX_COMPILER=...] [-DGENERATOR=...] -P run_consumer.cmake
# find_package installs geomkit into a fresh prefix, unless PREFIX names one already
# populated (by the vcpkg port emulation, for instance).
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(common)
if(CXX_COMPILER)
  list(APPEND common "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(GENERATOR)
  list(APPEND common -G "${GENERATOR}")
endif()

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

set(consumer_src "${SOURCE_DIR}/tests/consumer")
if(MODE STREQUAL "find_package")
  if(PREFIX)
    set(prefix "${PREFIX}")
  else()
    set(prefix "${WORK_DIR}/prefix")
    step(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/geomkit-build" ${common}
         -DGEOMKIT_INSTALL=ON -DGEOMKIT_BUILD_TESTS=OFF -DGEOMKIT_BUILD_EXAMPLES=OFF
         "-DCMAKE_INSTALL_PREFIX=${prefix}")
    step(${CMAKE_COMMAND} --install "${WORK_DIR}/geomkit-build")
  endif()
  if(NOT EXISTS "${prefix}/include/geomkit/geomkit.hpp" OR
     NOT EXISTS "${prefix}/share/geomkit/geomkitConfig.cmake")
    message(FATAL_ERROR "install layout is missing headers or the CMake config")
  endif()
  step(${CMAKE_COMMAND} -S "${consumer_src}" -B "${WORK_DIR}/consumer-build" ${common}
       -DGEOMKIT_CONSUMER_MODE=find_package "-DCMAKE_PREFIX_PATH=${prefix}"
       -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
else()
  step(${CMAKE_COMMAND} -S "${consumer_src}" -B "${WORK_DIR}/consumer-build" ${common}
       -DGEOMKIT_CONSUMER_MODE=add_subdirectory "-DGEOMKIT_SOURCE_DIR=${SOURCE_DIR}")
endif()
step(${CMAKE_COMMAND} --build "${WORK_DIR}/consumer-build")
file(GLOB exe "${WORK_DIR}/consumer-build/consumer" "${WORK_DIR}/consumer-build/*/consumer.exe")
step(${exe})
