// The route wrappers: authentication, role, CSRF and error mapping around every handler.
#include "web/routing/routes.hpp"

#include <spdlog/spdlog.h>

#include <optional>

#include "queues/queue_store.hpp"
#include "web/auth/scope.hpp"
#include "web/html.hpp"
#include "web/request.hpp"
#include "web/routing/forms.hpp"

namespace d4::web {

namespace {
bool state_changing(const std::string& m) {
  return m != "GET" && m != "HEAD" && m != "OPTIONS";
}

bool csrf_ok(const http::Request& req, const Identity& id) {
  std::string sent = req.header("X-CSRF-Token");
  if (sent.empty() && is_form(req)) {
    auto f = req.form();
    if (auto it = f.find("csrf_token"); it != f.end()) sent = it->second;
  }
  return !sent.empty() && constant_time_equal(sent, id.csrf);
}

// A plain form post (no JavaScript) gets a redirect back with a message instead of JSON.
http::Response form_reply(const http::Request& req, int status, const std::string& message) {
  auto f = req.form();
  std::string next = safe_redirect_target(f.count("next") ? f["next"] : "/");
  next += next.find('?') == std::string::npos ? "?" : "&";
  next += (status < 400 ? "flash=" : "error=") + http::url_encode(message);
  return http::Response::redirect(next);
}

// The JSON error answering an API request that `auth` does not allow on a route of `role`, if any.
std::optional<http::Response> api_refusal(const Authentication& auth, const http::Request& req, Role role,
                                          const std::string& pattern,
                                          std::atomic<std::uint64_t>& redis_errors) {
  if (auth.unavailable) {
    ++redis_errors;
    return http::Response::error(503, "service unavailable (database)");
  }
  const auto& id = auth.id;
  if (!id) return http::Response::error(auth.status, auth.error);
  if (!role_allows(id->role, role)) return http::Response::error(403, "Access Forbidden");
  if (id->via_session && id->must_change_password && pattern != "/api/v1/me/password")
    return http::Response::error(403, "Password change required");
  if (id->via_session && state_changing(req.method) && !csrf_ok(req, *id))
    return http::Response::error(403, "CSRF token missing or invalid");
  return std::nullopt;
}

// ApiError 404 when the request names (path {uuid}, or the form field of a plain form posted to
// the literal "{uuid}" path) a sensor outside the user's scope. An invalid UUID is left to the
// handler (400 "Invalid uuid" whoever owns what).
void check_sensor_scope(Db& d, http::Request& req, const Identity& id) {
  auto it = req.params.find("uuid");
  if (it == req.params.end()) return;
  std::string text = it->second;
  if (text == "{uuid}") text = Input(req).str("uuid");
  auto uuid = core::normalize_sensor_uuid(text);
  if (uuid) Scope::of(d, id).require_sensor(d, *uuid);
}
}  // namespace

void Routes::api(const std::string& method, const std::string& pattern, Role role, ApiHandler h) {
  // The handler outlives this object (the router is returned by value): it holds the authenticator.
  router_.add(method, pattern,
              [&a = auth_, &redis_errors = redis_errors_, db = db_, role, h = std::move(h),
               pattern](http::Request& req) -> http::Response {
                auto auth = a.authenticate(req);
                if (auto refusal = api_refusal(auth, req, role, pattern, redis_errors)) return *refusal;
                auto& id = auth.id;
                const bool form = is_form(req);
                // A plain form post gets a redirect back with the message, anything else a JSON error.
                auto fail = [&](int status, const std::string& reason) {
                  return form ? form_reply(req, status, reason) : http::Response::error(status, reason);
                };
                try {
                  check_sensor_scope(db(), req, *id);
                  json result = h(req, *id);
                  if (form) return form_reply(req, 200, result.value("message", std::string("done")));
                  return http::Response::json(200, result);
                } catch (const ApiError& e) {
                  return fail(e.status, e.what());
                } catch (const queues::QueueError& e) {
                  return fail(400, e.what());
                } catch (const std::invalid_argument& e) {
                  return fail(400, e.what());
                } catch (const core::RedisError& e) {
                  ++redis_errors;
                  spdlog::error("{} {}: redis: {}", req.method, req.path, e.what());
                  return http::Response::error(503, "service unavailable (database)");
                }
              });
}

void Routes::file(const std::string& pattern, Role role, PageHandler h) {
  router_.get(pattern,
              [&a = auth_, &redis_errors = redis_errors_, role, h = std::move(h),
               pattern](http::Request& req) -> http::Response {
                auto auth = a.authenticate(req);
                if (auto refusal = api_refusal(auth, req, role, pattern, redis_errors)) return *refusal;
                try {
                  return h(req, *auth.id);
                } catch (const ApiError& e) {
                  return http::Response::error(e.status, e.what());
                } catch (const core::RedisError& e) {
                  ++redis_errors;
                  return http::Response::error(503, "service unavailable (database)");
                }
              });
}

void Routes::page(const std::string& pattern, Role role, PageHandler h) {
  router_.get(pattern,
              [&a = auth_, &redis_errors = redis_errors_, db = db_, role, h = std::move(h),
               pattern](http::Request& req) -> http::Response {
                // Pages authenticate with the session cookie only.
                req.headers.erase("Authorization");
                auto auth = a.authenticate(req);
                if (auth.unavailable) {
                  ++redis_errors;
                  return html::error_page(503, "The database is not reachable: " + auth.error);
                }
                auto& id = auth.id;
                if (!id) return http::Response::redirect("/login?next=" + http::url_encode(req.target));
                if (id->must_change_password && pattern != "/change_password")
                  return http::Response::redirect("/change_password");
                if (!role_allows(id->role, role))
                  return html::error_page(403, "Your role does not allow this page.", &*id);
                try {
                  id->whole_server = Scope::of(db(), *id).unrestricted();
                  check_sensor_scope(db(), req, *id);
                  return h(req, *id);
                } catch (const ApiError& e) {
                  return html::error_page(e.status, e.what(), &*id);
                } catch (const core::RedisError& e) {
                  ++redis_errors;
                  return html::error_page(503, "The database is not reachable: " + std::string(e.what()),
                                          &*id);
                }
              });
}

}  // namespace d4::web
