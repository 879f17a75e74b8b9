#include "web/auth/sessions.hpp"

#include <algorithm>

#include "core/ipnet.hpp"
#include "core/keys.hpp"
#include "protocol/clock.hpp"
#include "web/auth/security.hpp"

namespace d4::web {

std::string SessionStore::session_key(std::string_view hash) const {
  return prefix_ + core::keys::web_session(hash);
}
std::string SessionStore::user_sessions_key(std::string_view user) const {
  return prefix_ + core::keys::web_user_sessions(user);
}
std::string SessionStore::by_expiry_key() const {
  return prefix_ + std::string(core::keys::kWebSessionsByExpiry);
}

NewSession SessionStore::create(std::string_view user) {
  NewSession s{random_token(43), random_token(43)};  // 258 bits each
  std::string hash = sha256_hex(s.id);
  std::string ttl = std::to_string(ttl_.count());
  const long long now = clock::unix_seconds();
  auto r = db_.pipeline(
      {{"HSET", session_key(hash), "user", std::string(user), "csrf", s.csrf, "created", std::to_string(now)},
       {"EXPIRE", session_key(hash), ttl},
       {"SADD", user_sessions_key(user), hash},
       {"EXPIRE", user_sessions_key(user), ttl},
       {"ZREMRANGEBYSCORE", by_expiry_key(), "-inf", std::to_string(now)},
       {"ZADD", by_expiry_key(), std::to_string(now + ttl_.count()), hash}});
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
  db_.command({"ZREM", by_expiry_key(), hash});
  if (user) db_.command({"SREM", user_sessions_key(*user), hash});
}

long long SessionStore::count_live() {
  auto r = db_.pipeline({{"ZREMRANGEBYSCORE", by_expiry_key(), "-inf", std::to_string(clock::unix_seconds())},
                         {"ZCARD", by_expiry_key()}});
  if (r.size() != 2 || r[1].is_error()) throw core::RedisError("count sessions");
  return r[1].integer;
}

void SessionStore::destroy_all_of(std::string_view user) {
  auto hashes = db_.command({"SMEMBERS", user_sessions_key(user)}).as_strings();
  std::vector<std::vector<std::string>> cmds;
  for (const auto& h : hashes) {
    cmds.push_back({"DEL", session_key(h)});
    cmds.push_back({"ZREM", by_expiry_key(), h});
  }
  cmds.push_back({"DEL", user_sessions_key(user)});
  db_.pipeline(cmds);
}

std::string LoginThrottle::source_key(std::string_view source) const {
  return prefix_ + core::keys::web_login_failures(source);
}
std::string LoginThrottle::pair_key(std::string_view user, std::string_view source) const {
  // Hashed: the user name is attacker-chosen text of any length.
  return source_key(source) + ":" + sha256_hex(user).substr(0, 32);
}
std::string LoginThrottle::api_key(std::string_view source) const {
  return prefix_ + "failed_login_ip_api:" + std::string(source);
}

namespace {
// One failure: count it; from the free-th failure on set the delay (1 s, doubling with each further
// failure, capped) and keep
// the record for the window after the delay ends.
constexpr const char* kRecordFailure = R"lua(
local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
local free, window, max_delay, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local delay = 0
if n >= free then
  delay = math.min(max_delay, 2 ^ math.min(n - free, 40))
  redis.call('HSET', KEYS[1], 'until', now + delay)
end
redis.call('EXPIRE', KEYS[1], window + delay)
return delay
)lua";
}  // namespace

std::string throttle_source(std::string_view ip) {
  auto a = core::IpAddress::parse(ip);
  if (!a) return std::string(ip);
  if (a->is_v4()) return a->to_string();
  return core::IpNetwork(*a, 64).to_string();
}

long long LoginThrottle::wait_for(std::string_view user, std::string_view source) {
  auto r = db_.pipeline({{"HGET", source_key(source), "until"}, {"HGET", pair_key(user, source), "until"}});
  long long now = clock::unix_seconds(), wait = 0;
  for (const auto& x : r) {
    if (x.is_error()) throw core::RedisError("login throttle: " + x.str);
    if (auto until = x.as_integer()) wait = std::max(wait, *until - now);
  }
  return wait;
}

void LoginThrottle::record_failure(std::string_view user, std::string_view source) {
  std::string window = std::to_string(policy_.window.count()),
              max_delay = std::to_string(policy_.max_delay.count()),
              now = std::to_string(clock::unix_seconds());
  db_.pipeline({{"EVAL", kRecordFailure, "1", pair_key(user, source), std::to_string(policy_.max_failures),
                 window, max_delay, now},
                {"EVAL", kRecordFailure, "1", source_key(source), std::to_string(policy_.source_max_failures),
                 window, max_delay, now}});
}

void LoginThrottle::clear(std::string_view user, std::string_view source) {
  db_.command({"DEL", pair_key(user, source)});
}

long long LoginThrottle::api_blocked_for(std::string_view source) {
  std::string key = api_key(source);
  auto r = db_.pipeline({{"GET", key}, {"TTL", key}});
  if (r[0].as_integer().value_or(0) < policy_.max_failures) return 0;
  return std::max<long long>(1, r[1].integer);
}

void LoginThrottle::record_api_failure(std::string_view source) {
  // The window starts at the first failure, like the reference (INCR + EXPIRE on creation).
  std::string key = api_key(source);
  if (db_.command({"INCR", key}).integer == 1)
    db_.command({"EXPIRE", key, std::to_string(policy_.window.count())});
}

}  // namespace d4::web
