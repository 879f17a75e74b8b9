#pragma once
// Routing: the route wrappers that every API resource and page is registered through, and the
// registration table (route_table.cpp).
//
// A request goes: HTTP server -> router middleware (client address behind a trusted proxy,
// `_method` of plain forms; router.cpp) -> the route's wrapper (api() or page(): authenticate,
// role, CSRF for session state changes, error mapping) -> the handler in its file.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/http_server.hpp"
#include "web/auth/authenticator.hpp"

namespace d4::web {

class WebApp;
using json = nlohmann::json;

class Routes {
 public:
  using ApiHandler = std::function<json(http::Request&, const Identity&)>;
  using PageHandler = std::function<http::Response(http::Request&, const Identity&)>;

  // `redis_errors` counts the requests answered 503 because Redis failed (metrics); `db` gives
  // the handler thread's databases (the organisation check of sensor routes).
  Routes(http::Router& router, Authenticator& auth, std::atomic<std::uint64_t>& redis_errors,
         std::function<Db&()> db)
      : router_(router), auth_(auth), redis_errors_(redis_errors), db_(std::move(db)) {}

  // Every route with a {uuid} (a sensor) first checks that the sensor is in the user's scope
  // (auth/scope.hpp): another organisation's sensor answers 404 like an unknown one.
  // A JSON API route: token or session (session state changes need the CSRF token); ApiError,
  // QueueError and std::invalid_argument become JSON errors (or, for a plain form post, a
  // redirect back with the message), a Redis failure a 503.
  void api(const std::string& method, const std::string& pattern, Role role, ApiHandler h);
  // A GET answered with the handler's own response (a file), authenticated like api() (token or
  // session); errors are JSON.
  void file(const std::string& pattern, Role role, PageHandler h);
  // An HTML page: session only (else the login form); errors become error pages.
  void page(const std::string& pattern, Role role, PageHandler h);
  // For routes that need no wrapper (the login form).
  http::Router& router() { return router_; }

 private:
  http::Router& router_;
  Authenticator& auth_;
  std::atomic<std::uint64_t>& redis_errors_;
  std::function<Db&()> db_;
};

// Registers every API resource and page (route_table.cpp: one line each).
void add_routes(WebApp& app, Routes& routes);

// The router of d4-web: middleware, security headers, static assets, then every route
// (router.cpp).
http::Router build_router(WebApp& app);

}  // namespace d4::web
