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
    endif()
  endif()
endfunction()
