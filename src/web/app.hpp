#pragma once
// d4-web: the operators' web interface and REST API, served by d4::core::http::Server.
//
// WebApp is the composition root; the units it holds live in their own folders
// (docs/architecture-web.md):
//   auth/     authentication: who sends a request (API token or session cookie), sessions,
//             users and tokens, login throttling, the login and password-change routes
//   routing/  the route wrappers (authenticate, role, CSRF, error mapping), the registration
//             table of API resources (api/) and pages (pages/), the router's middleware
//   models/   read models: one per resource, each filling the typed views that its page renders
//             and its API resource serialises
//   db.hpp    the Redis connections of a handler thread
// Every route is declared with the least role it needs; handlers run on the HTTP server's
// worker pool.
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/http_server.hpp"
#include "web/auth/authenticator.hpp"
#include "web/auth/scope.hpp"
#include "web/counters.hpp"
#include "web/db.hpp"
#include "web/request.hpp"
#include "web/web_config.hpp"

namespace d4::web {

class WebApp {
 public:
  explicit WebApp(WebConfig config);

  // Creates the roles and, on first run, the admin account (see docs/web.md).
  void first_run() { auth_.first_run(); }
  http::Router build_router();

  const WebConfig& config() const { return cfg_; }
  Db& db() { return connections_.this_thread(); }
  Authenticator& auth() { return auth_; }
  WebCounters& counters() { return counters_; }
  // The HTTP server's own refusal counters, shown with the web tier's.
  void set_server_stats(std::function<http::ServerStats()> f) { server_stats_ = std::move(f); }
  // The web tier's budget refusals (WebCounters) and the HTTP server's (/api/v1/health).
  std::map<std::string, std::uint64_t> budget_counters() const;

 private:
  WebConfig cfg_;
  WebCounters counters_;
  Connections connections_;
  Authenticator auth_;
  std::function<http::ServerStats()> server_stats_;
};

}  // namespace d4::web
