# One version string for every executable: the CMake project version, plus `git describe` of the
# source tree when it is a git checkout (e.g. "0.1.0 (git 4011bad-dirty)"). The header is
# regenerated at every build (git state changes without CMake noticing) but rewritten only when its
# text changes, so an unchanged version recompiles nothing.
#
# d4::version: an interface target giving "core/version.hpp" (constexpr d4::kVersion). It does not
# depend on the core library, so the client-only build has it too.
set(D4_VERSION_HEADER "${PROJECT_BINARY_DIR}/generated/core/version.hpp")
add_custom_target(d4_version_header
  COMMAND ${CMAKE_COMMAND} -DD4_PROJECT_VERSION=${PROJECT_VERSION} -DD4_SOURCE_DIR=${PROJECT_SOURCE_DIR}
          -DD4_OUTPUT=${D4_VERSION_HEADER} -P ${PROJECT_SOURCE_DIR}/cmake/WriteVersionHeader.cmake
  BYPRODUCTS ${D4_VERSION_HEADER}
  COMMENT "Checking the version string"
  VERBATIM)
add_library(d4_version INTERFACE)
add_library(d4::version ALIAS d4_version)
target_include_directories(d4_version INTERFACE ${PROJECT_BINARY_DIR}/generated)
add_dependencies(d4_version d4_version_header)
