#pragma once
// A real redis-server for tests: started on a reserved loopback port (support/ports.hpp) with its
// data in a temporary directory, no persistence unless asked; can be stopped and restarted on the
// same port to inject faults.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace d4::test {

class RedisServer {
 public:
  explicit RedisServer(bool persistent = false, std::vector<std::string> extra_args = {});
  // A replica of `primary` (replicaof), which follows it across its restarts and its own.
  static std::unique_ptr<RedisServer> replica_of(const RedisServer& primary);
  ~RedisServer();

  int port() const { return port_; }
  std::string endpoint(int db = 0) const {
    return "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }
  void start();      // (re)start on the same port; waits until it answers PING
  void stop();       // SIGTERM and wait
  void kill_hard();  // SIGKILL: no chance to save
  bool running();
  // Runs redis-cli against this server and returns its stdout (for assertions).
  std::string cli(const std::vector<std::string>& args, int db = 0);

 private:
  bool launch();  // one attempt on port_: true once this very process answers

  bool persistent_;
  std::vector<std::string> extra_args_;
  bool started_once_ = false;
  int port_;
  TempDir dir_;
  Process proc_;
};

}  // namespace d4::test
