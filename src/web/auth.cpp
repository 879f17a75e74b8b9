// Authentication of requests (API token or session cookie), password checks under throttling and
// the concurrency bound, and the login, logout and password-change routes.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "web/app.hpp"
#include "web/html.hpp"
#include "web/security.hpp"

namespace d4::web {

namespace fs = std::filesystem;

namespace {
// "Bearer <token>" or the reference's bare "<token>" (spaces stripped).
std::string token_of(std::string_view header) {
  if (header.size() > 7 && (header.substr(0, 7) == "Bearer " || header.substr(0, 7) == "bearer "))
    header.remove_prefix(7);
  std::string token;
  for (char c : header)
    if (c != ' ') token += c;
  return token;
}

Authentication refused(int status, std::string reason) {
  Authentication a;
  a.status = status;
  a.error = std::move(reason);
  return a;
}
}  // namespace

Authentication WebApp::authenticate_token(Db& d, const http::Request& req) {
  const std::string source = throttle_source(req.remote_ip);
  if (long long wait = d.throttle.api_blocked_for(source))
    return refused(401, "Max Connection Attempts reached, Please wait " + std::to_string(wait) + "s");
  std::optional<UserInfo> info;
  if (auto user = d.user_store.user_for_token(token_of(req.header("Authorization"))))
    info = d.user_store.get(*user);
  if (!info) {
    d.throttle.record_api_failure(source);
    return refused(401, "Authentication failed");
  }
  Authentication a;
  a.id = Identity{info->email, info->role, false, false, {}};
  return a;
}

Authentication WebApp::authenticate(http::Request& req) {
  try {
    auto& d = db();
    if (!req.header("Authorization").empty()) return authenticate_token(d, req);
    if (auto cookie = req.cookie("d4_session")) {
      if (auto s = d.sessions.find(*cookie)) {
        if (auto info = d.user_store.get(s->user)) {
          Authentication a;
          a.id = Identity{info->email, info->role, true, info->must_change_password, s->csrf};
          return a;
        }
      }
    }
    return refused(401, "Authentication needed");
  } catch (const std::exception& e) {
    spdlog::warn("authentication failed: {}", e.what());
    Authentication a;
    a.unavailable = true;
    a.error = e.what();
    return a;
  }
}

PasswordVerdict WebApp::check_password(Db& d, const std::string& user, const std::string& password,
                                       const std::string& client_ip) {
  using O = PasswordVerdict::Outcome;
  const std::string source = throttle_source(client_ip);
  if (long long wait = d.throttle.wait_for(user, source)) {
    ++counters_.login_delayed;
    return {O::Delayed, wait};
  }
  if (!password_gate_.try_enter()) {
    ++counters_.password_checks_busy;
    return {O::Busy, 1};
  }
  bool ok = false;
  try {
    ok = d.user_store.check_password(user, password);
  } catch (...) {
    password_gate_.leave();
    throw;
  }
  password_gate_.leave();
  if (!ok) {
    ++counters_.login_failures;
    d.throttle.record_failure(user, source);
    return {O::Wrong, 0};
  }
  d.throttle.clear(user, source);
  return {O::Ok, 0};
}

std::string WebApp::session_cookie(const std::string& value, std::chrono::seconds max_age) const {
  std::string c = "d4_session=" + value +
                  "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age.count());
  if (cfg_.https()) c += "; Secure";
  return c;
}

void WebApp::add_auth_routes(http::Router& r) {
  // The login form with a fresh double-submit token (cookie + field).
  auto login_form = [this](const std::string& next, const std::string& error, int status) {
    std::string csrf = random_token(32);
    auto resp = html::login_page(next, csrf, error);
    resp.status = status;
    std::string c = "d4_login=" + csrf + "; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600";
    if (cfg_.https()) c += "; Secure";
    return resp.with_header("Set-Cookie", c);
  };
  // Too many password checks at once: 503 with the form again, so the user can simply retry.
  auto busy_login_page = [login_form](const std::string& next) {
    return login_form(next, "The server is busy checking other passwords; please try again in a moment.", 503)
        .with_header("Retry-After", "1");
  };
  r.get("/login", [login_form](http::Request& req) {
    auto next = safe_redirect_target(req.query.count("next") ? req.query["next"] : "/");
    return login_form(next, req.query.count("error") ? req.query["error"] : "", 200);
  });

  r.post("/login", [this, busy_login_page](http::Request& req) {
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
    auto& d = db();
    using O = PasswordVerdict::Outcome;
    auto verdict = check_password(d, user, password, req.remote_ip);
    if (verdict.outcome == O::Delayed)
      return fail("Too many failed logins; please wait " + std::to_string(verdict.wait_seconds) + " s.");
    if (verdict.outcome == O::Busy) return busy_login_page(next);
    if (verdict.outcome == O::Wrong) {
      spdlog::info("failed web login for \"{}\" from {}", user, req.remote_ip);
      return fail("Wrong user name or password.");
    }
    auto info = d.user_store.get(user);
    // Like the reference, a sensor-registration account may use the API but not the interface.
    if (!info || !role_allows(info->role, Role::User)) return fail("This account may only use the API.");
    auto s = d.sessions.create(user);
    spdlog::info("web login: {} from {}", user, req.remote_ip);
    auto resp = http::Response::redirect(info->must_change_password ? "/change_password" : next);
    resp.with_header("Set-Cookie", session_cookie(s.id, cfg_.session_ttl));
    resp.with_header("Set-Cookie", "d4_login=; Path=/login; Max-Age=0");
    return resp;
  });

  r.post("/logout", [this](http::Request& req) {
    auto& d = db();
    if (auto cookie = req.cookie("d4_session")) {
      if (auto s = d.sessions.find(*cookie)) {
        auto f = req.form();
        if (!constant_time_equal(f["csrf_token"], s->csrf) &&
            !constant_time_equal(req.header("X-CSRF-Token"), s->csrf))
          return html::error_page(403, "CSRF token missing or invalid.");
        d.sessions.destroy(*cookie);
      }
    }
    auto resp = http::Response::redirect("/login");
    return resp.with_header("Set-Cookie", session_cookie("", std::chrono::seconds(0)));
  });

  page(r, "/change_password", Role::User, [](http::Request& req, const Identity& id) {
    return html::change_password_page(id, req.query.count("error") ? req.query["error"] : "");
  });

  r.post("/change_password", [this](http::Request& req) {
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
    auto& d = db();
    using O = PasswordVerdict::Outcome;
    auto verdict = check_password(d, id->user, f["current_password"], req.remote_ip);
    if (verdict.outcome == O::Busy)
      return html::error_page(
                 503, "The server is busy checking other passwords; please try again in a moment.", &*id)
          .with_header("Retry-After", "1");
    if (verdict.outcome == O::Delayed)
      return back("Too many wrong passwords; please wait " + std::to_string(verdict.wait_seconds) + " s.");
    if (verdict.outcome == O::Wrong) return back("The current password is wrong.");
    if (f["password1"] != f["password2"]) return back("The two new passwords differ.");
    if (auto why = password_policy_violation(f["password1"])) return back(*why);
    if (f["password1"] == f["current_password"])
      return back("The new password must differ from the current one.");
    d.user_store.set_password(id->user, f["password1"], false);
    if (id->user == cfg_.admin_email) {
      std::error_code ec;
      fs::remove(cfg_.state_dir / "ADMIN_PASSWORD", ec);
    }
    // Every other session of this user ends; this browser gets a fresh one.
    d.sessions.destroy_all_of(id->user);
    auto s = d.sessions.create(id->user);
    auto resp = http::Response::redirect("/?flash=" + http::url_encode("Password changed."));
    return resp.with_header("Set-Cookie", session_cookie(s.id, cfg_.session_ttl));
  });
}

}  // namespace d4::web
