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

void WebApp::api(http::Router& r, const std::string& method, const std::string& pattern, Role role,
                 ApiHandler h) {
  r.add(method, pattern, [this, role, h = std::move(h), pattern](http::Request& req) -> http::Response {
    auto auth = authenticate(req);
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
    auto auth = authenticate(req);
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
  add_routes(*this, r);
  return r;
}

NewToken WebApp::create_token(Db& d, const std::string& email, const std::string& name) {
  auto u = d.user_store.get(email);
  if (!u) throw ApiError(404, "no such user");
  if (u->tokens.size() >= cfg_.max_tokens_per_user) {
    ++counters_.tokens_refused;
    throw ApiError(409, "this account already has " + std::to_string(u->tokens.size()) +
                            " API tokens (the limit); revoke one first");
  }
  return d.user_store.create_token(email, name);
}

}  // namespace d4::web
