// Authentication of requests (API token or session cookie), password checks under throttling and
// the concurrency bound, passwords, sessions and tokens, and the first-run admin account.
#include "web/auth/authenticator.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/organisations.hpp"
#include "web/request.hpp"

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

Authentication identified(Identity id) {
  Authentication a;
  a.id = std::move(id);
  return a;
}

// The generated first-run password goes to a 0600 file only: logs are collected and kept by
// other tools.
void write_admin_password_file(const fs::path& file, const std::string& email, const std::string& password) {
  fs::create_directories(file.parent_path());
  mode_t old = umask(0077);
  {
    std::ofstream f(file, std::ios::trunc);
    f << email << " " << password << "\n";
  }
  umask(old);
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}
}  // namespace

Authenticator::Authenticator(const WebConfig& config, WebCounters& counters, Connections& connections)
    : cfg_(config),
      counters_(counters),
      connections_(connections),
      password_gate_(config.max_concurrent_password_checks) {}

LoginThrottle Authenticator::throttle(Db& d) const {
  return LoginThrottle(d.cache,
                       ThrottlePolicy{cfg_.login_max_failures, cfg_.login_source_max_failures,
                                      cfg_.login_failure_window, cfg_.login_delay_max},
                       core::keys::database_prefix(d.layout, core::keys::Database::Cache));
}

void Authenticator::first_run() {
  auto& d = connections_.this_thread();
  d.user_store.ensure_roles();
  // Every sensor and user not assigned elsewhere belongs to the default organisation: a server
  // from before organisations keeps working without a migration step.
  core::OrganisationStore(d.meta).ensure_default(
      cfg_.default_org_name, cfg_.default_org_uuid.empty() ? random_uuid4() : cfg_.default_org_uuid);
  if (d.user_store.exists(cfg_.admin_email)) return;
  // Only the very first start creates an admin: an installation whose admin was renamed or
  // deleted on purpose does not get a new one behind the operator's back.
  if (d.user_store.any_user()) return;
  bool generated = cfg_.admin_password.empty();
  std::string password = generated ? generate_password() : cfg_.admin_password;
  if (!generated) {
    if (auto why = password_policy_violation(password))
      throw core::ConfigError("[web] admin_password: " + *why);
  }
  d.user_store.upsert(cfg_.admin_email, Role::Admin, password, true);
  if (generated) {
    fs::path file = cfg_.state_dir / "ADMIN_PASSWORD";
    write_admin_password_file(file, cfg_.admin_email, password);
    spdlog::warn(
        "first run: created the web admin {}; its password is in {} (it must be changed at first login)",
        cfg_.admin_email, file.string());
  } else {
    spdlog::info("first run: created the web admin {} with the password from [web] admin_password",
                 cfg_.admin_email);
  }
}

Authentication Authenticator::authenticate_token(Db& d, const http::Request& req) {
  const std::string source = throttle_source(req.remote_ip);
  auto limiter = throttle(d);
  if (long long wait = limiter.api_blocked_for(source))
    return refused(401, "Max Connection Attempts reached, Please wait " + std::to_string(wait) + "s");
  std::optional<UserInfo> info;
  if (auto user = d.user_store.user_for_token(token_of(req.header("Authorization"))))
    info = d.user_store.get(*user);
  if (!info) {
    limiter.record_api_failure(source);
    return refused(401, "Authentication failed");
  }
  return identified(Identity{info->email, info->role, false, false, {}});
}

Authentication Authenticator::authenticate(const http::Request& req) {
  try {
    auto& d = connections_.this_thread();
    if (!req.header("Authorization").empty()) return authenticate_token(d, req);
    if (auto cookie = req.cookie("d4_session")) {
      if (auto s = sessions(d).find(*cookie)) {
        if (auto info = d.user_store.get(s->user))
          return identified(Identity{info->email, info->role, true, info->must_change_password, s->csrf});
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

PasswordVerdict Authenticator::check_password(const std::string& user, const std::string& password,
                                              const std::string& client_ip) {
  using O = PasswordVerdict::Outcome;
  auto& d = connections_.this_thread();
  auto limiter = throttle(d);
  const std::string source = throttle_source(client_ip);
  if (long long wait = limiter.wait_for(user, source)) {
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
    limiter.record_failure(user, source);
    return {O::Wrong, 0};
  }
  limiter.clear(user, source);
  return {O::Ok, 0};
}

void Authenticator::set_password(const std::string& user, const std::string& password, bool must_change) {
  auto& d = connections_.this_thread();
  d.user_store.set_password(user, password, must_change);
  sessions(d).destroy_all_of(user);
  if (!must_change && user == cfg_.admin_email) {
    std::error_code ec;
    fs::remove(cfg_.state_dir / "ADMIN_PASSWORD", ec);
  }
}

void Authenticator::end_sessions(const std::string& user) {
  sessions(connections_.this_thread()).destroy_all_of(user);
}

NewToken Authenticator::create_token(const std::string& email, const std::string& name) {
  auto& d = connections_.this_thread();
  auto u = d.user_store.get(email);
  if (!u) throw ApiError(404, "no such user");
  if (u->tokens.size() >= cfg_.max_tokens_per_user) {
    ++counters_.tokens_refused;
    throw ApiError(409, "this account already has " + std::to_string(u->tokens.size()) +
                            " API tokens (the limit); revoke one first");
  }
  return d.user_store.create_token(email, name);
}

std::string Authenticator::session_cookie(const std::string& value, std::chrono::seconds max_age) const {
  std::string c = "d4_session=" + value +
                  "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age.count());
  if (cfg_.https()) c += "; Secure";
  return c;
}

}  // namespace d4::web
