// The stack's per-process log files rotate by size: a real child process (sh) writes numbered
// lines through the supervisor's log pump with a small limit; the kept files hold the latest lines
// in order, whole, none lost between files, and no more files than configured.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "stack/supervisor.hpp"
#include "support/process.hpp"

using namespace d4::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

constexpr int kLines = 3000;  // "line 0" .. "line 2999": about 30 KB

d4::stack::ChildSpec chatty_child(const fs::path& log) {
  d4::stack::ChildSpec c;
  c.name = "chatty";
  c.argv = {"/bin/sh", "-c",
            "i=0; while [ $i -lt " + std::to_string(kLines) + " ]; do echo \"line $i\"; i=$((i+1)); done"};
  c.log_file = log;
  c.restart = false;
  return c;
}

// Runs the chatty child under `sup` until it ended (its log pump has its lines).
void run_chatty_child(d4::stack::Supervisor& sup, const fs::path& log) {
  sup.start(chatty_child(log));
  ASSERT_TRUE(eventually(
      [&] {
        sup.poll();
        return !sup.any_running();
      },
      30s));
}

TEST(StackLogRotation, FilesRotateAtTheLimitAndKeepTheLatestLinesWhole) {
  TempDir dir;
  const fs::path log = dir / "chatty.log";
  {
    d4::stack::Supervisor sup({/*max_bytes=*/4096, /*keep_files=*/2});
    ASSERT_NO_FATAL_FAILURE(run_chatty_child(sup, log));
  }  // the supervisor's pump has written everything once it is gone
  ASSERT_TRUE(fs::exists(dir / "chatty.1.log"));
  ASSERT_TRUE(fs::exists(dir / "chatty.2.log"));
  EXPECT_FALSE(fs::exists(dir / "chatty.3.log")) << "keep_files = 2";
  for (const auto* name : {"chatty.log", "chatty.1.log", "chatty.2.log"})
    EXPECT_LE(fs::file_size(dir / name), 4096u) << name;

  // Oldest to newest: consecutive numbers ending with the last line written.
  std::vector<std::string> all;
  for (const auto* name : {"chatty.2.log", "chatty.1.log", "chatty.log"}) {
    auto part = lines_of(dir / name);
    all.insert(all.end(), part.begin(), part.end());
  }
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back(), "line " + std::to_string(kLines - 1));
  int first = std::stoi(all.front().substr(5));
  EXPECT_GT(first, 0) << "the oldest lines were rotated out";
  for (std::size_t i = 0; i < all.size(); ++i)
    ASSERT_EQ(all[i], "line " + std::to_string(first + static_cast<int>(i))) << "line " << i;
}

TEST(StackLogRotation, ARestartedChildAppendsToTheSameRotation) {
  TempDir dir;
  const fs::path log = dir / "chatty.log";
  d4::stack::Supervisor sup({/*max_bytes=*/1 << 20, /*keep_files=*/2});
  for (int run = 0; run < 2; ++run) ASSERT_NO_FATAL_FAILURE(run_chatty_child(sup, log));
  ASSERT_TRUE(eventually([&] { return lines_of(log).size() == 2 * kLines; }, 10s)) << lines_of(log).size();
  EXPECT_FALSE(fs::exists(dir / "chatty.1.log")) << "below the limit: no rotation";
}

}  // namespace
