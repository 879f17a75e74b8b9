#pragma once
// Leases in Redis: a key holding its owner's token for a time to live, taken with SET NX PX and
// renewed or released only by the owner (a Lua check of the token, so that an owner that stalled
// past its lease never renews or deletes the next owner's). One definition for the workers'
// session leases, their name and task locks, and d4-alerts' evaluation lock.
//
// The command builders are for pipelines and transactions (the worker commits a session's progress
// and releases its lease in one MULTI); the functions run one command on a blocking client.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace d4::core {

class RedisClient;

namespace lease {

// KEYS[1] = the lease, ARGV[1] = the owner's token, ARGV[2] = the time to live in ms.
// Renew: 1 when the token still holds the lease (its expiry is pushed back), else 0.
inline constexpr std::string_view kRenewScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua";
// Release: 1 when the token held the lease (now deleted), else 0.
inline constexpr std::string_view kReleaseScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";
// Hold: renews the lease when the token holds it, else takes it when free; 1 when held afterwards.
inline constexpr std::string_view kHoldScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
)lua";

std::vector<std::string> acquire_command(const std::string& key, const std::string& token,
                                         std::chrono::milliseconds ttl);
std::vector<std::string> renew_command(const std::string& key, const std::string& token,
                                       std::chrono::milliseconds ttl);
std::vector<std::string> release_command(const std::string& key, const std::string& token);

// True when the lease was free and is now `token`'s.
bool acquire(RedisClient& redis, const std::string& key, const std::string& token,
             std::chrono::milliseconds ttl);
// True when `token` still held the lease (renewed); false when it was lost.
bool renew(RedisClient& redis, const std::string& key, const std::string& token,
           std::chrono::milliseconds ttl);
// Renews the lease, or takes it when free: true when `token` holds it. An error reply throws RedisError.
bool hold(RedisClient& redis, const std::string& key, const std::string& token,
          std::chrono::milliseconds ttl);
// Deletes the lease if `token` holds it.
void release(RedisClient& redis, const std::string& key, const std::string& token);

}  // namespace lease
}  // namespace d4::core
