#include "web/app.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <charconv>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "protocol/uuid.hpp"
#include "web/assets.hpp"
#include "web/client_address.hpp"
#include "web/html.hpp"
#include "web/security.hpp"

namespace d4::web {

namespace fs = std::filesystem;

Db::Db(const WebConfig& c)
    : meta(c.common.redis.meta),
      stream(c.common.redis.stream),
      users(c.common.redis.users),
      analyzer(c.common.redis.analyzer),
      cache(c.common.redis.cache),
      backscatter(c.backscatter_redis),
      policy(meta, stream),
      user_store(users),
      queue_store(meta, analyzer, c.queue_default_max_size),
      sessions(cache, c.session_ttl),
      throttle(cache, ThrottlePolicy{c.login_max_failures, c.login_source_max_failures,
                                     c.login_failure_window, c.login_delay_max}) {}

// ---------------------------------------------------------------- helpers

std::string safe_redirect_target(const std::string& next) {
  if (next.empty() || next.front() != '/' || next.size() > 2000) return "/";
  if (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) return "/";
  for (unsigned char c : next)
    if (c < 0x20 || c == 0x7f || c == '\\') return "/";
  return next;
}

std::string today(int days_ago) {
  std::time_t t = std::time(nullptr) - static_cast<std::time_t>(days_ago) * 86400;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
  return buf;
}

std::string require_uuid(const std::string& text) {
  auto u = core::normalize_sensor_uuid(text);
  if (!u) throw ApiError(400, "Invalid uuid");
  return *u;
}

json result_or_throw(const core::PolicyResult& r) {
  using C = core::PolicyResult::Code;
  switch (r.code) {
    case C::Ok:
      break;
    case C::Invalid:
      throw ApiError(400, r.message);
    case C::NotFound:
      throw ApiError(404, r.message);
    case C::Conflict:
      throw ApiError(409, r.message);
  }
  json j = {{"status", "ok"}};
  if (!r.value.empty()) j["value"] = r.value;
  return j;
}

Input::Input(const http::Request& req) {
  for (const auto& [k, v] : req.query) body_[k] = v;
  auto type = req.header("Content-Type");
  if (req.body.empty()) return;
  if (type.rfind("application/json", 0) == 0) {
    auto j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw ApiError(400, "the body must be a JSON object");
    for (auto& [k, v] : j.items()) body_[k] = v;
  } else if (type.rfind("application/x-www-form-urlencoded", 0) == 0) {
    for (const auto& [k, v] : req.form()) body_[k] = v;
  } else {
    throw ApiError(415, "unsupported Content-Type (use application/json)");
  }
}

bool Input::has(const std::string& k) const {
  return body_.contains(k) && !body_[k].is_null();
}

std::string Input::str(const std::string& k, const std::string& def) const {
  if (!has(k)) return def;
  const auto& v = body_[k];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  throw ApiError(400, "parameter '" + k + "' must be a string");
}

std::string Input::required(const std::string& k) const {
  auto s = str(k);
  if (s.empty()) throw ApiError(400, "parameter '" + k + "' is required");
  return s;
}

std::optional<long long> Input::integer(const std::string& k) const {
  if (!has(k)) return std::nullopt;
  const auto& v = body_[k];
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_string()) {
    auto s = v.get<std::string>();
    if (s.empty()) return std::nullopt;
    long long n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && p == s.data() + s.size()) return n;
  }
  throw ApiError(400, "parameter '" + k + "' must be an integer");
}

bool Input::flag(const std::string& k) const {
  if (!has(k)) return false;
  const auto& v = body_[k];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) {
    auto s = v.get<std::string>();
    return !(s.empty() || s == "0" || s == "false" || s == "False" || s == "off" || s == "no");
  }
  return false;
}

std::vector<std::string> Input::list(const std::string& k) const {
  std::vector<std::string> out;
  if (!has(k)) return out;
  const auto& v = body_[k];
  if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_string()) throw ApiError(400, "parameter '" + k + "' must be a list of strings");
      if (!e.get<std::string>().empty()) out.push_back(e.get<std::string>());
    }
    return out;
  }
  std::string cur;
  for (char c : str(k)) {
    if (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// ---------------------------------------------------------------- app

WebApp::WebApp(WebConfig config)
    : cfg_(std::move(config)), password_gate_(cfg_.max_concurrent_password_checks) {}

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

void WebApp::check_block_scope(const std::string& ip, const Identity& id, bool blocking) {
  auto net = core::IpNetwork::parse(ip);
  if (!net) return;  // the policy call answers 400 with the reason
  if (blocking && net->prefix_len() == 0) {
    ++counters_.blocks_refused;
    throw ApiError(400,
                   "refused: " + net->to_string() + " covers every address and would cut off every sensor");
  }
  int min = net->address().is_v4() ? cfg_.user_block_min_prefix_v4 : cfg_.user_block_min_prefix_v6;
  if (net->prefix_len() < min && !role_allows(id.role, Role::Admin)) {
    ++counters_.blocks_refused;
    throw ApiError(403, "a network wider than /" + std::to_string(min) + " needs the admin role");
  }
}

Db& WebApp::db() {
  // Handler threads belong to the HTTP server's pool; each gets its own blocking connections.
  thread_local std::unique_ptr<Db> conns;
  thread_local const WebApp* owner = nullptr;
  if (!conns || owner != this) {
    conns = std::make_unique<Db>(cfg_);
    owner = this;
  }
  return *conns;
}

void WebApp::first_run() {
  auto& d = db();
  d.user_store.ensure_roles();
  if (d.user_store.exists(cfg_.admin_email)) return;
  // Only the very first start creates an admin: an installation whose admin was renamed or
  // deleted on purpose does not get a new one behind the operator's back.
  if (d.users.command({"HLEN", "user:all"}).integer > 0) return;
  bool generated = cfg_.admin_password.empty();
  std::string password = generated ? generate_password() : cfg_.admin_password;
  if (!generated) {
    if (auto why = password_policy_violation(password))
      throw core::ConfigError("[web] admin_password: " + *why);
  }
  d.user_store.upsert(cfg_.admin_email, Role::Admin, password, true);
  if (generated) {
    fs::create_directories(cfg_.state_dir);
    fs::path file = cfg_.state_dir / "ADMIN_PASSWORD";
    mode_t old = umask(0077);
    {
      std::ofstream f(file, std::ios::trunc);
      f << cfg_.admin_email << " " << password << "\n";
    }
    umask(old);
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    // The password goes to the 0600 file only: logs are collected and kept by other tools.
    spdlog::warn(
        "first run: created the web admin {}; its password is in {} (it must be changed at first login)",
        cfg_.admin_email, file.string());
  } else {
    spdlog::info("first run: created the web admin {} with the password from [web] admin_password",
                 cfg_.admin_email);
  }
}

std::string WebApp::session_cookie(const std::string& value, std::chrono::seconds max_age) const {
  std::string c = "d4_session=" + value +
                  "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age.count());
  if (cfg_.https()) c += "; Secure";
  return c;
}

std::optional<Identity> WebApp::authenticate(http::Request& req, bool& bad_token, std::string& error,
                                             int& status) {
  auto& d = db();
  bad_token = false;
  auto auth = req.header("Authorization");
  if (!auth.empty()) {
    // "Bearer <token>" or the reference's bare "<token>" (spaces stripped).
    std::string token;
    std::string_view a = auth;
    if (a.size() > 7 && (a.substr(0, 7) == "Bearer " || a.substr(0, 7) == "bearer ")) a.remove_prefix(7);
    for (char c : a)
      if (c != ' ') token += c;
    if (long long wait = d.throttle.api_blocked_for(throttle_source(req.remote_ip))) {
      status = 401;
      error = "Max Connection Attempts reached, Please wait " + std::to_string(wait) + "s";
      return std::nullopt;
    }
    auto user = d.user_store.user_for_token(token);
    std::optional<UserInfo> info;
    if (user) info = d.user_store.get(*user);
    if (!info) {
      d.throttle.record_api_failure(throttle_source(req.remote_ip));
      bad_token = true;
      status = 401;
      error = "Authentication failed";
      return std::nullopt;
    }
    return Identity{info->email, info->role, false, false, {}};
  }
  if (auto cookie = req.cookie("d4_session")) {
    if (auto s = d.sessions.find(*cookie)) {
      if (auto info = d.user_store.get(s->user))
        return Identity{info->email, info->role, true, info->must_change_password, s->csrf};
    }
  }
  status = 401;
  error = "Authentication needed";
  return std::nullopt;
}

namespace {
bool lower_equals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
bool is_form(const http::Request& req) {
  return req.header("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0 &&
         req.header("Accept").find("application/json") == std::string::npos;
}
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
}  // namespace

Authentication WebApp::authenticate_route(http::Request& req) {
  Authentication a;
  bool bad_token = false;
  try {
    a.id = authenticate(req, bad_token, a.error, a.status);
  } catch (const std::exception& e) {
    spdlog::warn("authentication failed: {}", e.what());
    a.unavailable = true;
    a.error = e.what();
  }
  return a;
}

void WebApp::api(http::Router& r, const std::string& method, const std::string& pattern, Role role,
                 ApiHandler h) {
  r.add(method, pattern, [this, role, h = std::move(h), pattern](http::Request& req) -> http::Response {
    auto auth = authenticate_route(req);
    if (auth.unavailable) return http::Response::error(503, "service unavailable (database)");
    auto& id = auth.id;
    if (!id) return http::Response::error(auth.status, auth.error);
    if (!role_allows(id->role, role)) return http::Response::error(403, "Access Forbidden");
    if (id->via_session && id->must_change_password && pattern != "/api/v1/me/password")
      return http::Response::error(403, "Password change required");
    if (id->via_session && state_changing(req.method) && !csrf_ok(req, *id))
      return http::Response::error(403, "CSRF token missing or invalid");
    const bool form = is_form(req);
    // A plain form post gets a redirect back with the message, anything else a JSON error.
    auto fail = [&](int status, const std::string& reason) {
      return form ? form_reply(req, status, reason) : http::Response::error(status, reason);
    };
    try {
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
      spdlog::error("{} {}: redis: {}", req.method, req.path, e.what());
      return http::Response::error(503, "service unavailable (database)");
    }
  });
}

void WebApp::page(http::Router& r, const std::string& pattern, Role role, PageHandler h) {
  r.get(pattern, [this, role, h = std::move(h), pattern](http::Request& req) -> http::Response {
    // Pages authenticate with the session cookie only.
    req.headers.erase("Authorization");
    auto auth = authenticate_route(req);
    if (auth.unavailable) return html::error_page(503, "The database is not reachable: " + auth.error);
    auto& id = auth.id;
    if (!id) return http::Response::redirect("/login?next=" + http::url_encode(req.target));
    if (id->must_change_password && pattern != "/change_password")
      return http::Response::redirect("/change_password");
    if (!role_allows(id->role, role))
      return html::error_page(403, "Your role does not allow this page.", &*id);
    try {
      return h(req, *id);
    } catch (const ApiError& e) {
      return html::error_page(e.status, e.what(), &*id);
    } catch (const core::RedisError& e) {
      return html::error_page(503, "The database is not reachable: " + std::string(e.what()), &*id);
    }
  });
}

http::Router WebApp::build_router() {
  http::Router r;
  // The client behind a trusted reverse proxy; HTML forms can only GET or POST: a form posting
  // "_method" asks for PUT or DELETE.
  const auto forwarding = lower_equals(cfg_.trusted_proxy_header, "forwarded")
                              ? ForwardingHeader::Forwarded
                              : ForwardingHeader::XForwardedFor;
  r.set_middleware([this, forwarding](http::Request& req) -> std::optional<http::Response> {
    req.remote_ip = client_address(req.remote_ip, req.header(cfg_.trusted_proxy_header), forwarding,
                                   cfg_.trusted_proxies);
    if (req.method == "POST" && is_form(req)) {
      auto f = req.form();
      if (auto it = f.find("_method"); it != f.end() && (it->second == "PUT" || it->second == "DELETE"))
        req.method = it->second;
    }
    return std::nullopt;
  });
  const bool https = cfg_.https();
  r.set_finalizer([https](const http::Request& req, http::Response& resp) {
    bool api = req.path.rfind("/api/", 0) == 0;
    if (api && resp.status == 405)
      resp = http::Response::json(405, {{"status", "error"},
                                        {"reason", "Method Not Allowed: " + req.method + " " + req.path},
                                        {"documentation", "/api/v1/openapi.json"}});
    resp.with_header("X-Content-Type-Options", "nosniff")
        .with_header("X-Frame-Options", "DENY")
        .with_header("Referrer-Policy", "same-origin")
        .with_header("Content-Security-Policy",
                     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                     "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    if (https) resp.with_header("Strict-Transport-Security", "max-age=31536000");
    if (req.path.rfind("/static/", 0) != 0) resp.with_header("Cache-Control", "no-store");
  });
  r.set_not_found([](http::Request& req) {
    if (req.path.rfind("/api/", 0) == 0) return http::Response::error(404, "404 Not Found");
    return html::error_page(404, "There is no page at this address.");
  });

  r.get("/static/*", [](http::Request& req) {
    const auto* a = find_asset(req.params["*"]);
    if (!a || a->name == "openapi.json") return html::error_page(404, "No such file.");
    if (req.header("If-None-Match") == a->etag) {
      http::Response nm;
      nm.status = 304;
      nm.content_type.clear();
      return nm.with_header("ETag", std::string(a->etag));
    }
    auto resp = http::Response::text(200, std::string(a->data), std::string(a->content_type));
    return resp.with_header("ETag", std::string(a->etag)).with_header("Cache-Control", "no-cache");
  });
  r.get("/api/v1/openapi.json", [](http::Request&) {
    const auto* a = find_asset("openapi.json");
    return http::Response::text(200, std::string(a->data), "application/json");
  });
  add_auth_routes(r);
  add_api_routes(r);
  add_page_routes(r);
  return r;
}

// ---------------------------------------------------------------- login, logout, password

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
    bool bad = false;
    std::string err;
    int status = 401;
    auto id = authenticate(req, bad, err, status);
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
