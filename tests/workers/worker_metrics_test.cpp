// d4-worker's /metrics and /health: its counters per type and the analyzer queues it feeds, read
// by scraping the real process.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/bytes.hpp"
#include "support/http.hpp"
#include "support/text.hpp"
#include "workers/worker_fixture.hpp"

namespace d4::test {
namespace {

using namespace std::chrono_literals;

TEST_F(WorkerTest, MetricsCountProcessedEntriesAndQueueItemsAndQueueLengthsFollowRedis) {
  std::string q = create_queue("8");
  auto payloads = payloads_of_d4_file(vector_path("c-client-type8-passivedns.d4"));
  add_packets(8, "33333333-0000-4000-8000-000000000001", payloads);
  end_session("33333333-0000-4000-8000-000000000001");
  auto w = start_worker("metrics_listen = \"127.0.0.1:0\"\n", {"--types", "8"});
  int port = wait_for_listening(dir / ("worker-" + std::to_string(config_counter_) + ".log"),
                                "metrics and health, HTTP", w, 60s);
  ASSERT_TRUE(wait_cleaned(8, "33333333-0000-4000-8000-000000000001"));
  auto lines = lines_of(as_string(read_file(vector_path("dns.passivedns.csv"))));
  const std::string ql = "{queue=\"" + q + "\",type=\"8\"}";
  ASSERT_TRUE(
      eventually([&] { return metric(port, "d4_queue_length" + ql) == double(lines.size()); }, 10s, 100ms))
      << http_get(port, "/metrics").value_or(HttpResponse{}).body;
  EXPECT_EQ(metric(port, "d4_worker_stream_entries_total{type=\"8\"}"), double(payloads.size()));
  EXPECT_EQ(metric(port, "d4_worker_queue_items_total{type=\"8\"}"), double(lines.size()));
  // Counted just after the session's lease is released (the last thing wait_cleaned saw).
  EXPECT_TRUE(eventually([&] { return metric(port, "d4_worker_sessions_finished_total{type=\"8\"}") == 1.0; },
                         10s, 50ms));
  EXPECT_EQ(metric(port, "d4_queue_pushed_total" + ql), double(lines.size()));
  EXPECT_NE(
      http_get(port, "/metrics").value_or(HttpResponse{}).body.find("d4_build_info{component=\"d4-worker\""),
      std::string::npos);

  // A consumer takes 10 elements: the length follows Redis at the next scrape.
  for (int i = 0; i < 10; ++i) analyzer.command({"RPOP", "analyzer:8:" + q});
  EXPECT_EQ(metric(port, "d4_queue_length" + ql), double(lines.size() - 10));

  ASSERT_TRUE(eventually(
      [&] {
        auto h = http_get(port, "/health");
        return h && h->status == 200;
      },
      10s, 100ms));
  // Redis gone: statistics can no longer be published and health turns degraded.
  meta_redis.stop();
  ASSERT_TRUE(eventually(
      [&] {
        auto h = http_get(port, "/health");
        return h && h->status == 503;
      },
      30s, 250ms));
  auto h = http_get(port, "/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(nlohmann::json::parse(h->body)["status"], "degraded");
  EXPECT_TRUE(metric(port, "d4_metrics_collector_errors_total").value_or(0) >= 1.0);
  w.stop();
}

}  // namespace
}  // namespace d4::test
