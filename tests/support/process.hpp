#pragma once
// Test helpers for real processes: spawn an executable, wait with a deadline, signal it;
// temporary directories removed at scope exit. Ports: support/ports.hpp (included here).
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "support/ports.hpp"

namespace d4::test {

class Process {
 public:
  struct Options {
    std::filesystem::path stdin_file;   // empty: /dev/null
    std::filesystem::path stdout_file;  // empty: inherit
    std::filesystem::path stderr_file;  // empty: inherit
    std::map<std::string, std::string> env;
    std::filesystem::path cwd;
  };
  Process() = default;
  Process(const std::vector<std::string>& argv, const Options& options);
  Process(const std::vector<std::string>& argv) : Process(argv, Options{}) {}
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  ~Process();  // SIGKILLs a process still running

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for exit; returns the exit status (128+signal when killed) or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`.
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Polls `cond` until it is true or the deadline passes.
template <typename F>
bool eventually(F&& cond, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
                std::chrono::milliseconds step = std::chrono::milliseconds(20));

// Waits until `log` (a file a process writes) holds "listening on <host>:<port> (<role>)" and
// returns the port. An empty role matches a line without one ("listening on <host>:<port>").
// Throws with the log's text if `process` exits first or the timeout passes.
int wait_for_listening(const std::filesystem::path& log, std::string_view role, Process& process,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

std::string read_text(const std::filesystem::path& p);
void write_text(const std::filesystem::path& p, const std::string& s);
// The directory holding the project's built executables (set by CMake as D4_BIN_DIR).
std::filesystem::path bin_dir();

}  // namespace d4::test

#include <thread>
template <typename F>
bool d4::test::eventually(F&& cond, std::chrono::milliseconds timeout, std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(step);
  }
  return cond();
}
