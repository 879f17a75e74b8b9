// d4-server and d4-worker on a Redis reached over TLS (rediss://) as ACL users with the rights
// docs/operations.md lists for them, passwords in files: a sensor's stream is stored and rebuilt
// into an analyzer queue. A user without a right it needs is refused with an error naming it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "queues/queue_store.hpp"
#include "support/bytes.hpp"
#include "support/http.hpp"
#include "support/process.hpp"
#include "support/redis_acl.hpp"
#include "support/redis_server.hpp"
#include "support/test_pki.hpp"
#include "support/text.hpp"

namespace d4::test {
namespace {
namespace fs = std::filesystem;

// Sends `data` to the server's plain loopback listener and closes.
bool send_to_plain_listener(int port, const std::vector<std::uint8_t>& data) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  for (std::size_t off = 0; ok && off < data.size();) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    ok = n > 0;
    off += ok ? static_cast<std::size_t>(n) : 0;
  }
  ::close(fd);
  return ok;
}

class RedisAclEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_dir_ = std::make_unique<TempDir>();
    pki_ = std::make_unique<TestPki>(pki_dir_->path().string());
  }
  static void TearDownTestSuite() {
    pki_.reset();
    pki_dir_.reset();
  }

  void SetUp() override {
    if (!fs::exists(bin_dir() / "d4-server")) GTEST_SKIP() << "d4-server is not built in " << bin_dir();
    RedisServerOptions o;
    o.tls_cert = pki_->server_crt;
    o.tls_key = pki_->server_key;
    o.tls_ca = pki_->ca_crt;
    o.acl_users = {component_acl_user("ingest", "ingest-pw", {"+info"}),
                   component_acl_user("worker", "worker-pw"),
                   component_acl_user("noscript", "noscript-pw", {"-@scripting"}),
                   component_acl_user("pdns", "pdns-pw")};
    redis_ = std::make_unique<RedisServer>(o);
    write_text(dir_ / "ingest.pass", "ingest-pw\n");
    write_text(dir_ / "worker.pass", "worker-pw\n");
    write_text(dir_ / "noscript.pass", "noscript-pw\n");
    write_text(dir_ / "pdns.pass", "pdns-pw\n");
    Process gen({(bin_dir() / "d4-server").string(), "--generate-cert", (dir_ / "certs").string()});
    ASSERT_EQ(gen.wait(std::chrono::seconds(30)), 0);
  }

  // rediss:// endpoint of database `db` as `user`, its password in the user's file.
  std::string endpoint_as(const std::string& user, int db) {
    return "rediss://" + user + "@127.0.0.1:" + std::to_string(redis_->tls_port()) + "/" +
           std::to_string(db) + "?ca=" + pki_->ca_crt +
           "&password_file=" + (dir_ / (user + ".pass")).string();
  }

  // [redis] as `user`: the stream endpoint takes its password file in the URL, meta through
  // meta_password_file (both forms of the documentation).
  std::string redis_section(const std::string& user) {
    std::string base = "rediss://" + user + "@127.0.0.1:" + std::to_string(redis_->tls_port());
    std::string ca = "?ca=" + pki_->ca_crt;
    return "[redis]\nstream = \"" + base + "/4" + ca +
           "&password_file=" + (dir_ / (user + ".pass")).string() + "\"\nmeta = \"" + base + "/0" + ca +
           "\"\nmeta_password_file = \"" + user + ".pass\"\n";
  }

  Process start_server(const std::string& user, const std::string& name) {
    auto conf = dir_ / (name + ".toml");
    write_text(conf, "[general]\nlog_level = \"info\"\n\n" + redis_section(user) +
                         "\n[server]\nlisten = [\"127.0.0.1:0\"]\nplain_listen = [\"127.0.0.1:0\"]\n"
                         "metrics_listen = \"127.0.0.1:0\"\ntls_cert = \"certs/server.crt\"\n"
                         "tls_key = \"certs/server.key\"\nmode = \"shared-secret\"\n"
                         "default_hmac_key = \"d4-test-key\"\nthreads = 1\nflush_interval_ms = 50\n");
    Process::Options o;
    o.stderr_file = dir_ / (name + ".log");
    o.cwd = dir_.path();
    return Process({(bin_dir() / "d4-server").string(), "-c", conf.string()}, o);
  }

  Process start_worker(const std::string& user, const std::string& name) {
    auto conf = dir_ / (name + ".toml");
    write_text(conf, "[general]\nlog_level = \"info\"\n\n" + redis_section(user) +
                         "\n[workers]\narchive_dir = \"" + (dir_ / "archive").string() +
                         "\"\nmonitor_interval_seconds = 0\n");
    Process::Options o;
    o.stderr_file = dir_ / (name + ".log");
    o.cwd = dir_.path();
    return Process({(bin_dir() / "d4-worker").string(), "-c", conf.string(), "--types", "8"}, o);
  }

  // The queue is made by an administrator (the default user, plain port).
  std::string create_queue() {
    core::RedisClient meta(*core::RedisEndpoint::parse(redis_->endpoint(0)));
    core::RedisClient analyzer(*core::RedisEndpoint::parse(redis_->endpoint(2)));
    queues::QueueStore store(meta, analyzer, 100'000'000);
    queues::QueueSpec spec;
    spec.target = queues::QueueTarget::parse("8");
    return store.create(spec).id;
  }
  std::vector<std::string> queue_items(const std::string& queue) {
    core::RedisClient analyzer(*core::RedisEndpoint::parse(redis_->endpoint(2)));
    auto v = analyzer.command({"LRANGE", core::keys::analyzer_list("8", queue), "0", "-1"}).as_strings();
    std::reverse(v.begin(), v.end());
    return v;
  }

  inline static std::unique_ptr<TempDir> pki_dir_;
  inline static std::unique_ptr<TestPki> pki_;
  TempDir dir_;
  std::unique_ptr<RedisServer> redis_;
};

// The first record d4-pdns must answer for the passive DNS vector.
nlohmann::json first_expected_record() {
  return nlohmann::json::parse(lines_of(read_text(vector_path("dns.expected-records.ndjson"))).front());
}

}  // namespace

TEST_F(RedisAclEndToEnd, ServerAndWorkerAsRestrictedUsersOverTls) {
  Process server = start_server("ingest", "server");
  int port = wait_for_listening(dir_ / "server.log", "sensors, plain TCP", server, std::chrono::seconds(60));
  std::string queue = create_queue();  // once the server wrote its defaults (the accepted types)
  Process worker = start_worker("worker", "worker");
  ASSERT_TRUE(send_to_plain_listener(port, read_file(vector_path("c-client-type8-passivedns.d4"))));
  auto want = lines_of(read_text(vector_path("dns.passivedns.csv")));
  ASSERT_TRUE(eventually([&] { return queue_items(queue).size() == want.size(); }, std::chrono::seconds(30)))
      << read_text(dir_ / "server.log") << read_text(dir_ / "worker.log");
  EXPECT_EQ(queue_items(queue), want);
  EXPECT_EQ(redis_->cli({"ACL", "LOG"}), "\n") << "no command was refused";
  std::string clients = redis_->cli({"CLIENT", "LIST"});
  EXPECT_NE(clients.find("user=ingest"), std::string::npos) << clients;
  EXPECT_NE(clients.find("user=worker"), std::string::npos) << clients;
  worker.stop();
  server.stop();
}

TEST_F(RedisAclEndToEnd, AMissingRightIsNamedInTheError) {
  Process server = start_server("noscript", "server");
  ASSERT_TRUE(eventually(
      [&] {
        std::string log = read_text(dir_ / "server.log");
        return log.find("NOPERM") != std::string::npos || !server.running();
      },
      std::chrono::seconds(30)));
  std::string log = read_text(dir_ / "server.log");
  EXPECT_NE(log.find("NOPERM"), std::string::npos) << log;
  EXPECT_NE(log.find("eval"), std::string::npos) << "names the refused command: " << log;
  EXPECT_EQ(log.find("noscript-pw"), std::string::npos) << log;
  server.stop();
}

// An analyzer with the analyzers' rules of docs/operations.md: d4-pdns empties its queue into its
// store, then answers a query from it, both as its own user over TLS.
TEST_F(RedisAclEndToEnd, PassiveDnsConsumesItsQueueAndAnswersQueriesAsARestrictedUser) {
  if (!fs::exists(bin_dir() / "d4-pdns")) GTEST_SKIP() << "d4-pdns is not built in " << bin_dir();
  const std::string list = core::keys::analyzer_list("8", "acl");
  for (const auto& line : lines_of(read_text(vector_path("dns.passivedns.csv"))))
    if (!line.empty()) redis_->cli({"LPUSH", list, line}, 2);
  Process::Options o;
  o.stderr_file = dir_ / "pdns-ingest.log";
  Process ingest({(bin_dir() / "d4-pdns").string(), "--backend", endpoint_as("pdns", 6), "ingest", "-u",
                  "acl", "--analyzer-redis", endpoint_as("pdns", 2), "--exit-when-empty"},
                 o);
  ASSERT_EQ(ingest.wait(std::chrono::seconds(60)), 0) << read_text(dir_ / "pdns-ingest.log");
  EXPECT_EQ(redis_->cli({"LLEN", list}, 2), "0\n");

  o.stdout_file = dir_ / "pdns-serve.out";
  o.stderr_file = dir_ / "pdns-serve.log";
  Process serve({(bin_dir() / "d4-pdns").string(), "--backend", endpoint_as("pdns", 6), "serve", "--listen",
                 "127.0.0.1:0"},
                o);
  int port = wait_for_listening(dir_ / "pdns-serve.out", "", serve, std::chrono::seconds(30));
  auto want = first_expected_record();
  std::optional<HttpResponse> res;
  ASSERT_TRUE(eventually([&] {
    res = http_get(port, "/query/" + want["rrname"].get<std::string>());
    return res.has_value();
  })) << read_text(dir_ / "pdns-serve.log");
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find(want["rdata"].get<std::string>()), std::string::npos) << res->body;
  EXPECT_EQ(redis_->cli({"ACL", "LOG"}), "\n") << "no command was refused";
  EXPECT_NE(redis_->cli({"CLIENT", "LIST"}).find("user=pdns"), std::string::npos);
  serve.stop();
}

}  // namespace d4::test
