#pragma once
// A real redis-server for tests: started on a reserved loopback port (support/ports.hpp) with its
// data in a temporary directory, no persistence unless asked; can be stopped and restarted on the
// same port to inject faults. Options make it a TLS server (a TLS port beside the plain one, which
// stays for the test's own commands, cli()), give it ACL users, make it a replica, or run it as a
// Sentinel (redis-server <conf> --sentinel) watching a master.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace d4::test {

struct RedisServerOptions {
  bool persistent = false;
  // TLS on tls_port(): the server's certificate and key, the CA that signs client certificates,
  // and whether a client certificate is required (tls-auth-clients).
  std::string tls_cert = {}, tls_key = {}, tls_ca = {};
  bool tls_auth_clients = false;
  // ACL users, each as ACL SETUSER arguments: {"worker", "on", ">secret", "~*", "+@all"}. The
  // default user keeps every right (the test's own commands, cli(), use it).
  std::vector<std::vector<std::string>> acl_users = {};
  int replica_of = 0;  // a port on 127.0.0.1: start as its replica
  // Sentinel mode: monitor this master (127.0.0.1:port) under sentinel_master, with short timeouts.
  int sentinel_of = 0;
  std::string sentinel_master = "mymaster";
  std::string sentinel_password = {};        // requirepass of the Sentinel itself
  std::vector<std::string> extra_args = {};  // more redis-server options
};

class RedisServer {
 public:
  explicit RedisServer(bool persistent = false, std::vector<std::string> extra_args = {});
  explicit RedisServer(RedisServerOptions options);
  // A replica of `primary` (replicaof), which follows it across its restarts and its own.
  static std::unique_ptr<RedisServer> replica_of(const RedisServer& primary);
  ~RedisServer();

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }  // 0 without TLS
  std::string endpoint(int db = 0) const {
    return "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }
  void start();      // (re)start on the same port; waits until it answers PING
  void stop();       // SIGTERM and wait
  void kill_hard();  // SIGKILL: no chance to save
  bool running();
  // Runs one command on this server (database `db`) and returns what `redis-cli` would print for
  // it (for assertions): in the test process, not through a redis-cli process.
  std::string cli(const std::vector<std::string>& args, int db = 0);
  std::filesystem::path log_file() const { return dir_.path() / "redis.log"; }

 private:
  bool launch();  // one attempt on port_: true once this very process answers
  std::vector<std::string> arguments();

  RedisServerOptions options_;
  bool started_once_ = false;
  int port_;
  int tls_port_ = 0;
  TempDir dir_;
  Process proc_;
};

}  // namespace d4::test
