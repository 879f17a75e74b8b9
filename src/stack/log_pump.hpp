#pragma once
// The stack's per-process log files, rotated by size. Each child's stdout and stderr go to a pipe;
// one thread reads every pipe and appends whole lines to <logs>/<name>.log through spdlog's
// rotating file sink, which renames a full file to <name>.1.log (older ones to .2, .3...) and
// keeps `keep_files` of them. A child never sees its log file, so redis-server and the D4
// daemons need no reopen signal, and a restarted child appends to the same rotation.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spdlog::sinks {
class sink;
}

namespace d4::stack {

struct LogRotation {
  std::uint64_t max_bytes = 10ull << 20;  // [stack] log_max_bytes
  std::size_t keep_files = 5;  // [stack] log_keep_files: rotated files kept besides the current one
};

class LogPump {
 public:
  explicit LogPump(LogRotation rotation);
  ~LogPump();  // reads what the children wrote before they ended (up to a second), then stops
  LogPump(const LogPump&) = delete;
  LogPump& operator=(const LogPump&) = delete;

  // A pipe whose read end the pump drains into `file`: returns the write end (close-on-exec) for a
  // child to take as stdout and stderr; the caller closes it once the child is started.
  int open_channel(const std::filesystem::path& file);
  // Applies to the files opened from now on (not to a file already written through).
  void set_rotation(LogRotation rotation);
  // Waits until every writer of `file` has ended and what they wrote is in the file (or the
  // timeout passed): a child that died is read to its last line before its log is shown.
  void settle(const std::filesystem::path& file, std::chrono::milliseconds timeout);

 private:
  struct Channel {
    int fd = -1;
    std::filesystem::path file;
    std::shared_ptr<spdlog::sinks::sink> sink;
    std::string partial;  // the start of a line not yet ended
  };
  void run();
  bool drain(Channel& c);  // false at end of file
  void write_lines(Channel& c, bool flush_partial);
  std::shared_ptr<spdlog::sinks::sink> sink_for(const std::filesystem::path& file);
  void wake();

  LogRotation rotation_;
  std::mutex mutex_;
  std::condition_variable settled_;
  std::vector<Channel> channels_;  // guarded by mutex_
  std::vector<std::pair<std::filesystem::path, std::shared_ptr<spdlog::sinks::sink>>> sinks_;
  int wake_read_ = -1, wake_write_ = -1;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_{};
  std::thread thread_;
};

}  // namespace d4::stack
