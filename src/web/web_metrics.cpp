#include "web/web_metrics.hpp"

#include <mutex>

#include "core/http_metrics.hpp"
#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "web/auth/sessions.hpp"

namespace d4::web {
namespace {

using core::metrics::Exposition;

core::RedisClient::Options web_metrics_timeouts() {
  return core::RedisClient::Options{std::chrono::milliseconds(1000), std::chrono::milliseconds(2000)};
}

void collect_web_counters(Exposition& e, const WebCounters& c) {
  e.counter("d4_web_login_failures_total", "Wrong passwords (login, password change)", {},
            static_cast<double>(c.login_failures.load()));
  e.counter("d4_web_login_throttled_total", "Login attempts refused during a throttling delay", {},
            static_cast<double>(c.login_delayed.load()));
  e.counter("d4_web_password_checks_busy_total",
            "Logins refused because max_concurrent_password_checks were running", {},
            static_cast<double>(c.password_checks_busy.load()));
  const char* reg =
      "Sensor registrations refused, by reason (pending_total, pending_organisation: the "
      "budgets of pending self-service registrations; other: over-long fields, the reference "
      "endpoint's pending limit)";
  const auto total = static_cast<double>(c.registrations_refused_total_budget.load());
  const auto org = static_cast<double>(c.registrations_refused_org_budget.load());
  e.counter("d4_web_registrations_refused_total", reg, {{"reason", "pending_total"}}, total);
  e.counter("d4_web_registrations_refused_total", reg, {{"reason", "pending_organisation"}}, org);
  e.counter("d4_web_registrations_refused_total", reg, {{"reason", "other"}},
            static_cast<double>(c.registrations_refused.load()) - total - org);
  e.counter("d4_web_redis_errors_total", "Requests answered 503 because a Redis call failed", {},
            static_cast<double>(c.redis_errors.load()));
}

void collect_server_stats(Exposition& e, const core::http::ServerStats& st) {
  e.gauge("d4_web_http_open_connections", "Open HTTP connections", {},
          static_cast<double>(st.open_connections));
  const char* help = "HTTP connections refused by the connection budgets, by reason";
  e.counter("d4_web_http_refused_connections_total", help, {{"reason", "max_connections"}},
            static_cast<double>(st.refused_max_connections));
  e.counter("d4_web_http_refused_connections_total", help, {{"reason", "per_ip"}},
            static_cast<double>(st.refused_per_ip));
}

// One client per Redis endpoint, used by the endpoint's single handler thread (scrapes and
// health checks may still overlap: a mutex each).
struct WebRedisProbe {
  explicit WebRedisProbe(const core::RedisEndpoint& ep) : client(ep, web_metrics_timeouts()) {}
  bool ping() {
    std::lock_guard lock(mu);
    try {
      return !client.command({"PING"}).is_error();
    } catch (const core::RedisError&) {
      client.disconnect();
      return false;
    }
  }
  std::mutex mu;
  core::RedisClient client;
};

}  // namespace

WebMetrics::WebMetrics(const WebConfig& cfg, const WebCounters& counters) : cfg_(cfg), counters_(counters) {}

void WebMetrics::instrument(core::http::Router& router) {
  core::http::instrument(router, registry_, "d4_web");
}

std::unique_ptr<core::metrics::Endpoint> WebMetrics::serve(
    const std::string& listen, std::function<core::http::ServerStats()> server_stats) {
  core::metrics::add_process_metrics(registry_, "d4-web", D4_VERSION);
  registry_.add_collector([this](Exposition& e) { collect_web_counters(e, counters_); });
  registry_.add_collector(
      [stats = std::move(server_stats)](Exposition& e) { collect_server_stats(e, stats()); });
  auto cache = std::make_shared<WebRedisProbe>(cfg_.common.redis.cache);
  auto users = std::make_shared<WebRedisProbe>(cfg_.common.redis.users);
  const auto ttl = cfg_.session_ttl;
  const std::string cache_prefix(
      core::keys::database_prefix(cfg_.common.redis.layout, core::keys::Database::Cache));
  registry_.add_collector([cache, ttl, cache_prefix](Exposition& e) {
    std::lock_guard lock(cache->mu);
    SessionStore sessions(cache->client, ttl, cache_prefix);
    e.gauge("d4_web_sessions", "Browser sessions alive", {}, static_cast<double>(sessions.count_live()));
  });
  return std::make_unique<core::metrics::Endpoint>(
      registry_,
      [cache, users] {
        core::metrics::Health h;
        bool users_ok = users->ping(), cache_ok = cache->ping();
        h.healthy = users_ok && cache_ok;
        h.detail = {{"redis_users", users_ok}, {"redis_cache", cache_ok}};
        return h;
      },
      listen);
}

}  // namespace d4::web
