#pragma once
// Browser sessions and login throttling, in the cache database (reference: 6380 db 3).
//   d4:web:session:<sha256(id)>   hash  user, csrf, created  (EXPIRE = session lifetime; the
//                                       id itself only lives in the browser's cookie)
//   d4:web:user_sessions:<user>   set   session hashes of a user (logout everywhere on a
//                                       password change or deletion)
//   failed_login_ip:<ip>, failed_login_user_id:<user>, failed_login_ip_api:<ip>
//                                 string counters with a TTL, as in the reference
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/redis_client.hpp"

namespace d4::web {

struct Session {
  std::string id_hash;
  std::string user;
  std::string csrf;
};

struct NewSession {
  std::string id;  // the cookie value (>= 192 random bits)
  std::string csrf;
};

class SessionStore {
 public:
  SessionStore(core::RedisClient& cache, std::chrono::seconds ttl) : db_(cache), ttl_(ttl) {}
  NewSession create(std::string_view user);
  std::optional<Session> find(std::string_view cookie_value);
  void destroy(std::string_view cookie_value);
  void destroy_all_of(std::string_view user);

 private:
  core::RedisClient& db_;
  std::chrono::seconds ttl_;
};

class LoginThrottle {
 public:
  LoginThrottle(core::RedisClient& cache, long long max_failures, std::chrono::seconds window)
      : db_(cache), max_(max_failures), window_(window) {}
  // Seconds to wait when a limit is reached, else 0.
  long long blocked_for(std::string_view ip, std::string_view user);
  long long api_blocked_for(std::string_view ip);
  void record_failure(std::string_view ip, std::string_view user);
  void record_api_failure(std::string_view ip);
  void clear_user(std::string_view user);

 private:
  long long blocked(const std::string& key);
  void incr(const std::string& key);
  core::RedisClient& db_;
  long long max_;
  std::chrono::seconds window_;
};

}  // namespace d4::web
