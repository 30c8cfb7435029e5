# Settings for geomkit's own test, benchmark and example targets. None of this reaches
# the geomkit interface target that consumers link.
function(geomkit_internal_target target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
      -Wno-sign-conversion)
    if(GEOMKIT_SANITIZE)
      # -O1, the level ASan's documentation recommends: every load and store that is
      # left after inlining is still checked, and UBSan's checks are placed before any
      # optimisation. (-O0 -fno-inline ran Eigen's un-inlined expression templates about
      # ten times slower: the sanitized suite took 7.5 of CI's 50 minutes.)
      target_compile_options(${target} PRIVATE -fsanitize=address,undefined
        -fno-sanitize-recover=all -fno-omit-frame-pointer -O1)
      if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        # GCC 12 at -O1 with the sanitizers warns of std::function members "maybe used
        # uninitialized" inside libstdc++'s <regex> (Catch2's test-name matching): a false
        # positive of the instrumented code, which the unsanitized builds do not show.
        target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
      endif()
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
