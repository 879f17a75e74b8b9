#pragma once
// d4-web's Prometheus /metrics and /health (docs/metrics.md, "d4-web"), on the shared
// implementation (core/metrics.hpp): requests by route group and status class with a latency
// histogram (core/http_metrics.hpp), the web tier's login refusals and Redis errors, live
// sessions (read from Redis at each scrape), the HTTP server's connection budget. Health: the
// users and cache Redis answer PING.
#include <functional>
#include <memory>
#include <string>

#include "core/http_server.hpp"
#include "core/metrics.hpp"
#include "web/counters.hpp"
#include "web/web_config.hpp"

namespace d4::web {

class WebMetrics {
 public:
  // `counters` must outlive this object.
  WebMetrics(const WebConfig& cfg, const WebCounters& counters);

  // Counts `router`'s requests (this object must outlive the router's server).
  void instrument(core::http::Router& router);
  // Serves /metrics and /health on `listen`; `server_stats` reads the web server's budgets. The
  // endpoint must be destroyed before that server: keep it in a variable declared after it.
  std::unique_ptr<core::metrics::Endpoint> serve(const std::string& listen,
                                                 std::function<core::http::ServerStats()> server_stats);

 private:
  WebConfig cfg_;
  const WebCounters& counters_;
  core::metrics::Registry registry_;
};

}  // namespace d4::web
