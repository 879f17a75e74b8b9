#include "support/redis_server.hpp"

#include "client/resp.hpp"
#include "support/text.hpp"

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace d4::test {

namespace {

// One command on the server at 127.0.0.1:`port` (database `db`), in the test process: its reply,
// or nothing when the server does not answer.
std::optional<client::RespReply> command(int port, const RedisServerOptions& options,
                                         const std::vector<std::string>& args, int db) {
  client::RedisAddress address;
  address.host = "127.0.0.1";
  address.port = std::to_string(port);
  if (options.sentinel_of == 0) address.db = db;
  address.password = options.sentinel_password;
  client::RespClient redis(address, -1, 30000);
  if (!redis.connect()) return std::nullopt;
  return redis.command(args);
}

}  // namespace

RedisServer::RedisServer(bool persistent, std::vector<std::string> extra_args)
    : RedisServer(RedisServerOptions{.persistent = persistent, .extra_args = std::move(extra_args)}) {}

std::unique_ptr<RedisServer> RedisServer::replica_of(const RedisServer& primary) {
  RedisServerOptions o;
  o.replica_of = primary.port();
  return std::make_unique<RedisServer>(o);
}

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)), port_(free_port()) {
  if (!options_.tls_cert.empty()) tls_port_ = free_port();
  start();
  for (const auto& user : options_.acl_users) {
    std::vector<std::string> args = {"ACL", "SETUSER"};
    args.insert(args.end(), user.begin(), user.end());
    if (cli(args) != "OK\n") throw std::runtime_error("ACL SETUSER " + user.front() + " failed");
  }
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
    if (tls_port_ != 0) tls_port_ = free_port();
  }
}

std::vector<std::string> RedisServer::arguments() {
  const auto& o = options_;
  std::vector<std::string> argv = {"redis-server"};
  if (o.sentinel_of != 0) {
    // A Sentinel reads (and rewrites) a configuration file; it is written once so that a restart
    // keeps what the Sentinel learnt. Short periods: a failover takes seconds, not minutes.
    auto conf = dir_.path() / "sentinel.conf";
    if (!std::filesystem::exists(conf)) {
      std::string m = o.sentinel_master;
      std::string text = "sentinel monitor " + m + " 127.0.0.1 " + std::to_string(o.sentinel_of) + " 1\n" +
                         "sentinel down-after-milliseconds " + m + " 1000\n" + "sentinel failover-timeout " +
                         m + " 5000\n" + "sentinel parallel-syncs " + m + " 1\n";
      if (!o.sentinel_password.empty()) text += "requirepass " + o.sentinel_password + "\n";
      write_text(conf, text);
    }
    argv.push_back(conf.string());
    argv.push_back("--sentinel");
  }
  argv.insert(argv.end(), {"--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir",
                           dir_.path().string(), "--daemonize", "no", "--loglevel", "warning", "--logfile",
                           (dir_.path() / "redis.log").string()});
  if (o.sentinel_of != 0) return argv;
  if (o.persistent) {
    argv.insert(argv.end(), {"--appendonly", "yes", "--appendfsync", "always", "--save", ""});
  } else {
    argv.insert(argv.end(), {"--save", "", "--appendonly", "no"});
  }
  if (tls_port_ != 0) {
    argv.insert(argv.end(), {"--tls-port", std::to_string(tls_port_), "--tls-cert-file", o.tls_cert,
                             "--tls-key-file", o.tls_key, "--tls-ca-cert-file", o.tls_ca,
                             "--tls-auth-clients", o.tls_auth_clients ? "yes" : "no"});
  }
  if (o.replica_of != 0) argv.insert(argv.end(), {"--replicaof", "127.0.0.1", std::to_string(o.replica_of)});
  // Replication without a disk and without the default 5 s wait for more replicas to sync at once.
  argv.insert(argv.end(), {"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"});
  argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
  return argv;
}

bool RedisServer::launch() {
  std::vector<std::string> argv = arguments();
  proc_ = Process(argv);
  // Ready when *this* process answers (a PONG alone could come from another server on the port)
  // and has loaded its data. INFO is no proof of the latter: a restart with an append-only file
  // answered INFO with "loading:0" and then refused the next write with -LOADING (15 times in 100
  // restarts); DBSIZE is itself refused while loading (0 in 300). A Sentinel has no data.
  std::string want = "process_id:" + std::to_string(proc_.pid());
  const bool loads = options_.sentinel_of == 0;
  bool up = eventually(
      [&] {
        if (!proc_.running()) return true;  // exited (port taken): stop waiting
        if (cli({"INFO", "server"}).find(want) == std::string::npos) return false;
        if (!loads) return true;
        auto dbsize = command(port_, options_, {"DBSIZE"}, 0);
        return dbsize && dbsize->kind == client::RespReply::Kind::Integer;
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

namespace {

// A reply as `redis-cli` prints it when its output is not a terminal (its "raw" format): strings,
// status replies and errors as they are, integers in decimal, nil as nothing, the elements of an
// array (nested ones flattened) one per line; then a newline.
std::string raw_format(const client::RespReply& r) {
  using Kind = client::RespReply::Kind;
  switch (r.kind) {
    case Kind::Nil:
      return "";
    case Kind::Error:
      return r.text + "\n";
    case Kind::Status:
    case Kind::Bulk:
      return r.text;
    case Kind::Integer:
      return std::to_string(r.integer);
    case Kind::Array: {
      std::string out;
      for (std::size_t i = 0; i < r.elements.size(); ++i) {
        if (i > 0) out += "\n";
        out += raw_format(r.elements[i]);
      }
      return out;
    }
  }
  return "";
}

}  // namespace

// In the test process itself rather than through `sh -c redis-cli`: tests call it thousands of
// times (readiness polls, assertions), and two processes per call were a third of the release
// tests' CPU time (docs/BENCHMARKS.md). The output is what redis-cli prints (raw_format); nothing when the
// server does not answer.
std::string RedisServer::cli(const std::vector<std::string>& args, int db) {
  auto reply = command(port_, options_, args, db);
  return reply ? raw_format(*reply) + "\n" : std::string();
}

}  // namespace d4::test
