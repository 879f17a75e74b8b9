#pragma once
// Starts and supervises the processes of the embedded stack: restarts a crashed child with
// exponential backoff, stops everything in reverse start order on request.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "stack/log_pump.hpp"

namespace d4::stack {

struct ChildSpec {
  std::string name;                // for logs, e.g. "redis-meta", "d4-server"
  std::vector<std::string> argv;   // argv[0] is the executable (absolute or in PATH)
  std::filesystem::path log_file;  // child's stdout+stderr go here, rotated by size (empty: inherit)
  bool restart = true;
  // Called after start; returns true once the child is ready (e.g. Redis answers PING).
  std::function<bool()> ready;
  std::chrono::milliseconds ready_timeout{15000};
  int stop_signal = 15;  // SIGTERM
  std::chrono::milliseconds stop_grace{10000};
};

class Supervisor {
 public:
  explicit Supervisor(LogRotation rotation = {}) : pump_(rotation) {}
  // For the log files of the children started from now on.
  void set_log_rotation(LogRotation rotation) { pump_.set_rotation(rotation); }
  // Starts the child and waits for readiness; throws std::runtime_error if it exits or is not
  // ready in time (with the tail of its log in the message).
  void start(ChildSpec spec);
  // Reaps children and restarts crashed ones. Returns false if a child gave up (crash loop).
  bool poll();
  // Stops every child in reverse start order.
  void stop_all();
  bool any_running() const;
  // Sends `sig` to the running children whose name starts with `prefix`; returns their names.
  std::vector<std::string> signal_running(int sig, std::string_view prefix);

 private:
  struct Child {
    ChildSpec spec;
    pid_t pid = -1;
    int restarts = 0;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point restart_at{};
    bool waiting_restart = false;
  };
  pid_t spawn(const ChildSpec& spec);
  std::string log_tail(const ChildSpec& spec);  // ":\n<last lines>" once the pump wrote them
  LogPump pump_;
  std::vector<Child> children_;
};

std::string tail_of_file(const std::filesystem::path& p, std::size_t max_bytes = 2000);

}  // namespace d4::stack
