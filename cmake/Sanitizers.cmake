# D4_SANITIZE=address,undefined builds everything with those sanitizers (used by the CI's ASan/UBSan run).
if(D4_SANITIZE)
  add_compile_options(-fsanitize=${D4_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${D4_SANITIZE})
endif()
