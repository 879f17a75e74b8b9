#pragma once
// An immutable snapshot of the sensor policy stored in Redis, rebuilt by the server every
// policy_refresh interval and handed to every worker thread. Live connections are re-checked
// against each new snapshot, so operator changes apply without a restart.
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/ipnet.hpp"
#include "core/redis_reply.hpp"
#include "core/sensors.hpp"

namespace d4::server {

struct Policy {
  core::ServerMode mode = core::ServerMode::Registration;
  std::string default_key;
  std::bitset<256> accepted_types;
  std::unordered_set<std::string> accepted_extended_types;
  core::IpBlocklist blocked_ips;
  std::unordered_set<std::string> blocked_uuids;     // normalised (dashless lowercase)
  std::unordered_set<std::string> ip_blocked_uuids;  // "block every IP presenting this UUID"
  std::unordered_set<std::string> registered;        // only loaded in registration mode
  // Kicks: sessions opened before the time (ms since epoch, Redis clock) are closed.
  std::unordered_map<std::string, long long> uuid_kicks;
  std::unordered_map<int, long long> type_kicks;
  std::unordered_set<std::string> incorrect_sessions;  // Error:IncorrectType
  long long redis_now_ms = 0;
  std::uint64_t version = 0;
  bool loaded = false;  // false until the first successful refresh

  bool uuid_blocked(const std::string& uuid) const { return blocked_uuids.count(uuid) > 0; }
  bool uuid_ips_blocked(const std::string& uuid) const { return ip_blocked_uuids.count(uuid) > 0; }
  bool is_registered(const std::string& uuid) const {
    return mode == core::ServerMode::SharedSecret || registered.count(uuid) > 0;
  }
};

// Builds a snapshot from the replies of the refresh pipeline:
//   meta:   GET server:hmac_default_key, SMEMBERS server:accepted_type,
//           SMEMBERS server:accepted_extended_type, SMEMBERS blacklist_ip, SMEMBERS blacklist_uuid,
//           SMEMBERS blacklist_ip_by_uuid, [SMEMBERS registered_uuid]
//   stream: the policy stream script ({now, kicks WITHSCORES, Error:IncorrectType})
// Entries are normalised (UUIDs dashless lowercase); invalid ones are ignored and reported in
// *warnings.
std::shared_ptr<Policy> build_policy(core::ServerMode mode, const std::vector<core::RedisReply>& meta,
                                     const core::RedisReply& stream_state,
                                     std::vector<std::string>* warnings);

// Replaces the stream state of `p` (kicks, Redis time, Error:IncorrectType) with the policy
// stream script's reply: what a refresh renews when the policy sets did not change.
void apply_stream_state(Policy& p, const core::RedisReply& stream_state);

}  // namespace d4::server
