#include "web/auth/users.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

#include "protocol/clock.hpp"
#include "web/auth/security.hpp"

namespace d4::web {

namespace {
constexpr std::string_view kAllUsers = "user:all";
constexpr std::string_view kTokens = "user:tokens";
constexpr std::string_view kRoles = "d4:all_role";

constexpr Role kAllRoles[] = {Role::Admin, Role::User, Role::SensorRegister};

void check(const std::vector<core::RedisReply>& replies, const char* what) {
  for (const auto& r : replies)
    if (r.is_error()) throw core::RedisError(std::string(what) + ": " + r.str);
}
}  // namespace

std::string UserStore::key(std::string_view name) const {
  return prefix_ + std::string(name);
}
std::string UserStore::metadata_key(std::string_view email) const {
  return key("user_metadata:") + std::string(email);
}
std::string UserStore::role_key(Role r) const {
  return key("user_role:") + std::string(to_string(r));
}
std::string UserStore::tokens_key(std::string_view email) const {
  return key("d4:user_tokens:") + std::string(email);
}

bool UserStore::any_user() {
  return db_.command({"HLEN", key(kAllUsers)}).integer > 0;
}

std::optional<Role> parse_role(std::string_view text) {
  if (text == "admin") return Role::Admin;
  if (text == "user") return Role::User;
  if (text == "sensor_register") return Role::SensorRegister;
  return std::nullopt;
}

std::string_view to_string(Role r) {
  switch (r) {
    case Role::Admin:
      return "admin";
    case Role::User:
      return "user";
    case Role::SensorRegister:
      return "sensor_register";
  }
  return "user";
}

std::optional<std::string> email_violation(std::string_view email) {
  if (email.empty()) return "the user name (an e-mail address) is required";
  if (email.size() >= 300) return "the e-mail address must be shorter than 300 characters";
  auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == email.size() ||
      email.find('@', at + 1) != std::string_view::npos)
    return "the user name must be an e-mail address (name@domain)";
  for (unsigned char c : email)
    if (c <= 0x20 || c == 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == ',' || c == ';' ||
        c == ':')
      return "the e-mail address contains a character that is not allowed";
  return std::nullopt;
}

void UserStore::ensure_roles() {
  check(db_.pipeline({{"ZADD", key(kRoles), "NX", "1", "admin"},
                      {"ZADD", key(kRoles), "NX", "2", "user"},
                      {"ZADD", key(kRoles), "NX", "20", "sensor_register"}}),
        "ensure_roles");
}

bool UserStore::exists(std::string_view email) {
  return db_.command({"HEXISTS", key(kAllUsers), email}).integer == 1;
}

std::optional<UserInfo> UserStore::get(std::string_view email) {
  auto r = db_.pipeline({{"HEXISTS", key(kAllUsers), std::string(email)},
                         {"HGETALL", metadata_key(email)},
                         {"HGETALL", tokens_key(email)}});
  check(r, "get user");
  if (r[0].integer != 1) return std::nullopt;
  UserInfo u;
  u.email = email;
  auto meta = r[1].as_strings();
  for (std::size_t i = 0; i + 1 < meta.size(); i += 2) {
    if (meta[i] == "role")
      u.role = parse_role(meta[i + 1]).value_or(Role::User);
    else if (meta[i] == "change_passwd")
      u.must_change_password = meta[i + 1] == "True";
  }
  auto toks = r[2].as_strings();
  for (std::size_t i = 0; i + 1 < toks.size(); i += 2) {
    TokenInfo t;
    t.id = toks[i];
    auto j = nlohmann::json::parse(toks[i + 1], nullptr, false);
    if (j.is_object()) {
      t.name = j.value("name", "");
      t.created = j.value("created", 0LL);
    }
    u.tokens.push_back(std::move(t));
  }
  std::sort(u.tokens.begin(), u.tokens.end(),
            [](const auto& a, const auto& b) { return a.created < b.created; });
  return u;
}

std::vector<UserInfo> UserStore::list() {
  auto names = db_.command({"HKEYS", key(kAllUsers)}).as_strings();
  std::sort(names.begin(), names.end());
  std::vector<UserInfo> out;
  for (const auto& n : names)
    if (auto u = get(n)) out.push_back(std::move(*u));
  return out;
}

void UserStore::write_roles(std::string_view email, Role role) {
  std::vector<std::vector<std::string>> cmds;
  for (Role r : kAllRoles) {
    if (role_allows(role, r))
      cmds.push_back({"SADD", role_key(r), std::string(email)});
    else
      cmds.push_back({"SREM", role_key(r), std::string(email)});
  }
  cmds.push_back({"HSET", metadata_key(email), "role", std::string(to_string(role))});
  check(db_.pipeline(cmds), "write roles");
}

void UserStore::write_password(std::string_view email, std::string_view password, bool must_change,
                               const char* what) {
  std::string hash = hash_password(password, cost_);
  std::vector<std::vector<std::string>> cmds = {{"HSET", key(kAllUsers), std::string(email), hash}};
  if (must_change)
    cmds.push_back({"HSET", metadata_key(email), "change_passwd", "True"});
  else
    cmds.push_back({"HDEL", metadata_key(email), "change_passwd"});
  check(db_.pipeline(cmds), what);
}

void UserStore::upsert(std::string_view email, Role role, std::string_view password, bool must_change) {
  if (auto why = email_violation(email)) throw std::invalid_argument(*why);
  write_password(email, password, must_change, "upsert user");
  write_roles(email, role);
}

void UserStore::set_role(std::string_view email, Role role) {
  write_roles(email, role);
}

void UserStore::set_password(std::string_view email, std::string_view password, bool must_change) {
  write_password(email, password, must_change, "set password");
}

void UserStore::remove(std::string_view email) {
  std::vector<std::vector<std::string>> cmds;
  // Revoke every token (hashed ones, and a reference token still stored in clear).
  auto toks = db_.command({"HGETALL", tokens_key(email)}).as_strings();
  for (std::size_t i = 0; i + 1 < toks.size(); i += 2) {
    auto j = nlohmann::json::parse(toks[i + 1], nullptr, false);
    if (j.is_object() && j.contains("hash"))
      cmds.push_back({"HDEL", key(kTokens), "sha256:" + j.value("hash", "")});
  }
  if (auto legacy = db_.command({"HGET", metadata_key(email), "token"}).as_string())
    cmds.push_back({"HDEL", key(kTokens), *legacy});
  for (Role r : kAllRoles) cmds.push_back({"SREM", role_key(r), std::string(email)});
  cmds.push_back({"HDEL", key(kAllUsers), std::string(email)});
  cmds.push_back({"DEL", metadata_key(email), tokens_key(email)});
  check(db_.pipeline(cmds), "remove user");
}

bool UserStore::check_password(std::string_view email, std::string_view password) {
  auto stored = db_.command({"HGET", key(kAllUsers), email}).as_string();
  if (!stored) {
    // Spend the same time as a real check so that timing does not reveal which users exist.
    // (A store per thread: the dummy is made once per thread, at the configured cost.)
    if (dummy_hash_.empty()) dummy_hash_ = hash_password("not-a-real-password-00", cost_);
    (void)verify_password(password, dummy_hash_, cost_);
    return false;
  }
  auto r = verify_password(password, *stored, cost_);
  if (r.ok && r.needs_rehash) db_.command({"HSET", key(kAllUsers), email, hash_password(password, cost_)});
  return r.ok;
}

NewToken UserStore::create_token(std::string_view email, std::string_view name) {
  NewToken t;
  t.token = random_token(41);  // the reference's length and alphabet
  std::string hash = sha256_hex(t.token);
  t.id = hash.substr(0, 12);
  nlohmann::json meta = {{"name", std::string(name)}, {"created", clock::unix_seconds()}, {"hash", hash}};
  check(db_.pipeline({{"HSET", key(kTokens), "sha256:" + hash, std::string(email)},
                      {"HSET", tokens_key(email), t.id, meta.dump()}}),
        "create token");
  return t;
}

bool UserStore::revoke_token(std::string_view email, std::string_view id) {
  auto raw = db_.command({"HGET", tokens_key(email), id}).as_string();
  if (!raw) return false;
  auto j = nlohmann::json::parse(*raw, nullptr, false);
  std::vector<std::vector<std::string>> cmds = {{"HDEL", tokens_key(email), std::string(id)}};
  if (j.is_object() && j.contains("hash"))
    cmds.push_back({"HDEL", key(kTokens), "sha256:" + j.value("hash", "")});
  check(db_.pipeline(cmds), "revoke token");
  return true;
}

std::optional<std::string> UserStore::user_for_token(std::string_view token) {
  if (token.size() != 41) return std::nullopt;
  for (unsigned char c : token)
    if (!(std::isalnum(c) || c == '-' || c == '_')) return std::nullopt;
  std::string hash = sha256_hex(token);
  if (auto u = db_.command({"HGET", key(kTokens), "sha256:" + hash}).as_string()) return u;
  // A token issued by the reference server, stored in clear: accept it once and re-key it so
  // that it is not kept in clear any longer.
  auto legacy = db_.command({"HGET", key(kTokens), token}).as_string();
  if (!legacy) return std::nullopt;
  std::string id = hash.substr(0, 12);
  nlohmann::json meta = {{"name", "imported"}, {"created", clock::unix_seconds()}, {"hash", hash}};
  check(db_.pipeline({{"HSET", key(kTokens), "sha256:" + hash, *legacy},
                      {"HDEL", key(kTokens), std::string(token)},
                      {"HSET", tokens_key(*legacy), id, meta.dump()},
                      {"HDEL", metadata_key(*legacy), "token"}}),
        "migrate token");
  return legacy;
}

}  // namespace d4::web
