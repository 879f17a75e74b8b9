// The analyzers' /metrics and /health, scraped from the real executables consuming real queues on
// a real redis-server: the counters move by the work fed, backlogs follow Redis, and health turns
// degraded when Redis (queue or storage) goes away.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "analyzers/common/analyzer_metrics.hpp"
#include "analyzers/helpers.hpp"
#include "support/http.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using d4::test::eventually;
using d4::test::metric;
using d4::test::Process;
using d4::test::read_text;
using d4::test::RedisServer;
using d4::test::TempDir;
using d4::test::vector_path;
using d4::test::an::lines_of;
using d4::test::an::run_tool;

// A daemon under test and the port of its /metrics and /health (bound to port 0).
struct MetricsDaemon {
  Process process;
  int port = 0;
};

MetricsDaemon start_with_metrics(const std::string& tool, std::vector<std::string> args, const TempDir& dir,
                                 const std::string& name) {
  std::vector<std::string> argv{(d4::test::bin_dir() / tool).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process::Options o;
  o.stdout_file = dir / (name + ".out");
  o.stderr_file = dir / (name + ".log");
  MetricsDaemon d;
  d.process = Process(argv, o);
  d.port = d4::test::wait_for_listening(dir / (name + ".log"), "metrics and health, HTTP", d.process, 60s);
  return d;
}

int health_status(int port) {
  auto h = d4::test::http_get(port, "/health");
  return h ? h->status : 0;
}

bool health_becomes(int port, int status, std::chrono::milliseconds timeout = 30s) {
  return eventually([&] { return health_status(port) == status; }, timeout, 100ms);
}

std::string scrape(int port) {
  return d4::test::http_get(port, "/metrics").value_or(d4::test::HttpResponse{}).body;
}

// Each test: a redis-server for the queues (db 2) and, unless the test brings its own, the
// storage; a scratch directory; the daemon under test started by start_healthy().
class AnalyzerMetricsTest : public ::testing::Test {
 protected:
  RedisServer redis;
  TempDir dir;

  // `tool` with `args` and its metrics on port 0, once /health answers 200.
  MetricsDaemon start_healthy(const std::string& tool, std::vector<std::string> args,
                              const std::string& name) {
    args.insert(args.end(), {"--metrics-listen", "127.0.0.1:0"});
    auto d = start_with_metrics(tool, std::move(args), dir, name);
    EXPECT_TRUE(health_becomes(d.port, 200)) << read_text(dir / (name + ".log"));
    return d;
  }
};

// d4-pdns consuming analyzer:8:mq from `redis` and writing to `backend`.
class PdnsIngestMetrics : public AnalyzerMetricsTest {
 protected:
  RedisServer backend;
  const std::string list = "analyzer:8:mq";
  const std::string q = "{analyzer=\"d4-pdns\",queue=\"" + list + "\"}";

  MetricsDaemon start_pdns() {
    return start_healthy("d4-pdns",
                         {"--backend", backend.endpoint(), "ingest", "-u", "mq", "--analyzer-redis",
                          redis.endpoint(2), "--consumer", "metrics"},
                         "pdns");
  }
  void push(const std::string& line) { redis.cli({"LPUSH", list, line}, 2); }
};

TEST_F(PdnsIngestMetrics, CountsRecordsRejectsByReasonAndTheBacklog) {
  auto d = start_pdns();
  auto lines = lines_of(read_text(vector_path("dns.passivedns.csv")));
  for (const auto& line : lines) push(line);
  push("garbage");
  push("1||c||s||IN||q.org||A||999.0.0.1||60||1");
  const double fed = static_cast<double>(lines.size() + 2);
  // The records and the two rejects may be taken in different batches: wait until every element
  // fed was taken and its batch finished, then check each counter.
  ASSERT_TRUE(eventually(
      [&] {
        return metric(d.port, "d4_analyzer_elements_total" + q) == fed &&
               metric(d.port, "d4_pdns_records_total") == double(lines.size()) &&
               metric(d.port, "d4_analyzer_processing_length" + q) == 0.0 &&
               metric(d.port, "d4_pdns_write_batches_in_flight") == 0.0;
      },
      20s, 100ms))
      << scrape(d.port);
  EXPECT_EQ(metric(d.port, "d4_analyzer_elements_total" + q), fed);
  EXPECT_EQ(metric(d.port, "d4_pdns_rejects_total{reason=\"field_count\"}"), 1.0);
  EXPECT_EQ(metric(d.port, "d4_pdns_rejects_total{reason=\"bad_answer\"}"), 1.0);
  EXPECT_EQ(metric(d.port, "d4_analyzer_queue_length" + q), 0.0);
  EXPECT_EQ(metric(d.port, "d4_analyzer_processing_length" + q), 0.0);
  EXPECT_EQ(metric(d.port, "d4_analyzer_redis_errors_total" + q), 0.0);
  EXPECT_GE(metric(d.port, "d4_pdns_write_batches_total").value_or(0), 1.0);
  EXPECT_EQ(metric(d.port, "d4_pdns_write_batches_in_flight"), 0.0);
  EXPECT_NE(scrape(d.port).find("d4_build_info{component=\"d4-pdns\""), std::string::npos);
  EXPECT_EQ(d.process.stop(), 0);
}

// The storage goes away: the batch stays in the processing list (the backlog shows it), Redis
// errors are counted and health turns degraded; back again, the batch is written.
TEST_F(PdnsIngestMetrics, AStorageOutageKeepsTheBatchAndTurnsHealthDegradedUntilItIsBack) {
  auto d = start_pdns();
  backend.stop();
  push("100||c||s||IN||late.org||A||10.0.0.9||60||1");
  push("100||c||s||IN||late.org||A||10.0.0.8||60||1");
  ASSERT_TRUE(health_becomes(d.port, 503)) << read_text(dir / "pdns.log");
  ASSERT_TRUE(eventually(
      [&] {
        return metric(d.port, "d4_analyzer_processing_length" + q).value_or(0) +
                   metric(d.port, "d4_analyzer_queue_length" + q).value_or(0) ==
               2.0;
      },
      10s, 100ms))
      << scrape(d.port);
  EXPECT_GE(metric(d.port, "d4_analyzer_redis_errors_total" + q).value_or(0), 1.0);
  auto h = d4::test::http_get(d.port, "/health");
  ASSERT_TRUE(h);
  auto body = nlohmann::json::parse(h->body);
  EXPECT_EQ(body["status"], "degraded");
  EXPECT_EQ(body["redis"], false);
  backend.start();
  ASSERT_TRUE(eventually([&] { return metric(d.port, "d4_pdns_records_total") == 2.0; }, 30s, 100ms))
      << scrape(d.port);
  EXPECT_TRUE(health_becomes(d.port, 200));
  EXPECT_EQ(metric(d.port, "d4_analyzer_processing_length" + q), 0.0);
  EXPECT_EQ(d.process.stop(), 0);
}

// The queue's Redis goes away: degraded, and the backlog cannot be read (a collector error).
TEST_F(PdnsIngestMetrics, AQueueRedisOutageTurnsHealthDegradedAndCountsACollectorError) {
  auto d = start_pdns();
  redis.stop();
  EXPECT_TRUE(health_becomes(d.port, 503));
  EXPECT_GE(metric(d.port, "d4_metrics_collector_errors_total").value_or(0), 1.0);
  EXPECT_EQ(d.process.stop(), 0);
}

TEST_F(AnalyzerMetricsTest, PdnsServeCountsQueriesByRouteAndStatusAndChecksItsBackend) {
  RedisServer& backend = redis;
  auto d = start_healthy("d4-pdns", {"--backend", backend.endpoint(), "serve", "-l", "127.0.0.1:0"}, "serve");
  int api = 0;
  ASSERT_TRUE(eventually([&] {
    auto out = read_text(dir / "serve.out");
    auto at = out.find("listening on 127.0.0.1:");
    if (at == std::string::npos) return false;
    api = std::stoi(out.substr(at + 23));
    return true;
  }));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(d4::test::http_get(api, "/query/www.example.org")->status, 200);
  EXPECT_EQ(d4::test::http_get(api, "/no/such/page")->status, 404);
  EXPECT_EQ(metric(d.port, "d4_pdns_api_http_requests_total{route=\"/query\",status_class=\"2xx\"}"), 3.0)
      << scrape(d.port);
  EXPECT_EQ(metric(d.port, "d4_pdns_api_http_requests_total{route=\"unmatched\",status_class=\"4xx\"}"), 1.0);
  EXPECT_EQ(metric(d.port, "d4_pdns_api_http_request_duration_seconds_count{route=\"/query\"}"), 3.0);
  EXPECT_EQ(metric(d.port, "d4_pdns_api_http_request_duration_seconds_bucket{route=\"/query\",le=\"+Inf\"}"),
            3.0);
  backend.stop();
  EXPECT_TRUE(health_becomes(d.port, 503));
  auto h = d4::test::http_get(d.port, "/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(nlohmann::json::parse(h->body)["storage"], false);
  backend.start();
  EXPECT_TRUE(health_becomes(d.port, 200));
  d.process.stop();
}

TEST_F(AnalyzerMetricsTest, PassiveSslIngestCountsSessionsAndRejectsByReason) {
  auto fp = run_tool("d4-tls-fingerprint", {vector_path("tls.pcap")}, dir);
  ASSERT_EQ(fp.status, 0) << fp.err;
  auto sessions = lines_of(fp.out);
  ASSERT_EQ(sessions.size(), 5u);
  auto d = start_healthy(
      "d4-passivessl",
      {"--storage", redis.endpoint(0), "ingest", "-u", "sq", "--analyzer-redis", redis.endpoint(2)}, "pssl");
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    auto p = dir / (std::to_string(i) + ".json");
    d4::test::write_text(p, sessions[i] + "\n");
    redis.cli({"LPUSH", "analyzer:ja3-jl:sq", p.string()}, 2);
  }
  redis.cli({"LPUSH", "analyzer:ja3-jl:sq", (dir / "missing.json").string()}, 2);
  redis.cli({"LPUSH", "analyzer:ja3-jl:sq", "{not json"}, 2);
  const std::string q = "{analyzer=\"d4-passivessl\",queue=\"analyzer:ja3-jl:sq\"}";
  ASSERT_TRUE(eventually([&] { return metric(d.port, "d4_analyzer_elements_total" + q) == 7.0; }, 20s, 100ms))
      << scrape(d.port);
  EXPECT_EQ(metric(d.port, "d4_passivessl_records_total"), 5.0);
  EXPECT_EQ(metric(d.port, "d4_passivessl_rejects_total{reason=\"unreadable_file\"}"), 1.0);
  EXPECT_EQ(metric(d.port, "d4_passivessl_rejects_total{reason=\"bad_json\"}"), 1.0);
  EXPECT_EQ(metric(d.port, "d4_analyzer_queue_length" + q), 0.0);
  redis.stop();
  EXPECT_TRUE(health_becomes(d.port, 503));
  EXPECT_EQ(d.process.stop(), 0);
}

TEST_F(AnalyzerMetricsTest, PibsCountsCapturesFramesAndBackscatterPerFile) {
  auto d = start_healthy("d4-pibs", {"-u", "bq", "--analyzer-redis", redis.endpoint(2)}, "pibs");
  const std::string q = "{analyzer=\"d4-pibs\",queue=\"analyzer:1:bq\"}";
  redis.cli({"LPUSH", "analyzer:1:bq", vector_path("backscatter.pcap")}, 2);
  // An element is counted once its batch is handled, after the analyzer published its counters.
  ASSERT_TRUE(eventually([&] { return metric(d.port, "d4_analyzer_elements_total" + q) == 1.0; }, 20s, 100ms))
      << scrape(d.port);
  // backscatter.pcap: 600 TCP packets, 400 of them backscatter (tests/data/vectors/MANIFEST.md).
  EXPECT_EQ(metric(d.port, "d4_pibs_capture_files_total"), 1.0);
  EXPECT_EQ(metric(d.port, "d4_pibs_frames_total"), 600.0);
  EXPECT_EQ(metric(d.port, "d4_pibs_backscatter_packets_total"), 400.0);
  redis.cli({"LPUSH", "analyzer:1:bq", (dir / "missing.pcap").string()}, 2);
  ASSERT_TRUE(eventually([&] { return metric(d.port, "d4_analyzer_elements_total" + q) == 2.0; }, 20s, 100ms))
      << scrape(d.port);
  EXPECT_EQ(metric(d.port, "d4_pibs_capture_files_total"), 2.0) << "an unreadable file counts as read";
  EXPECT_EQ(metric(d.port, "d4_pibs_capture_file_errors_total{reason=\"unreadable\"}"), 1.0);
  EXPECT_EQ(metric(d.port, "d4_pibs_frames_total"), 600.0);
  redis.stop();
  EXPECT_TRUE(health_becomes(d.port, 503));
  d.process.stop();
}

TEST_F(AnalyzerMetricsTest, TlsFingerprintCountsSessionsPerQueuedCapture) {
  auto d = start_healthy("d4-tls-fingerprint", {"-u", "tq", "--analyzer-redis", redis.endpoint(2)}, "fp");
  const std::string q = "{analyzer=\"d4-tls-fingerprint\",queue=\"analyzer:1:tq\"}";
  redis.cli({"LPUSH", "analyzer:1:tq", vector_path("tls.pcap")}, 2);
  redis.cli({"LPUSH", "analyzer:1:tq", (dir / "missing.pcap").string()}, 2);
  // An element is counted once its batch is handled, after the analyzer published its counters.
  ASSERT_TRUE(eventually([&] { return metric(d.port, "d4_analyzer_elements_total" + q) == 2.0; }, 20s, 100ms))
      << scrape(d.port);
  // An unreadable file counts as read, with its error.
  EXPECT_EQ(metric(d.port, "d4_tls_fingerprint_capture_files_total"), 2.0);
  // tls.pcap: five complete handshakes; sessions end with their flows (FIN) in the capture.
  EXPECT_EQ(metric(d.port, "d4_tls_fingerprint_sessions_total"), 5.0) << scrape(d.port);
  EXPECT_EQ(metric(d.port, "d4_tls_fingerprint_capture_file_errors_total{reason=\"unreadable\"}"), 1.0);
  EXPECT_EQ(metric(d.port, "d4_tls_fingerprint_errors_total{reason=\"malformed_hello\"}"), 0.0);
  redis.stop();
  EXPECT_TRUE(health_becomes(d.port, 503));
  d.process.stop();
}

TEST(AnalyzerCounts, TheRejectsSinceTheLastReadAreAddedByReason) {
  d4::analyzers::CountsByReason total{{"bad_json", 2}};
  const d4::analyzers::CountsByReason before{{"bad_json", 5}, {"field_count", 1}};
  const d4::analyzers::CountsByReason now{{"bad_json", 7}, {"field_count", 1}, {"too_long", 3}};
  d4::analyzers::add_counts_since(total, now, before);
  EXPECT_EQ(total, (d4::analyzers::CountsByReason{{"bad_json", 4}, {"field_count", 0}, {"too_long", 3}}));
}

}  // namespace
