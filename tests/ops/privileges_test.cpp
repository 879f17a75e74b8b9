// Privilege dropping ([general] user, group, allow_root) with the real daemons. Started as root
// (the tests run as root in CI), a daemon binds its listeners and then runs as the configured
// user: /proc/<pid>/status shows that user's ids in every slot (real, effective, saved, fs) and
// the daemon still serves. A user that does not exist is a configuration error; root is refused
// as the configured user unless allowed.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "core/exit_codes.hpp"
#include "ops/executables.hpp"
#include "server/harness.hpp"
#include "support/http.hpp"
#include "support/redis_server.hpp"

using namespace d4::test;
using namespace d4::test::ops;
using namespace std::chrono_literals;
namespace exit_status = d4::core::exit_status;

namespace {

// The "Uid:" or "Gid:" line of /proc/<pid>/status: real, effective, saved set and filesystem ids.
std::vector<long> proc_ids(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(field + ":")) continue;
    std::istringstream values(line.substr(field.size() + 1));
    std::vector<long> ids;
    for (long id; values >> id;) ids.push_back(id);
    return ids;
  }
  return {};
}

struct Account {
  long uid = -1, gid = -1;
};
Account nobody() {
  const passwd* pw = getpwnam("nobody");
  return pw ? Account{static_cast<long>(pw->pw_uid), static_cast<long>(pw->pw_gid)} : Account{};
}

std::string redis_section(const RedisServer& redis) {
  return "[redis]\nstream = \"" + redis.endpoint(0) + "\"\nmeta = \"" + redis.endpoint(1) +
         "\"\nanalyzer = \"" + redis.endpoint(2) + "\"\n";
}

class PrivilegeDrop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (the CI runs the tests as root)";
    account = nobody();
    ASSERT_GE(account.uid, 0) << "no user nobody on this system";
  }
  Process start(const std::string& executable, std::vector<std::string> args) {
    args.insert(args.begin(), (bin_dir() / executable).string());
    Process::Options o;
    o.stdout_file = dir / "out";
    o.stderr_file = dir / "err";
    return Process(args, o);
  }
  void expect_runs_as_nobody(int pid) {
    const std::vector<long> uids(4, account.uid), gids(4, account.gid);
    EXPECT_EQ(proc_ids(pid, "Uid"), uids);
    EXPECT_EQ(proc_ids(pid, "Gid"), gids);
    EXPECT_NE(read_text(dir / "err").find("running as user nobody"), std::string::npos)
        << read_text(dir / "err");
  }
  RedisServer redis;
  TempDir dir;
  Account account;
};

TEST_F(PrivilegeDrop, ServerBindsItsListenersThenRunsAsTheUserAndStillServes) {
  write_text(dir / "d4.toml", "[general]\nuser = \"nobody\"\n" + redis_section(redis) +
                                  "[server]\nlisten = []\nplain_listen = [\"127.0.0.1:0\"]\n"
                                  "metrics_listen = \"127.0.0.1:0\"\n");
  Process p = start("d4-server", {"--config", (dir / "d4.toml").string()});
  wait_for_listening(dir / "err", "sensors, plain TCP", p);
  const int metrics_port = wait_for_listening(dir / "err", "metrics and health, HTTP", p);
  ASSERT_TRUE(
      eventually([&] { return read_text(dir / "err").find("ready: mode") != std::string::npos; }, 30s))
      << read_text(dir / "err");
  expect_runs_as_nobody(p.pid());
  auto health = http_get(metrics_port, "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(30s), 0) << read_text(dir / "err");
}

TEST_F(PrivilegeDrop, WorkerRunsAsTheUserAndGroupAndKeepsPublishingItsState) {
  const group* nogroup = getgrgid(static_cast<gid_t>(account.gid));
  ASSERT_NE(nogroup, nullptr);
  write_text(dir / "d4.toml", "[general]\nuser = \"nobody\"\ngroup = \"" + std::string(nogroup->gr_name) +
                                  "\"\n" + redis_section(redis) + "[workers]\nname = \"dropped\"\n");
  Process p = start("d4-worker", {"--config", (dir / "d4.toml").string(), "--types", "3"});
  ASSERT_TRUE(
      eventually([&] { return read_text(dir / "err").find("serving types 3") != std::string::npos; }, 30s))
      << read_text(dir / "err");
  expect_runs_as_nobody(p.pid());
  // Still at work as nobody: its statistics are published every 2 s.
  auto updated = [&] { return redis.cli({"HGET", "d4:worker:stats:dropped", "updated"}, 2); };
  ASSERT_TRUE(eventually([&] { return !updated().empty(); }, 10s)) << read_text(dir / "err");
  const std::string first = updated();
  EXPECT_TRUE(eventually([&] { return updated() != first; }, 10s)) << read_text(dir / "err");
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(30s), 0) << read_text(dir / "err");
}

// The analyzers drop once their listeners are bound: a queue consumer after its metrics listener,
// a query API after its HTTP listener; both keep working as the user.
TEST_F(PrivilegeDrop, AnalyzerQueueConsumerRunsAsTheUserAndStillStoresRecords) {
  write_text(dir / "d4.toml", "[general]\nuser = \"nobody\"\n" + redis_section(redis));
  Process p = start("d4-pdns", {"--config", (dir / "d4.toml").string(), "--backend", redis.endpoint(3),
                                "ingest", "-u", "mq", "--metrics-listen", "127.0.0.1:0"});
  const int metrics_port = wait_for_listening(dir / "err", "metrics and health, HTTP", p);
  ASSERT_TRUE(
      eventually([&] { return read_text(dir / "err").find("running as user") != std::string::npos; }, 30s))
      << read_text(dir / "err");
  expect_runs_as_nobody(p.pid());
  redis.cli({"LPUSH", "analyzer:8:mq", "100||c||s||IN||dropped.example||A||192.0.2.9||60||1"}, 2);
  EXPECT_TRUE(eventually([&] { return metric(metrics_port, "d4_pdns_records_total") == 1.0; }, 20s))
      << read_text(dir / "err");
  EXPECT_EQ(std::stoi(redis.cli({"LLEN", "analyzer:8:mq"}, 2)), 0);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(30s), 0) << read_text(dir / "err");
}

TEST_F(PrivilegeDrop, AnalyzerQueryApiBindsThenRunsAsTheUserAndStillAnswers) {
  write_text(dir / "d4.toml", "[general]\nuser = \"nobody\"\n" + redis_section(redis));
  Process p = start("d4-pdns", {"--config", (dir / "d4.toml").string(), "--backend", redis.endpoint(3),
                                "serve", "-l", "127.0.0.1:0"});
  const int port = wait_for_listening(dir / "out", "", p);
  ASSERT_TRUE(
      eventually([&] { return read_text(dir / "err").find("running as user") != std::string::npos; }, 30s))
      << read_text(dir / "err");
  expect_runs_as_nobody(p.pid());
  auto info = http_get(port, "/info");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, 200) << info->body;
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(30s), 0) << read_text(dir / "err");
}

// A live capture needs root to open the interface, not to read it: the analyzer becomes the user
// once the interface is open, and keeps seeing the traffic (a TLS handshake with d4-server on lo).
TEST_F(PrivilegeDrop, LiveCaptureOpensTheInterfaceThenRunsAsTheUserAndStillSeesTraffic) {
  ServerProcess server(redis);
  const std::string port = std::to_string(server.tls_port());
  write_text(dir / "d4.toml", "[general]\nuser = \"nobody\"\n" + redis_section(redis));
  Process p = start("d4-tls-fingerprint",
                    {"--config", (dir / "d4.toml").string(), "-i", "lo", "-f", "tcp port " + port});
  ASSERT_TRUE(
      eventually([&] { return read_text(dir / "err").find("running as user") != std::string::npos; }, 30s))
      << read_text(dir / "err");
  expect_runs_as_nobody(p.pid());
  ASSERT_TRUE(tls_handshake_ok(server.tls_port()));
  EXPECT_TRUE(eventually(
      [&] { return read_text(dir / "out").find("\"ServerPort\":\"" + port + "\"") != std::string::npos; },
      20s))
      << read_text(dir / "out") << read_text(dir / "err");
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(30s), 0) << read_text(dir / "err");
}

TEST(PrivilegeSettings, AMissingUserIsAConfigurationErrorWithItsLine) {
  TempDir dir;
  write_text(dir / "d4.toml", "[general]\nuser = \"d4-no-such-user\"\n");
  for (const std::string exe : {"d4-server", "d4-worker", "d4-web", "d4-export", "d4-alerts", "d4-pdns",
                                "d4-pibs", "d4-tls-fingerprint", "d4-passivessl", "d4-stack"}) {
    auto r = run(exe, {"--config", (dir / "d4.toml").string(), "--check-config"});
    EXPECT_EQ(r.status, exit_status::kConfig) << exe << ": " << r.err;
    EXPECT_NE(r.err.find("d4.toml:2"), std::string::npos) << exe << ": " << r.err;
    EXPECT_NE(r.err.find("no user \"d4-no-such-user\""), std::string::npos) << exe << ": " << r.err;
  }
}

TEST(PrivilegeSettings, AGroupWithoutAUserIsRefused) {
  TempDir dir;
  write_text(dir / "d4.toml", "[general]\ngroup = \"nogroup\"\n");
  auto r = run("d4-worker", {"--config", (dir / "d4.toml").string(), "--check-config"});
  EXPECT_EQ(r.status, exit_status::kConfig) << r.err;
  EXPECT_NE(r.err.find("general.group needs general.user"), std::string::npos) << r.err;
}

TEST(PrivilegeSettings, RootAsTheConfiguredUserIsRefusedUnlessAllowed) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the CI runs the tests as root)";
  RedisServer redis;
  TempDir dir;
  write_text(dir / "d4.toml", "[general]\nuser = \"root\"\n" + redis_section(redis));
  auto r = run("d4-export", {"--config", (dir / "d4.toml").string(), "--list", "analyzer:3:q", "--to",
                             "stdout", "--once"});
  EXPECT_EQ(r.status, exit_status::kRuntime) << r.err;
  EXPECT_NE(r.err.find("refusing to run as root"), std::string::npos) << r.err;

  write_text(dir / "d4.toml", "[general]\nuser = \"root\"\nallow_root = true\n" + redis_section(redis));
  r = run("d4-export",
          {"--config", (dir / "d4.toml").string(), "--list", "analyzer:3:q", "--to", "stdout", "--once"});
  EXPECT_EQ(r.status, exit_status::kOk) << r.err;
}

}  // namespace
