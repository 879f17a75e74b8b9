#pragma once
// Every executable the project builds, with what its command line needs: the table the operations
// tests (--version, exit statuses, strict configuration, signals) run over. A test checks that it
// lists every add_executable() of src/, so a new executable cannot be forgotten.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace d4::test::ops {

struct Executable {
  std::string name;        // d4-server
  bool reads_toml = true;  // takes --config FILE (the client takes a configuration directory)
};

const std::vector<Executable>& executables();

// An executable's name as a GoogleTest parameter name (letters, digits and '_' only).
inline std::string executable_test_name(const ::testing::TestParamInfo<Executable>& info) {
  std::string n = info.param.name;
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

// What a finished run printed and returned.
struct RunResult {
  int status = -1;
  std::string out, err;
};
// Runs bin_dir()/<name> with `args`, waits up to `timeout`, kills it if it is still running.
RunResult run(const std::string& name, const std::vector<std::string>& args,
              const std::map<std::string, std::string>& env = {},
              std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

}  // namespace d4::test::ops
