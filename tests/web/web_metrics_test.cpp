// d4-web's /metrics and /health, scraped from the real process: requests by route group and
// status class, latency, login failures, live sessions and Redis errors move by what the test
// does, and health turns degraded when Redis stops.
#include <gtest/gtest.h>

#include "support/http.hpp"
#include "web/web_instance.hpp"

namespace {

using namespace std::chrono_literals;
using d4::test::eventually;
using d4::test::metric;
using d4::webtest::kAdmin;
using d4::webtest::kFirstPassword;
using d4::webtest::WebInstance;
using d4::webtest::WebOptions;

TEST(WebMetrics, RequestsLoginFailuresSessionsRedisErrorsAndHealth) {
  WebOptions o;
  o.admin_password = kFirstPassword;
  o.extra_web_config = "metrics_listen = \"127.0.0.1:0\"\n";
  WebInstance web(o);
  int m = d4::test::wait_for_listening(web.log_path(), "metrics and health, HTTP", web.process(), 60s);
  ASSERT_EQ(d4::test::http_get(m, "/health")->status, 200);
  auto body = d4::test::http_get(m, "/metrics")->body;
  EXPECT_NE(body.find("d4_build_info{component=\"d4-web\""), std::string::npos) << body;
  EXPECT_EQ(metric(m, "d4_web_sessions"), 0.0);
  EXPECT_EQ(metric(m, "d4_web_login_failures_total"), 0.0);

  auto static_ok = [&] {
    return metric(m, "d4_web_http_requests_total{route=\"/static\",status_class=\"2xx\"}").value_or(0);
  };
  auto unmatched = [&] {
    return metric(m, "d4_web_http_requests_total{route=\"unmatched\",status_class=\"4xx\"}").value_or(0);
  };
  double static_before = static_ok(), unmatched_before = unmatched();
  auto c = web.client();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.get("/static/style.css").status, 200);
  EXPECT_EQ(c.get("/no/such/page").status, 404);
  EXPECT_EQ(static_ok(), static_before + 3);
  EXPECT_EQ(unmatched(), unmatched_before + 1);
  EXPECT_GE(metric(m, "d4_web_http_request_duration_seconds_count{route=\"/static\"}").value_or(0), 3.0);

  // Two wrong passwords, then a good one: two failures and one live session.
  // A refused login is sent back to the form.
  EXPECT_EQ(c.login(kAdmin, "wrong-password-1").header("Location").rfind("/login", 0), 0u);
  auto other = web.client();
  EXPECT_EQ(other.login(kAdmin, "wrong-password-2").header("Location").rfind("/login", 0), 0u);
  EXPECT_EQ(metric(m, "d4_web_login_failures_total"), 2.0);
  auto admin = web.client();
  // Throttling delays the next attempt from this source: wait it out (at most a few seconds).
  ASSERT_TRUE(eventually(
      [&] { return admin.login(kAdmin, kFirstPassword).header("Location").rfind("/login", 0) != 0; }, 20s,
      500ms));
  EXPECT_EQ(metric(m, "d4_web_sessions"), 1.0);
  EXPECT_EQ(metric(m, "d4_web_redis_errors_total"), 0.0);

  // Redis gone: pages answer 503 (counted) and health is degraded.
  web.redis().stop();
  EXPECT_EQ(admin.get("/").status, 503);
  EXPECT_GE(metric(m, "d4_web_redis_errors_total").value_or(0), 1.0);
  ASSERT_TRUE(eventually([&] { return d4::test::http_get(m, "/health")->status == 503; }, 20s, 200ms));
  auto h = nlohmann::json::parse(d4::test::http_get(m, "/health")->body);
  EXPECT_EQ(h["status"], "degraded");
  EXPECT_EQ(h["redis_users"], false);
  web.redis().start();
  EXPECT_TRUE(eventually([&] { return d4::test::http_get(m, "/health")->status == 200; }, 20s, 200ms));
}

}  // namespace
