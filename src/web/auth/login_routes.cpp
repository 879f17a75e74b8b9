// The login form, login, logout and the password-change form: the routes of the authentication
// unit (they set and clear the session cookie).
#include <spdlog/spdlog.h>

#include "core/log_fields.hpp"
#include "web/auth/authenticator.hpp"
#include "web/html.hpp"
#include "web/request.hpp"
#include "web/routing/routes.hpp"

namespace d4::web {

namespace {
constexpr const char* kBusyMessage =
    "The server is busy checking other passwords; please try again in a moment.";

std::string query_value(const http::Request& req, const std::string& k) {
  auto it = req.query.find(k);
  return it == req.query.end() ? "" : it->second;
}
}  // namespace

// The login form with a fresh double-submit token (cookie + field).
http::Response Authenticator::login_form(const std::string& next, const std::string& error,
                                         int status) const {
  std::string csrf = random_token(32);
  auto resp = html::login_page(next, csrf, error);
  resp.status = status;
  std::string c = "d4_login=" + csrf + "; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600";
  if (cfg_.https()) c += "; Secure";
  return resp.with_header("Set-Cookie", c);
}

http::Response Authenticator::login(http::Request& req) {
  auto f = req.form();
  std::string user = f["username"], password = f["password"];
  std::string next = safe_redirect_target(f["next"]);
  auto fail = [&](const std::string& why) {
    return http::Response::redirect("/login?next=" + http::url_encode(next) +
                                    "&error=" + http::url_encode(why));
  };
  // Login CSRF: the form's token must match the cookie set with the form (double submit).
  auto cookie = req.cookie("d4_login");
  if (!cookie || f["csrf_token"].empty() || !constant_time_equal(*cookie, f["csrf_token"]))
    return fail("The login form expired; please try again.");
  using O = PasswordVerdict::Outcome;
  auto verdict = check_password(user, password, req.remote_ip);
  auto login_fields = [&](std::string_view reason) {
    return core::LogFields()
        .add(core::log_key::kUser, user)
        .add(core::log_key::kSource, req.remote_ip)
        .add(core::log_key::kReason, reason);
  };
  if (verdict.outcome == O::Delayed) {
    core::log_with(login_fields("throttled"), spdlog::level::info,
                   "web login for \"{}\" from {} delayed {} s", user, req.remote_ip, verdict.wait_seconds);
    return fail("Too many failed logins; please wait " + std::to_string(verdict.wait_seconds) + " s.");
  }
  // Too many password checks at once: 503 with the form again, so the user can simply retry.
  if (verdict.outcome == O::Busy) return login_form(next, kBusyMessage, 503).with_header("Retry-After", "1");
  if (verdict.outcome == O::Wrong) {
    core::log_with(login_fields("wrong_password"), spdlog::level::info, "failed web login for \"{}\" from {}",
                   user, req.remote_ip);
    return fail("Wrong user name or password.");
  }
  auto& d = connections_.this_thread();
  auto info = d.user_store.get(user);
  // Like the reference, a sensor-registration account may use the API but not the interface.
  if (!info || !role_allows(info->role, Role::User)) return fail("This account may only use the API.");
  auto s = sessions(d).create(user);
  core::log_with(login_fields("signed_in"), spdlog::level::info, "web login: {} from {}", user,
                 req.remote_ip);
  auto resp = http::Response::redirect(info->must_change_password ? "/change_password" : next);
  resp.with_header("Set-Cookie", session_cookie(s.id, cfg_.session_ttl));
  resp.with_header("Set-Cookie", "d4_login=; Path=/login; Max-Age=0");
  return resp;
}

http::Response Authenticator::change_password(http::Request& req) {
  auto auth = authenticate(req);
  if (auth.unavailable) return html::error_page(503, "The database is not reachable: " + auth.error);
  auto& id = auth.id;
  if (!id || !id->via_session) return http::Response::redirect("/login");
  auto f = req.form();
  if (!constant_time_equal(f["csrf_token"], id->csrf))
    return html::error_page(403, "CSRF token missing or invalid.");
  auto back = [](const std::string& why) {
    return http::Response::redirect("/change_password?error=" + http::url_encode(why));
  };
  using O = PasswordVerdict::Outcome;
  auto verdict = check_password(id->user, f["current_password"], req.remote_ip);
  if (verdict.outcome == O::Busy)
    return html::error_page(503, kBusyMessage, &*id).with_header("Retry-After", "1");
  if (verdict.outcome == O::Delayed)
    return back("Too many wrong passwords; please wait " + std::to_string(verdict.wait_seconds) + " s.");
  if (verdict.outcome == O::Wrong) return back("The current password is wrong.");
  if (f["password1"] != f["password2"]) return back("The two new passwords differ.");
  if (auto why = password_policy_violation(f["password1"])) return back(*why);
  if (f["password1"] == f["current_password"])
    return back("The new password must differ from the current one.");
  // Every other session of this user ends; this browser gets a fresh one.
  set_password(id->user, f["password1"], false);
  auto s = sessions(connections_.this_thread()).create(id->user);
  auto resp = http::Response::redirect("/?flash=" + http::url_encode("Password changed."));
  return resp.with_header("Set-Cookie", session_cookie(s.id, cfg_.session_ttl));
}

void Authenticator::add_routes(Routes& routes) {
  auto& r = routes.router();
  r.get("/login", [this](http::Request& req) {
    auto next = safe_redirect_target(req.query.count("next") ? req.query["next"] : "/");
    return login_form(next, query_value(req, "error"), 200);
  });
  r.post("/login", [this](http::Request& req) { return login(req); });
  r.post("/logout", [this](http::Request& req) {
    if (auto cookie = req.cookie("d4_session")) {
      auto store = sessions(connections_.this_thread());
      if (auto s = store.find(*cookie)) {
        auto f = req.form();
        if (!constant_time_equal(f["csrf_token"], s->csrf) &&
            !constant_time_equal(req.header("X-CSRF-Token"), s->csrf))
          return html::error_page(403, "CSRF token missing or invalid.");
        store.destroy(*cookie);
      }
    }
    auto resp = http::Response::redirect("/login");
    return resp.with_header("Set-Cookie", session_cookie("", std::chrono::seconds(0)));
  });
  routes.page("/change_password", Role::User, [](http::Request& req, const Identity& id) {
    return html::change_password_page(id, query_value(req, "error"));
  });
  r.post("/change_password", [this](http::Request& req) { return change_password(req); });
}

}  // namespace d4::web
