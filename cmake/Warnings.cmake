# Project-wide warning flags, applied to every D4 target through d4_set_warnings().
function(d4_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast
                                           -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
  if(D4_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
