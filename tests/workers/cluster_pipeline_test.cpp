// The whole pipeline on ONE real 3-master Redis Cluster in the cluster key layout, both the stream
// and the meta Redis being the cluster: the reference client's vectors sent over TLS to d4-server,
// stored and counted there, rebuilt by d4-worker into archives and analyzer queues, and d4-pdns
// answering from its queue. The results are those of the single-Redis end-to-end test
// (ServerEndToEnd.ReferenceClientVectorsBecomeArchivesAndQueueItems, RedisAclEndToEnd's passive
// DNS answers). One cluster, server, worker and sending for the whole suite (one CTest test).
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "queues/queue_store.hpp"
#include "server/harness.hpp"
#include "support/bytes.hpp"
#include "support/http.hpp"
#include "support/redis_cluster.hpp"
#include "support/text.hpp"
#include "workers/worker_fixture.hpp"

// A namespace of its own: the unity build compiles this file with the other worker tests.
namespace d4::test::cluster_pipeline {
namespace {
namespace fs = std::filesystem;
namespace keys = core::keys;
constexpr auto kCluster = keys::KeyLayout::Cluster;

const std::vector<std::string> kVectors = {"c-client-type1-dns.d4", "c-client-type8-passivedns.d4",
                                           "c-client-type3-log.d4"};

// What the suite shares: the cluster and the processes running on it.
struct Pipeline {
  TempDir dir;
  RedisCluster cluster;
  std::string seeds = "redis-cluster://" + cluster.seeds();
  core::RedisClient redis{*core::RedisEndpoint::parse(seeds)};
  Process server, worker;
  int tls_port = 0;
  std::string q1, q3, q8, q8_pdns;  // the last one consumed by d4-pdns
  std::set<std::string> days;       // of the sending (two if it crossed midnight)
  bool sent = false;

  std::string redis_section() const {
    return "[redis]\nkey_layout = \"cluster\"\nstream = \"" + seeds + "\"\nmeta = \"" + seeds + "\"\n";
  }
  Process start(const std::string& name, const std::string& config, std::vector<std::string> args) {
    write_text(dir / (name + ".toml"), "[general]\nlog_level = \"info\"\n\n" + redis_section() + config);
    std::vector<std::string> argv{(bin_dir() / name).string(), "-c", (dir / (name + ".toml")).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    Process::Options o;
    o.stderr_file = dir / (name + ".log");
    o.cwd = dir.path();
    return Process(argv, o);
  }
  std::string log(const std::string& name) const { return read_text(dir / (name + ".log")); }
  std::vector<std::string> items(const std::string& type, const std::string& queue) {  // oldest first
    auto v = redis.command({"LRANGE", keys::analyzer_list(type, queue), "0", "-1"}).as_strings();
    std::reverse(v.begin(), v.end());
    return v;
  }
  long long live_size(const std::string& type_of_key, std::string_view name) {
    return redis.command({type_of_key, keys::live(kCluster, name)}).integer;
  }
};

class ClusterPipeline : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { pipeline_.reset(); }

  // Starts the cluster, d4-server, the queues and d4-worker; sends the vectors once and waits
  // until every queue holds what they carry.
  static Pipeline& sent_once() {
    if (!pipeline_) pipeline_ = std::make_unique<Pipeline>();
    Pipeline& p = *pipeline_;
    if (p.sent) return p;
    p.sent = true;  // once, whatever fails below (the tests then fail on what is missing)
    EXPECT_TRUE(p.cluster.wait_ok());
    Process gen({(bin_dir() / "d4-server").string(), "--generate-cert", (p.dir / "certs").string()});
    EXPECT_EQ(gen.wait(std::chrono::seconds(30)), 0);
    p.server =
        p.start("d4-server",
                "\n[server]\nlisten = [\"127.0.0.1:0\"]\nplain_listen = [\"127.0.0.1:0\"]\nmetrics_listen = "
                "\"127.0.0.1:0\"\n"
                "tls_cert = \"certs/server.crt\"\ntls_key = \"certs/server.key\"\nmode = \"shared-secret\"\n"
                "default_hmac_key = \"d4-test-key\"\nthreads = 1\nflush_interval_ms = 50\n",
                {});
    p.tls_port =
        wait_for_listening(p.dir / "d4-server.log", "sensors, TLS", p.server, std::chrono::seconds(60));
    queues::QueueStore store(p.redis, p.redis, 100'000'000, kCluster);  // after the server's accepted types
    auto queue = [&](const char* type) {
      queues::QueueSpec spec;
      spec.target = queues::QueueTarget::parse(type);
      return store.create(spec).id;
    };
    p.q1 = queue("1");
    p.q3 = queue("3");
    p.q8 = queue("8");
    p.q8_pdns = queue("8");
    p.worker = p.start(
        "d4-worker",
        "\n[workers]\narchive_dir = \"" + (p.dir / "archive").string() + "\"\nmonitor_interval_seconds = 0\n",
        {});
    p.days.insert(local_day());
    for (const auto& v : kVectors) {
      SensorConnection sensor(p.tls_port, true);
      EXPECT_TRUE(sensor.send(read_file(vector_path(v)))) << v;
      sensor.close();
    }
    EXPECT_TRUE(eventually(
        [&] {
          return p.items("8", p.q8).size() == lines_of(read_text(vector_path("dns.passivedns.csv"))).size() &&
                 p.items("1", p.q1).size() == 1 && p.items("3", p.q3).size() == 2;
        },
        std::chrono::seconds(60)))
        << p.log("d4-server") << p.log("d4-worker");
    p.days.insert(local_day());
    return p;
  }

  inline static std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace

TEST_F(ClusterPipeline, VectorsBecomeTheSameQueueItemsAndFilesAsOnOneRedis) {
  Pipeline& p = sent_once();
  EXPECT_EQ(p.items("8", p.q8), lines_of(read_text(vector_path("dns.passivedns.csv"))));
  EXPECT_EQ(p.items("8", p.q8_pdns), p.items("8", p.q8)) << "every queue of the type";
  EXPECT_EQ(p.items("3", p.q3), lines_of(read_text(vector_path("auth.log"))));
  auto pcap = p.items("1", p.q1);
  ASSERT_EQ(pcap.size(), 1u);
  EXPECT_EQ(gunzip_file(pcap[0]), read_text(vector_path("dns.pcap"))) << "the capture rebuilt byte for byte";
  EXPECT_TRUE(fs::path(pcap[0]).string().starts_with((p.dir / "archive" / kSensor / "1").string()))
      << pcap[0];
}

// The sessions end as on one Redis: every stream deleted, the live slot's sets and backlog counts
// empty (each byte stored was counted once and trimmed once), the outboxes relayed.
TEST_F(ClusterPipeline, SessionsEndWithTheirStreamsDeletedAndTheBacklogCountedOnce) {
  Pipeline& p = sent_once();
  ASSERT_TRUE(eventually([&] {
    for (const char* t : {"1", "3", "8"})
      if (p.live_size("SCARD", keys::sessions_of_type(t)) != 0) return false;
    return p.live_size("SCARD", keys::kEndedSessions) == 0 &&
           p.live_size("SCARD", keys::kActiveConnection) == 0;
  })) << p.log("d4-worker");
  EXPECT_EQ(p.live_size("HLEN", keys::kBacklogBytesBySession), 0);
  EXPECT_EQ(p.live_size("HLEN", keys::kBacklogBytesBySensor), 0);
  EXPECT_EQ(p.live_size("HLEN", keys::kBacklogTrimPoints), 0);
  EXPECT_EQ(p.live_size("HLEN", keys::kRelayedBatches), 0);
  for (std::size_t n = 0; n < p.cluster.size(); ++n)
    EXPECT_EQ(p.cluster.node(n).cli({"KEYS", "stream:*"}), "\n") << "node " << n;  // no key: an empty line
}

// The server's statistics of the sensor, on the cluster under the names the readers use
// (core::keys): its packets per day and type, its metadata, the sensor index.
TEST_F(ClusterPipeline, StatisticsOfTheSensorAreOnTheCluster) {
  Pipeline& p = sent_once();
  long long packets = 0;
  for (const auto& v : kVectors)
    packets += static_cast<long long>(payloads_of_d4_file(vector_path(v)).size());
  auto over_days = [&](auto key_of_day, const std::string& member) {
    long long total = 0;
    for (const auto& d : p.days)
      total += p.redis.command({"ZSCORE", key_of_day(d), member}).as_integer().value_or(0);
    return total;
  };
  ASSERT_TRUE(eventually([&] { return over_days(keys::daily_uuid, kSensor) == packets; }))
      << over_days(keys::daily_uuid, kSensor) << " of " << packets;
  for (const char* t : {"1", "3", "8"})
    EXPECT_GT(over_days([&](std::string_view d) { return keys::stat_uuid_type(d, kSensor); }, t), 0) << t;
  EXPECT_EQ(over_days([](std::string_view d) { return keys::stat_ip_uuid(d, "127.0.0.1"); }, kSensor),
            packets);
  EXPECT_FALSE(p.redis.command({"HGET", keys::sensor_metadata(kSensor), "last_seen"}).str.empty());
  EXPECT_EQ(p.redis.command({"SISMEMBER", std::string(keys::kSensorIndex), kSensor}).integer, 1);
  EXPECT_EQ(p.redis.command({"SCARD", keys::sensor_all_types(kSensor)}).integer, 3);
}

// d4-pdns on the same cluster empties its queue into its store and answers every record the
// passive DNS vector holds as on one Redis (tests/data/vectors/dns.expected-records.ndjson).
TEST_F(ClusterPipeline, PassiveDnsAnswersFromItsQueueOnTheCluster) {
  Pipeline& p = sent_once();
  const std::string pdns = "\n[analyzers.pdns]\nbackend = \"" + p.seeds + "\"\n";
  Process ingest =
      p.start("d4-pdns", pdns, {"ingest", "-u", p.q8_pdns, "--exit-when-empty", "--consumer", "t"});
  ASSERT_EQ(ingest.wait(std::chrono::seconds(60)), 0) << p.log("d4-pdns");
  EXPECT_EQ(p.redis.command({"LLEN", keys::analyzer_list("8", p.q8_pdns)}).integer, 0);
  Process::Options o;
  o.stdout_file = p.dir / "pdns-serve.out";
  o.stderr_file = p.dir / "pdns-serve.log";
  Process serve({(bin_dir() / "d4-pdns").string(), "-c", (p.dir / "d4-pdns.toml").string(), "serve",
                 "--listen", "127.0.0.1:0"},
                o);
  int port = wait_for_listening(p.dir / "pdns-serve.out", "", serve, std::chrono::seconds(30));
  for (const auto& line : lines_of(read_text(vector_path("dns.expected-records.ndjson")))) {
    if (line.empty()) continue;
    auto want = nlohmann::json::parse(line);
    auto res = http_get(port, "/query/" + want["rrname"].get<std::string>());
    ASSERT_TRUE(res && res->status == 200) << line;
    bool found = false;
    for (const auto& answer : lines_of(res->body)) {
      if (answer.empty()) continue;
      auto got = nlohmann::json::parse(answer);
      bool same = true;
      for (const auto& [field, value] : want.items()) same &= got.contains(field) && got[field] == value;
      found |= same;
    }
    EXPECT_TRUE(found) << line << " not in " << res->body;
  }
  serve.stop();
}

}  // namespace d4::test::cluster_pipeline
