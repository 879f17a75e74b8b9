#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "core/http_metrics.hpp"
#include "core/listen_address.hpp"
#include "core/metrics.hpp"
#include "support/http.hpp"

using namespace d4::core::metrics;
using d4::test::http_get;
using d4::test::metric;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsRegistry, FamiliesAreDeclaredOnceWithTheirSamplesAndLabelValuesEscaped) {
  Registry r;
  r.counter("d4_test_items_total", "Items", {{"type", "1"}}) += 3;
  r.counter("d4_test_items_total", "Items", {{"type", "a\"b\\c\nd"}}) += 1;
  r.gauge("d4_test_depth", "Depth") = -2;
  std::string t = r.render();
  EXPECT_TRUE(has_line(t, "# HELP d4_test_items_total Items")) << t;
  EXPECT_TRUE(has_line(t, "# TYPE d4_test_items_total counter")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_items_total{type=\"1\"} 3")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_items_total{type=\"a\\\"b\\\\c\\nd\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "# TYPE d4_test_depth gauge")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_depth -2")) << t;
  std::size_t first = t.find("# TYPE d4_test_items_total");
  EXPECT_EQ(t.find("# TYPE d4_test_items_total", first + 1), std::string::npos) << t;
}

TEST(MetricsRegistry, HistogramsAreCumulativeWithSumAndCountAndDeclaredFamiliesServeNoSample) {
  Registry r;
  auto& h = r.histogram("d4_test_duration_seconds", "Duration", {{"route", "/a"}});
  h.observe(std::chrono::microseconds(50));  // first bucket (0.1 ms)
  h.observe(std::chrono::milliseconds(3));   // 5 ms bucket
  h.observe(std::chrono::seconds(20));       // +Inf only
  r.declare("d4_test_later_total", "counter", "Later");
  std::string t = r.render();
  EXPECT_TRUE(has_line(t, "# TYPE d4_test_duration_seconds histogram")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_duration_seconds_bucket{route=\"/a\",le=\"0.0001\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_duration_seconds_bucket{route=\"/a\",le=\"0.0025\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_duration_seconds_bucket{route=\"/a\",le=\"0.005\"} 2")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_duration_seconds_bucket{route=\"/a\",le=\"10\"} 2")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_duration_seconds_count{route=\"/a\"} 3")) << t;
  EXPECT_NE(t.find("d4_test_duration_seconds_sum{route=\"/a\"} 20.003"), std::string::npos) << t;
  EXPECT_TRUE(has_line(t, "# TYPE d4_test_later_total counter")) << t;
  EXPECT_EQ(("\n" + t).find("\nd4_test_later_total "), std::string::npos) << t;  // no sample
}

TEST(HttpMetrics, RouteGroupsComeFromPatternsAndStatusesFromTheirClass) {
  using d4::core::http::route_group;
  using d4::core::http::status_class;
  EXPECT_EQ(route_group("/api/v1/sensors/{uuid}"), "/api/v1/sensors");
  EXPECT_EQ(route_group("/api/v1/sensors/{uuid}/tags"), "/api/v1/sensors");
  EXPECT_EQ(route_group("/api/v1/users/me/password"), "/api/v1/users");
  EXPECT_EQ(route_group("/static/*"), "/static");
  EXPECT_EQ(route_group("/query/{q}"), "/query");
  EXPECT_EQ(route_group("/"), "/");
  EXPECT_EQ(route_group("/{id}"), "/");
  EXPECT_EQ(route_group(""), "unmatched");
  EXPECT_EQ(status_class(200), "2xx");
  EXPECT_EQ(status_class(404), "4xx");
  EXPECT_EQ(status_class(503), "5xx");
  EXPECT_EQ(status_class(99), "other");
}

TEST(HttpMetrics, EveryDispatchIsCountedUnderItsRouteEvenWhenTheMiddlewareAnswers) {
  Registry registry;
  d4::core::http::Router router;
  router.get("/items/{id}",
             [](d4::core::http::Request&) { return d4::core::http::Response::text(200, "x"); });
  router.set_middleware([](d4::core::http::Request& req) -> std::optional<d4::core::http::Response> {
    if (req.header("Authorization").empty()) return d4::core::http::Response::error(401, "no");
    return std::nullopt;
  });
  d4::core::http::instrument(router, registry, "d4_test");
  auto request = [&](std::string path, bool auth) {
    d4::core::http::Request req;
    req.method = "GET";
    req.path = std::move(path);
    if (auth) req.headers["Authorization"] = "Bearer t";
    return router.dispatch(req).status;
  };
  EXPECT_EQ(request("/items/1", true), 200);
  EXPECT_EQ(request("/items/2", true), 200);
  EXPECT_EQ(request("/items/3", false), 401);
  EXPECT_EQ(request("/elsewhere", true), 404);
  std::string t = registry.render();
  EXPECT_TRUE(has_line(t, "d4_test_http_requests_total{route=\"/items\",status_class=\"2xx\"} 2")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_http_requests_total{route=\"/items\",status_class=\"4xx\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_http_requests_total{route=\"unmatched\",status_class=\"4xx\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "d4_test_http_request_duration_seconds_count{route=\"/items\"} 3")) << t;
}

TEST(MetricsRegistry, SameNameAndLabelsGiveTheSameValueAndAnotherTypeIsRefused) {
  Registry r;
  auto& a = r.counter("d4_test_total", "x", {{"k", "v"}});
  auto& b = r.counter("d4_test_total", "x", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &r.counter("d4_test_total", "x", {{"k", "w"}}));
  EXPECT_THROW(r.gauge("d4_test_total", "x"), std::logic_error);
}

TEST(MetricsRegistry, CollectorsRunAtScrapeTimeAndTheirFailuresAreCounted) {
  Registry r;
  int calls = 0;
  r.add_collector([&](Exposition& e) {
    e.gauge("d4_test_queue_length", "Length", {{"queue", "q"}}, ++calls);
  });
  r.add_collector([](Exposition&) { throw std::runtime_error("redis down"); });
  EXPECT_TRUE(has_line(r.render(), "d4_test_queue_length{queue=\"q\"} 1"));
  std::string t = r.render();
  EXPECT_TRUE(has_line(t, "d4_test_queue_length{queue=\"q\"} 2")) << t;
  EXPECT_TRUE(has_line(t, "d4_metrics_collector_errors_total 2")) << t;
}

TEST(MetricsRegistry, ProcessMetricsDescribeThisProcess) {
  Registry r;
  add_process_metrics(r, "d4-test", "1.2.3");
  std::string t = r.render();
  EXPECT_TRUE(has_line(t, "d4_build_info{component=\"d4-test\",version=\"1.2.3\"} 1")) << t;
  auto value = [&](const std::string& name) {
    auto p = t.find("\n" + name + " ");
    EXPECT_NE(p, std::string::npos) << name << "\n" << t;
    return p == std::string::npos ? -1.0 : std::stod(t.substr(p + name.size() + 2));
  };
  EXPECT_GT(value("process_resident_memory_bytes"), 1e6);
  EXPECT_GT(value("process_open_fds"), 2);
  EXPECT_GE(value("process_cpu_seconds_total"), 0);
  double start = value("process_start_time_seconds");
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);
}

TEST(MetricsEndpoint, ServesMetricsAndHealthOnAPortTheKernelChose) {
  Registry r;
  auto& c = r.counter("d4_test_events_total", "Events");
  std::atomic<bool> healthy{true};
  Endpoint ep(
      r,
      [&] {
        return Health{healthy.load(), {{"redis", healthy.load()}}};
      },
      "127.0.0.1:0");
  ASSERT_NE(ep.port(), 0);
  c += 5;
  EXPECT_EQ(metric(ep.port(), "d4_test_events_total"), 5.0);
  auto h = http_get(ep.port(), "/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(nlohmann::json::parse(h->body)["status"], "ok");
  healthy = false;
  h = http_get(ep.port(), "/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  auto j = nlohmann::json::parse(h->body);
  EXPECT_EQ(j["status"], "degraded");
  EXPECT_EQ(j["redis"], false);
}

TEST(ListenAddress, ParsesHostPortBracketedV6AndAllInterfacesAndRefusesTheRest) {
  using d4::core::parse_listen_address;
  auto a = parse_listen_address("127.0.0.1:9100");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9100);
  auto b = parse_listen_address("[::1]:0");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.to_string(), "[::1]:0");
  EXPECT_EQ(parse_listen_address(":4443").host, "::");
  EXPECT_THROW(parse_listen_address("::1:80"), d4::core::ConfigError);
  EXPECT_THROW(parse_listen_address("localhost"), d4::core::ConfigError);
  EXPECT_THROW(parse_listen_address("127.0.0.1:70000"), d4::core::ConfigError);
}

}  // namespace
