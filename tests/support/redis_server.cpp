#include "support/redis_server.hpp"

#include "support/text.hpp"

#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace d4::test {

RedisServer::RedisServer(bool persistent, std::vector<std::string> extra_args)
    : persistent_(persistent), extra_args_(std::move(extra_args)), port_(free_port()) {
  start();
}

std::unique_ptr<RedisServer> RedisServer::replica_of(const RedisServer& primary) {
  return std::make_unique<RedisServer>(
      false, std::vector<std::string>{"--replicaof", "127.0.0.1", std::to_string(primary.port())});
}

RedisServer::~RedisServer() {
  stop();
}

void RedisServer::start() {
  if (proc_.running()) return;
  // The port is reserved for this test process (support/ports.hpp), so nothing else from the test
  // suite can take it, restarts included. Something outside the suite still could: on the first
  // start the server then moves to another reserved port; on a restart that is a real failure.
  for (int attempt = 0;; ++attempt) {
    if (launch()) {
      started_once_ = true;
      return;
    }
    if (started_once_ || attempt == 4)
      throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + ": " +
                               read_text(dir_.path() / "redis.log"));
    port_ = free_port();
  }
}

bool RedisServer::launch() {
  std::vector<std::string> argv = {"redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_.path().string(),
                                   "--daemonize",
                                   "no",
                                   "--loglevel",
                                   "warning",
                                   "--logfile",
                                   (dir_.path() / "redis.log").string()};
  if (persistent_) {
    argv.insert(argv.end(), {"--appendonly", "yes", "--appendfsync", "always", "--save", ""});
  } else {
    argv.insert(argv.end(), {"--save", "", "--appendonly", "no"});
  }
  // Replication without a disk and without the default 5 s wait for more replicas to sync at once.
  argv.insert(argv.end(), {"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"});
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  proc_ = Process(argv);
  // Ready when *this* process answers: a PONG alone could come from another server on the port.
  std::string want = "process_id:" + std::to_string(proc_.pid());
  bool up = eventually(
      [&] {
        if (!proc_.running()) return true;  // exited (port taken): stop waiting
        return cli({"INFO", "server"}).find(want) != std::string::npos;
      },
      std::chrono::milliseconds(10000), std::chrono::milliseconds(10));
  return up && proc_.running();
}

void RedisServer::stop() {
  if (proc_.running()) proc_.stop();
}

void RedisServer::kill_hard() {
  if (proc_.running()) {
    proc_.signal(9);
    proc_.wait(std::chrono::milliseconds(5000));
  }
}

bool RedisServer::running() {
  return proc_.running();
}

std::string RedisServer::cli(const std::vector<std::string>& args, int db) {
  std::string cmd = "redis-cli -p " + std::to_string(port_) + " -n " + std::to_string(db);
  for (const auto& a : args) {
    cmd += " '";
    for (char c : a) {
      if (c == '\'')
        cmd += "'\\''";
      else
        cmd += c;
    }
    cmd += "'";
  }
  cmd += " 2>/dev/null";
  return shell_output(cmd);
}

}  // namespace d4::test
