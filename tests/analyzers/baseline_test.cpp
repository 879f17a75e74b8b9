// Trace + baseline regression tests of the analyzers' quirks: each folder of
// tests/analyzers/baselines holds one quirk — a small capture (input.pcap, written by
// make_traces.py), the command that shows the quirk (its comment lines say what the quirk is and
// why) and the expected standard output (expected). The real executable runs on the input and its
// output must equal the baseline byte for byte.
//
// With D4_UPDATE_BASELINES=1 the expected files are rewritten instead of compared:
//   cmake --build build --target update-analyzer-baselines && git diff tests/analyzers/baselines
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "helpers.hpp"

namespace fs = std::filesystem;
using d4::test::read_text;
using d4::test::TempDir;

namespace {

fs::path baselines_dir() {
  return fs::path(D4_TEST_DATA_DIR).parent_path() / "analyzers" / "baselines";
}

std::vector<std::string> cases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(baselines_dir()))
    if (e.is_directory() && fs::exists(e.path() / "command")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The command's words, "{input}" replaced by the case's capture.
std::vector<std::string> command_of(const fs::path& dir) {
  std::istringstream in(read_text(dir / "command"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') break;
  std::vector<std::string> words;
  std::istringstream w(line);
  for (std::string word; w >> word;)
    words.push_back(word == "{input}" ? (dir / "input.pcap").string() : word);
  return words;
}

class AnalyzerBaselines : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(AnalyzerBaselines, OutputEqualsTheBaseline) {
  const fs::path dir = baselines_dir() / GetParam();
  auto words = command_of(dir);
  ASSERT_GE(words.size(), 2u) << "no command in " << (dir / "command");
  TempDir tmp;
  auto r = d4::test::an::run_tool(words[0], {words.begin() + 1, words.end()}, tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  const char* update = std::getenv("D4_UPDATE_BASELINES");
  if (update && std::string(update) == "1") {
    std::ofstream(dir / "expected", std::ios::binary) << r.out;
    return;
  }
  ASSERT_TRUE(fs::exists(dir / "expected")) << "no baseline yet: run the update-analyzer-baselines target";
  EXPECT_EQ(r.out, read_text(dir / "expected"))
      << "the output of " << GetParam() << " changed: if on purpose, update the baselines";
}

INSTANTIATE_TEST_SUITE_P(Quirks, AnalyzerBaselines, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string n = param.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });
