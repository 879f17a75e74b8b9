// Server-to-server sharing, end to end, with every component real: two D4 stacks on loopback
// (each: redis-servers, d4-server, d4-worker, an analyzer queue made with d4-queue). A sensor
// sends the auth.log vector (type 3) to server A; A's worker fills A's queue; a d4-client with the
// d4server source forwards that queue over TLS to server B as another sensor; B's worker fills
// B's queue. The lines must arrive intact and in order, and A's queue and the forwarder's
// processing list must end empty. See docs/sharing.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/bytes.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/text.hpp"

namespace d4::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kSensorA = "8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01";     // the sensor feeding A
const std::string kForwarderB = "4f3c2a1b-9d8e-4c7b-8a69-5e4d3c2b1a09";  // A, as a sensor of B
const std::string kQueueA = "11111111-2222-4333-8444-555555555555";
const std::string kQueueB = "66666666-7777-4888-9999-aaaaaaaaaaaa";

// One complete D4 server: stream and metadata Redis, d4-server (TLS and plain loopback
// listeners), d4-worker, one type-3 analyzer queue.
struct Stack {
  TempDir dir;
  RedisServer stream_redis;
  RedisServer meta_redis{true};
  int tls_port = 0;  // reported by the server, which binds port 0
  int plain_port = 0;
  Process server, worker;

  fs::path config() const { return dir / "d4.toml"; }
  std::string analyzer_ep() const { return meta_redis.endpoint(2); }

  void start(const std::string& queue_id) {
    Process gen({(bin_dir() / "d4-server").string(), "--generate-cert", (dir / "certs").string()});
    ASSERT_EQ(gen.wait(30s), 0);
    std::ofstream f(config());
    f << "[general]\nlog_level = \"info\"\n\n[redis]\nstream = \"" << stream_redis.endpoint(0)
      << "\"\nmeta = \"" << meta_redis.endpoint(0) << "\"\nanalyzer = \"" << analyzer_ep()
      << "\"\n\n[server]\nlisten = [\"127.0.0.1:0\"]\nplain_listen = [\"127.0.0.1:0\"]"
      << "\nmetrics_listen = \"127.0.0.1:0\"\ntls_cert = \"" << (dir / "certs/server.crt").string()
      << "\"\ntls_key = \"" << (dir / "certs/server.key").string()
      << "\"\nmode = \"shared-secret\"\ndefault_hmac_key = \"d4-test-key\"\nthreads = 1\n"
      << "policy_refresh_ms = 100\nflush_interval_ms = 50\n\n[workers]\narchive_dir = \""
      << (dir / "archive").string() << "\"\nmonitor_interval_seconds = 0\n";
    f.close();
    Process::Options o;
    o.stderr_file = dir / "server.log";
    server = Process({(bin_dir() / "d4-server").string(), "-c", config().string()}, o);
    Process::Options w;
    w.stderr_file = dir / "worker.log";
    worker = Process({(bin_dir() / "d4-worker").string(), "-c", config().string()}, w);
    tls_port = wait_for_listening(dir / "server.log", "sensors, TLS", server, 60s);
    plain_port = wait_for_listening(dir / "server.log", "sensors, plain TCP", server, 60s);
    // After the server started: it publishes the accepted types d4-queue checks.
    Process::Options q;
    q.stderr_file = dir / "queue.log";
    q.stdout_file = dir / "queue.out";
    Process create({(bin_dir() / "d4-queue").string(), "-c", config().string(), "create", "-t", "3", "--id",
                    queue_id, "-d", "sharing test"},
                   q);
    ASSERT_EQ(create.wait(30s), 0) << read_text(dir / "queue.log");
  }
  // Elements of analyzer:3:<queue>, oldest first.
  std::vector<std::string> queue(const std::string& id) {
    auto items = lines_of(meta_redis.cli({"LRANGE", "analyzer:3:" + id, "0", "-1"}, 2));
    return {items.rbegin(), items.rend()};
  }
  long long length(const std::string& key) {
    auto out = meta_redis.cli({"LLEN", key}, 2);
    return out.empty() ? -1 : std::stoll(out);
  }
  std::string logs() {
    return "--- server.log\n" + read_text(dir / "server.log") + "--- worker.log\n" +
           read_text(dir / "worker.log");
  }
};

TEST(Sharing, QueueOfServerAForwardedToServerB) {
  for (const char* exe : {"d4-server", "d4-worker", "d4-queue", "d4-client"})
    ASSERT_TRUE(fs::exists(bin_dir() / exe)) << exe << " is not built in " << bin_dir();
  Stack a, b;
  a.start(kQueueA);
  b.start(kQueueB);
  const auto want = lines_of(read_text(vector_path("auth.log")));
  ASSERT_FALSE(want.empty());

  // A sensor sends the log file to A (plain loopback listener).
  TempDir work;
  write_text(work / "key", "d4-test-key");
  {
    Process::Options o;
    o.stderr_file = work / "sensor.log";
    Process sensor(
        {(bin_dir() / "d4-client").string(), "--uuid", kSensorA, "--key-file", (work / "key").string(),
         "--type", "3", "--source", "file", "--file", vector_path("auth.log"), "--destination",
         "127.0.0.1:" + std::to_string(a.plain_port), "-ce=false"},
        o);
    ASSERT_EQ(sensor.wait(60s), 0) << read_text(work / "sensor.log");
  }
  ASSERT_TRUE(eventually([&] { return a.queue(kQueueA).size() >= want.size(); }, 30s)) << a.logs();
  ASSERT_EQ(a.queue(kQueueA), want);

  // A forwards its queue to B over TLS (B's self-signed certificate is the trust anchor).
  fs::create_directories(work / "fwd");
  write_text(work / "fwd/uuid", kForwarderB + "\n");
  write_text(work / "fwd/key", "d4-test-key\n");
  write_text(work / "fwd/type", "3\n");
  write_text(work / "fwd/source", "d4server\n");
  write_text(work / "fwd/redis_d4", a.analyzer_ep() + "\n");
  write_text(work / "fwd/redis_queue", "analyzer:3:" + kQueueA + "\n");
  write_text(work / "fwd/destination", "localhost:" + std::to_string(b.tls_port) + "\n");
  fs::copy_file(b.dir / "certs/server.crt", work / "fwd/rootCA.crt");
  Process::Options o;
  o.stderr_file = work / "forwarder.log";
  Process forwarder({(bin_dir() / "d4-client").string(), "-c", (work / "fwd").string(), "--retry-min", "50ms",
                     "-rt", "500ms"},
                    o);
  ASSERT_TRUE(eventually([&] { return b.queue(kQueueB).size() >= want.size(); }, 60s))
      << read_text(work / "forwarder.log") << b.logs();
  EXPECT_EQ(b.queue(kQueueB), want);
  const std::string processing = "analyzer:3:" + kQueueA + ":processing:4f3c2a1b9d8e4c7b8a695e4d3c2b1a09";
  EXPECT_TRUE(
      eventually([&] { return a.length(processing) == 0 && a.length("analyzer:3:" + kQueueA) == 0; }, 20s))
      << read_text(work / "forwarder.log");
  // B knows the data came from A's forwarder.
  EXPECT_EQ(b.meta_redis.cli({"EXISTS", "metadata_uuid:4f3c2a1b9d8e4c7b8a695e4d3c2b1a09"}), "1\n");
  EXPECT_EQ(forwarder.stop(10s), 0) << read_text(work / "forwarder.log");
}

}  // namespace
}  // namespace d4::test
