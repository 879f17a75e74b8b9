// Every daemon, run for real against a real redis-server: SIGHUP never kills it (it reloads, or
// checks its configuration again, or says it has nothing to reload) and SIGTERM stops it cleanly
// with a log line and exit status 0. Listeners bind port 0 (wait_for_listening reads the port).
#include <gtest/gtest.h>

#include <csignal>
#include <regex>

#include "ops/executables.hpp"
#include "support/ports.hpp"
#include "support/redis_server.hpp"

using namespace d4::test;
using namespace std::chrono_literals;

namespace {

struct Daemon {
  std::string label;  // test name
  std::string executable;
  std::vector<std::string> args;   // "{config}" and "{dir}" are replaced
  std::string ready;               // printed once it runs: a listener role (see below) or a log text
  bool ready_is_listener = false;  // `ready` is a role for wait_for_listening ("" role: stdout line)
  bool ready_on_stdout = false;
  std::string after_hangup;  // logged on SIGHUP
  std::string after_stop;    // logged on SIGTERM
};

const std::string kRecheck = "SIGHUP: configuration ";  // every daemon without a reload of its own

std::vector<Daemon> daemons() {
  return {
      {"server",
       "d4-server",
       {"--config", "{config}"},
       "sensors, plain TCP",
       true,
       false,
       "SIGHUP: configuration reloaded",
       "shutting down"},
      {"worker",
       "d4-worker",
       {"--config", "{config}", "--types", "3"},
       "serving types 3",
       false,
       false,
       kRecheck,
       "received SIGTERM: stopping"},
      {"web",
       "d4-web",
       {"--config", "{config}"},
       "web interface, HTTP",
       true,
       false,
       kRecheck,
       "d4-web stopping"},
      {"export",
       "d4-export",
       {"--config", "{config}", "--list", "analyzer:3:q", "--to", "stdout"},
       "exporting",
       false,
       false,
       kRecheck,
       "received SIGTERM: stopping"},
      {"pdns_ingest",
       "d4-pdns",
       {"--config", "{config}", "ingest", "-u", "q"},
       "consuming",
       false,
       false,
       kRecheck,
       "received SIGTERM: stopping"},
      {"pdns_serve",
       "d4-pdns",
       {"--config", "{config}", "serve", "-l", "127.0.0.1:0"},
       "",
       true,
       true,
       kRecheck,
       "received SIGTERM: stopping"},
      {"pibs",
       "d4-pibs",
       {"--config", "{config}", "-u", "q"},
       "consuming",
       false,
       false,
       kRecheck,
       "received SIGTERM: stopping"},
      {"tls_fingerprint",
       "d4-tls-fingerprint",
       {"--config", "{config}", "-u", "q"},
       "consuming",
       false,
       false,
       kRecheck,
       "received SIGTERM: stopping"},
      {"passivessl_ingest",
       "d4-passivessl",
       {"--config", "{config}", "ingest", "-u", "q"},
       "consuming",
       false,
       false,
       kRecheck,
       "received SIGTERM: stopping"},
      {"passivessl_serve",
       "d4-passivessl",
       {"--config", "{config}", "serve", "-l", "127.0.0.1:0"},
       "",
       true,
       true,
       kRecheck,
       "received SIGTERM: stopping"},
      {"misp_feed",
       "d4-misp-feed",
       {"--config", "{config}", "run", "--interval", "3600"},
       "exporting every",
       false,
       false,
       kRecheck,
       "received SIGTERM: stopping"},
      {"alerts",
       "d4-alerts",
       {"--config", "{config}", "run"},
       "d4-alerts evaluating every",
       false,
       false,
       kRecheck,
       "received SIGTERM: stopping"},
      {"client",
       "d4-client",
       {"-c", "{dir}/sensor", "-v", "--source", "folder", "--folder", "{dir}/in"},
       "destination stdout",
       false,
       false,
       "SIGHUP: nothing to reload",
       "received SIGTERM: stopping"},
  };
}

// One redis-server for every database (stream db 0, meta db 1, analyzer db 2...).
std::string config_text(const RedisServer& redis, const TempDir& dir) {
  return "[general]\nlog_level = \"info\"\n"
         "[redis]\nstream = \"" +
         redis.endpoint(0) + "\"\nmeta = \"" + redis.endpoint(1) +
         "\"\n"
         "[server]\nlisten = []\nplain_listen = [\"127.0.0.1:0\"]\nmetrics_listen = \"\"\n"
         "[web]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"\"\ntls_key = \"\"\nstate_dir = \"" +
         (dir / "web").string() + "\"\n[analyzers.pdns]\nbackend = \"" + redis.endpoint(5) +
         "\"\n"
         "[analyzers.tls]\nstorage = \"" +
         redis.endpoint(6) +
         "\"\n"
         "[analyzers.pibs]\nresults_redis = \"" +
         redis.endpoint(4) +
         "\"\n"
         "[sharing.misp]\norg_name = \"Ops\"\norg_uuid = \"5f6e8a43-4d2c-4b71-9a55-0c1d2e3f4a5b\"\n"
         "feed_dir = \"" +
         (dir / "feed").string() + "\"\n";
}

std::vector<std::string> expand(std::vector<std::string> args, const TempDir& dir) {
  for (auto& a : args) {
    a = std::regex_replace(a, std::regex("\\{config\\}"), (dir / "d4.toml").string());
    a = std::regex_replace(a, std::regex("\\{dir\\}"), dir.path().string());
  }
  return args;
}

class DaemonSignals : public ::testing::TestWithParam<Daemon> {
 protected:
  RedisServer redis;
  TempDir dir;
};

bool contains(const std::filesystem::path& log, const std::string& text) {
  return read_text(log).find(text) != std::string::npos;
}

// Every run of these tests: the executable with its standard output in dir/out and its standard
// error (the log) in dir/err.
Process start_logged(const std::string& executable, const std::vector<std::string>& args,
                     const TempDir& dir) {
  std::vector<std::string> argv{(bin_dir() / executable).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process::Options o;
  o.stdout_file = dir / "out";
  o.stderr_file = dir / "err";
  return Process(argv, o);
}

// True once `log` holds `text` after its first `from` bytes; false when `p` ended first or after
// `timeout`.
bool wait_for_text(const std::filesystem::path& log, const std::string& text, Process& p,
                   std::chrono::milliseconds timeout, std::size_t from = 0) {
  return eventually([&] { return read_text(log).find(text, from) != std::string::npos || !p.running(); },
                    timeout) &&
         read_text(log).find(text, from) != std::string::npos;
}

TEST_P(DaemonSignals, SighupNeverKillsAndSigtermStopsCleanly) {
  const Daemon& d = GetParam();
  write_text(dir / "d4.toml", config_text(redis, dir));
  std::filesystem::create_directories(dir / "sensor");
  std::filesystem::create_directories(dir / "in");
  write_text(dir / "sensor" / "key", "k\n");
  write_text(dir / "sensor" / "type", "3\n");
  write_text(dir / "sensor" / "destination", "stdout\n");
  Process p = start_logged(d.executable, expand(d.args, dir), dir);
  const auto log = dir / "err";
  if (d.ready_is_listener)
    wait_for_listening(d.ready_on_stdout ? dir / "out" : log, d.ready, p);
  else
    ASSERT_TRUE(wait_for_text(log, d.ready, p, 60s)) << read_text(log);
  ASSERT_TRUE(p.running()) << read_text(log);

  // Twice: the second SIGHUP is handled like the first (nothing was reset to the default action).
  for (int round = 1; round <= 2; ++round) {
    std::size_t before = read_text(log).size();
    p.signal(SIGHUP);
    ASSERT_TRUE(wait_for_text(log, d.after_hangup, p, 30s, before)) << "round " << round << ":\n"
                                                                    << read_text(log);
    // No sleep to catch a late death: the second round's log line, then the clean exit on SIGTERM
    // (status 0, not a signal), show that the process lived on after each SIGHUP.
    ASSERT_TRUE(p.running()) << "died of SIGHUP:\n" << read_text(log);
  }
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(60s), 0) << read_text(log);
  EXPECT_TRUE(contains(log, d.after_stop)) << read_text(log);
}

std::string daemon_name(const ::testing::TestParamInfo<Daemon>& param_info) {
  return param_info.param.label;
}
INSTANTIATE_TEST_SUITE_P(Ops, DaemonSignals, ::testing::ValuesIn(daemons()), daemon_name);

// d4-stack passes SIGHUP on to the D4 components it runs (d4-server reloads) and stops them all on
// SIGTERM. Its Redis is the test's (start_redis = false); the sensor listener needs a fixed port,
// the stack waits for it to answer.
TEST(StackSignals, SighupIsPassedOnAndSigtermStopsEverything) {
  RedisServer redis;
  TempDir dir;
  const int sensor_port = free_port();
  write_text(dir / "d4.toml",
             "[general]\n[redis]\nstream = \"" + redis.endpoint(0) + "\"\nmeta = \"" + redis.endpoint(1) +
                 "\"\n[stack]\nstart_redis = false\nstart_web = false\nanalyzers = []\n"
                 "[server]\nlisten = [\"127.0.0.1:" +
                 std::to_string(sensor_port) +
                 "\"]\ntls_cert = \"tls/server.crt\"\ntls_key = \"tls/server.key\"\nmetrics_listen = \"\"\n");
  Process stack = start_logged("d4-stack", {"--data-dir", dir.path().string()}, dir);
  struct Stop {  // SIGTERM (not the destructor's SIGKILL): the stack stops its children
    Process& p;
    ~Stop() { p.stop(30s); }
  } stop_on_exit{stack};
  ASSERT_TRUE(wait_for_text(dir / "out", "D4 stack is running", stack, 120s)) << read_text(dir / "err");
  ASSERT_TRUE(stack.running()) << read_text(dir / "err");
  // The stack does not wait for the worker to be ready: its log says when it is.
  ASSERT_TRUE(wait_for_text(dir / "logs" / "d4-worker.log", "serving types", stack, 60s));

  stack.signal(SIGHUP);
  ASSERT_TRUE(wait_for_text(dir / "err", "SIGHUP: passed on to d4-server, d4-worker", stack, 30s))
      << read_text(dir / "err");
  EXPECT_TRUE(eventually([&] {
    return contains(dir / "logs" / "d4-server.log", "SIGHUP: configuration reloaded");
  })) << read_text(dir / "logs" / "d4-server.log");
  EXPECT_TRUE(eventually([&] { return contains(dir / "logs" / "d4-worker.log", kRecheck); }))
      << read_text(dir / "logs" / "d4-worker.log");
  ASSERT_TRUE(stack.running());  // and its clean exit on SIGTERM below shows it lived on

  stack.signal(SIGTERM);
  EXPECT_EQ(stack.wait(60s), 0) << read_text(dir / "err");
  EXPECT_TRUE(contains(dir / "err", "stopping the D4 stack"));
  EXPECT_TRUE(contains(dir / "err", "stopped d4-server"));
  EXPECT_TRUE(contains(dir / "logs" / "d4-worker.log", "received SIGTERM: stopping"));
}

}  // namespace
