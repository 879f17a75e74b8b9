// Every executable's command line: one version string from the build, the documented exit statuses
// (0, 1 runtime, 2 usage, 78 configuration; docs/configuration.md#exit-statuses) and never CLI11's
// own codes. Real executables from this build.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "core/exit_codes.hpp"
#include "core/version.hpp"
#include "ops/executables.hpp"

using namespace d4::test;
using namespace d4::test::ops;
namespace exit_status = d4::core::exit_status;

namespace {

class EveryExecutable : public ::testing::TestWithParam<Executable> {};

TEST_P(EveryExecutable, VersionIsTheBuildsVersion) {
  const auto& exe = GetParam();
  RunResult r = run(exe.name, {"--version"});
  EXPECT_EQ(r.status, exit_status::kOk) << r.err;
  EXPECT_EQ(r.out.rfind(exe.name + " " + std::string(d4::kVersion), 0), 0u)
      << "stdout: " << r.out << "\nexpected it to start with: " << exe.name << " " << d4::kVersion;
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_EQ(r.err, "");
}

TEST_P(EveryExecutable, HelpExitsZero) {
  RunResult r = run(GetParam().name, {"--help"});
  EXPECT_EQ(r.status, exit_status::kOk) << r.err;
  EXPECT_NE(r.out.find("--version"), std::string::npos) << r.out;
}

TEST_P(EveryExecutable, UnknownOptionIsAUsageError) {
  RunResult r = run(GetParam().name, {"--bogus-option"});
  EXPECT_EQ(r.status, exit_status::kUsage) << r.err;
  EXPECT_NE(r.err.find("bogus-option"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "") << "errors go to stderr";
}

TEST_P(EveryExecutable, MissingOptionValueIsAUsageError) {
  const auto& exe = GetParam();
  // The last option lacks its value.
  RunResult r = run(exe.name, {exe.reads_toml ? "--config" : "-c"});
  EXPECT_EQ(r.status, exit_status::kUsage) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Ops, EveryExecutable, ::testing::ValuesIn(executables()), executable_test_name);

// The table above names every executable that src/ builds.
TEST(Executables, TheTableListsEveryExecutableTarget) {
  std::set<std::string> targets;
  const std::regex add_executable(R"(add_executable\((d4-[a-z0-9-]+))");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(D4_SOURCE_DIR "/src")) {
    if (entry.path().filename() != "CMakeLists.txt") continue;
    std::ifstream in(entry.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (std::sregex_iterator it(text.begin(), text.end(), add_executable), end; it != end; ++it)
      targets.insert((*it)[1]);
  }
  std::set<std::string> listed;
  for (const auto& e : executables()) listed.insert(e.name);
  EXPECT_EQ(listed, targets);
  EXPECT_GE(targets.size(), 12u);
}

}  // namespace
