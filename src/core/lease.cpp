#include "core/lease.hpp"

#include "core/redis_client.hpp"

namespace d4::core::lease {

std::vector<std::string> acquire_command(const std::string& key, const std::string& token,
                                         std::chrono::milliseconds ttl) {
  return {"SET", key, token, "NX", "PX", std::to_string(ttl.count())};
}

std::vector<std::string> renew_command(const std::string& key, const std::string& token,
                                       std::chrono::milliseconds ttl) {
  return {"EVAL", std::string(kRenewScript), "1", key, token, std::to_string(ttl.count())};
}

std::vector<std::string> release_command(const std::string& key, const std::string& token) {
  return {"EVAL", std::string(kReleaseScript), "1", key, token};
}

bool acquire(RedisClient& redis, const std::string& key, const std::string& token,
             std::chrono::milliseconds ttl) {
  auto r = redis.command(acquire_command(key, token, ttl));
  return r.is_string() && r.str == "OK";
}

bool renew(RedisClient& redis, const std::string& key, const std::string& token,
           std::chrono::milliseconds ttl) {
  return redis.command(renew_command(key, token, ttl)).integer == 1;
}

bool hold(RedisClient& redis, const std::string& key, const std::string& token,
          std::chrono::milliseconds ttl) {
  auto r = redis.command({"EVAL", kHoldScript, "1", key, token, std::to_string(ttl.count())});
  if (r.is_error()) throw RedisError("lease " + key + ": " + r.str);
  return r.integer == 1;
}

void release(RedisClient& redis, const std::string& key, const std::string& token) {
  redis.command(release_command(key, token));
}

}  // namespace d4::core::lease
