# D4_SANITIZE=address,undefined builds everything with those sanitizers (used by the CI's ASan/UBSan run).
if(D4_SANITIZE)
  set(d4_sanitizer_flags -fsanitize=${D4_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # Clang 14's -fsanitize=function (part of "undefined" for C++) emits debug data that its own
  # assembler rejects in C++20 coroutine frames ("Cannot represent a difference across sections"),
  # and every Asio coroutine of the tree is one: that single check is left out under Clang.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND D4_SANITIZE MATCHES "undefined")
    list(APPEND d4_sanitizer_flags -fno-sanitize=function)
  endif()
  add_compile_options(${d4_sanitizer_flags})
  add_link_options(-fsanitize=${D4_SANITIZE})
endif()
