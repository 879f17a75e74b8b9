#pragma once
// Browser sessions and login throttling, in the cache database (reference: 6380 db 3; in the
// cluster layout each name below follows the prefix "{d4:cache}:").
//   d4:web:session:<sha256(id)>   hash  user, csrf, created  (EXPIRE = session lifetime; the
//                                       id itself only lives in the browser's cookie)
//   d4:web:user_sessions:<user>   set   session hashes of a user (logout everywhere on a
//                                       password change or deletion)
//   d4:web:login_failures:<source>                hash count, until: failed logins from a source
//   d4:web:login_failures:<source>:<sha256(user)>  hash count, until: ... for one user
//                                 (a source is an IPv4 address or an IPv6 /64; `until` is the
//                                 epoch second before which the next attempt is refused; EXPIRE
//                                 = failure window + current delay)
//   failed_login_ip_api:<source>  string counter with a TTL, as in the reference (API tokens)
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
  // `prefix` starts every key: "" in the reference layout (the cache database is a database
  // number), "{d4:cache}:" in the cluster layout (one hash tag: the whole store in one slot).
  SessionStore(core::RedisClient& cache, std::chrono::seconds ttl, std::string_view prefix = {})
      : db_(cache), ttl_(ttl), prefix_(prefix) {}
  NewSession create(std::string_view user);
  std::optional<Session> find(std::string_view cookie_value);
  void destroy(std::string_view cookie_value);
  void destroy_all_of(std::string_view user);
  // Sessions alive now (forgets the expired ones first).
  long long count_live();

 private:
  std::string session_key(std::string_view hash) const;
  std::string user_sessions_key(std::string_view user) const;
  std::string by_expiry_key() const;
  core::RedisClient& db_;
  std::chrono::seconds ttl_;
  std::string prefix_;
};

// Login throttling by progressive delay instead of a lock-out: nobody can lock a user out from
// another source, and a source that keeps failing waits longer and longer.
struct ThrottlePolicy {
  long long max_failures = 5;           // per (user, source) before delays start
  long long source_max_failures = 20;   // per source, any user
  std::chrono::seconds window{300};     // failures are forgotten after this quiet time
  std::chrono::seconds max_delay{300};  // delays double from 1 s up to this
};

class LoginThrottle {
 public:
  LoginThrottle(core::RedisClient& cache, ThrottlePolicy policy, std::string_view prefix = {})
      : db_(cache), policy_(policy), prefix_(prefix) {}
  // Seconds before (user, source) may try again, else 0.
  long long wait_for(std::string_view user, std::string_view source);
  void record_failure(std::string_view user, std::string_view source);
  void clear(std::string_view user, std::string_view source);  // a success forgets the pair's failures
  // API tokens: the reference's rule, max_failures per source within the window.
  long long api_blocked_for(std::string_view source);
  void record_api_failure(std::string_view source);

 private:
  std::string source_key(std::string_view source) const;
  std::string pair_key(std::string_view user, std::string_view source) const;
  std::string api_key(std::string_view source) const;
  core::RedisClient& db_;
  ThrottlePolicy policy_;
  std::string prefix_;
};

// The throttling source of a client address: the IPv4 address, or the /64 of an IPv6 address
// (one host usually holds a whole /64). Text that is no address is returned unchanged.
std::string throttle_source(std::string_view ip);

}  // namespace d4::web
