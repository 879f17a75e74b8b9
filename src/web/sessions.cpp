#include "web/sessions.hpp"

#include <algorithm>

#include "web/security.hpp"

namespace d4::web {

namespace {
std::string session_key(std::string_view hash) {
  return "d4:web:session:" + std::string(hash);
}
std::string user_sessions_key(std::string_view user) {
  return "d4:web:user_sessions:" + std::string(user);
}
long long now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

NewSession SessionStore::create(std::string_view user) {
  NewSession s{random_token(43), random_token(43)};  // 258 bits each
  std::string hash = sha256_hex(s.id);
  std::string ttl = std::to_string(ttl_.count());
  auto r = db_.pipeline({{"HSET", session_key(hash), "user", std::string(user), "csrf", s.csrf, "created",
                          std::to_string(now_seconds())},
                         {"EXPIRE", session_key(hash), ttl},
                         {"SADD", user_sessions_key(user), hash},
                         {"EXPIRE", user_sessions_key(user), ttl}});
  for (const auto& x : r)
    if (x.is_error()) throw core::RedisError("create session: " + x.str);
  return s;
}

std::optional<Session> SessionStore::find(std::string_view cookie_value) {
  if (cookie_value.size() != 43) return std::nullopt;
  std::string hash = sha256_hex(cookie_value);
  auto r = db_.command({"HMGET", session_key(hash), "user", "csrf"});
  if (r.elements.size() != 2 || r.elements[0].is_nil() || r.elements[1].is_nil()) return std::nullopt;
  return Session{hash, r.elements[0].str, r.elements[1].str};
}

void SessionStore::destroy(std::string_view cookie_value) {
  std::string hash = sha256_hex(cookie_value);
  auto user = db_.command({"HGET", session_key(hash), "user"}).as_string();
  db_.command({"DEL", session_key(hash)});
  if (user) db_.command({"SREM", user_sessions_key(*user), hash});
}

void SessionStore::destroy_all_of(std::string_view user) {
  auto hashes = db_.command({"SMEMBERS", user_sessions_key(user)}).as_strings();
  std::vector<std::vector<std::string>> cmds;
  for (const auto& h : hashes) cmds.push_back({"DEL", session_key(h)});
  cmds.push_back({"DEL", user_sessions_key(user)});
  db_.pipeline(cmds);
}

long long LoginThrottle::blocked(const std::string& key) {
  auto r = db_.pipeline({{"GET", key}, {"TTL", key}});
  auto count = r[0].as_integer().value_or(0);
  if (count < max_) return 0;
  return std::max<long long>(1, r[1].integer);
}

void LoginThrottle::incr(const std::string& key) {
  // The window starts at the first failure, like the reference (INCR + EXPIRE on creation).
  auto r = db_.command({"INCR", key});
  if (r.integer == 1) db_.command({"EXPIRE", key, std::to_string(window_.count())});
}

long long LoginThrottle::blocked_for(std::string_view ip, std::string_view user) {
  long long a = blocked("failed_login_ip:" + std::string(ip));
  long long b = user.empty() ? 0 : blocked("failed_login_user_id:" + std::string(user));
  return std::max(a, b);
}

long long LoginThrottle::api_blocked_for(std::string_view ip) {
  return blocked("failed_login_ip_api:" + std::string(ip));
}

void LoginThrottle::record_failure(std::string_view ip, std::string_view user) {
  incr("failed_login_ip:" + std::string(ip));
  if (!user.empty()) incr("failed_login_user_id:" + std::string(user));
}

void LoginThrottle::record_api_failure(std::string_view ip) {
  incr("failed_login_ip_api:" + std::string(ip));
}

void LoginThrottle::clear_user(std::string_view user) {
  db_.command({"DEL", "failed_login_user_id:" + std::string(user)});
}

}  // namespace d4::web
