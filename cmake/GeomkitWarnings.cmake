# Settings for geomkit's own test, benchmark and example targets. None of this reaches
# the geomkit interface target that consumers link.
function(geomkit_internal_target target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
      -Wno-sign-conversion)
    if(GEOMKIT_SANITIZE)
      # Sanitized builds also run un-inlined, so every header function is instrumented.
      target_compile_options(${target} PRIVATE -fsanitize=address,undefined
        -fno-sanitize-recover=all -fno-omit-frame-pointer -O0 -fno-inline)
      target_link_options(${target} PRIVATE -fsanitize=address,undefined)
    endif()
    if(GEOMKIT_NATIVE)
      target_compile_options(${target} PRIVATE -march=native)
      geomkit_quiet_gcc12_avx512(${target})
    endif()
  endif()
endfunction()

# GCC 12 warns "'__Y' may be used uninitialized" (or "is used uninitialized", in
# detail/amx_gram.hpp's 512-bit unpacks) inside its own AVX-512 intrinsics
# (_mm512_undefined_* passthroughs, GCC PR 105593) wherever Eigen's or xsimd's AVX-512
# code is inlined; the warning is fixed in GCC 13. Only -march=native builds see it.
function(geomkit_quiet_gcc12_avx512 target)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized -Wno-uninitialized)
  endif()
endfunction()
