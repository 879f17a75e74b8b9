#pragma once
// Lua scripts run atomically in Redis by the server. Each keeps one multi-key rule consistent
// across several server processes sharing a Redis. They are sent with EVAL (Redis caches the
// compiled script by its SHA1), so a restarted Redis never answers NOSCRIPT.
#include <string>
#include <string_view>
#include <vector>

#include "core/keys.hpp"
#include "core/redis_async.hpp"

namespace d4::server::scripts {

// Every script declares the keys it touches (KEYS), computed by the caller for the configured key
// layout (core/keys.hpp; key_sets below): on a Redis Cluster they must all be in one slot, which
// the cluster layout ensures (the live slot {live}, or a session's slot). A script whose keys
// depend on what it reads (an owner's heartbeat, the kicked sensors) is run in two steps: the
// caller reads first, the script checks that what it read still holds.

// Live-session value in server:instance_sessions:<instance>: "<uuid> <type> <worker type|->",
// where the worker type is the type of the session_uuid:<t> set the session was announced in.
//
// close_session(): the reference's connectionLost (§2.6) plus the slot ownership and instance
// bookkeeping; `ended_session` only for sessions a worker knows about (still in
// session_uuid:<worker type>), so ended_session no longer grows for sessions that never had data.
// KEYS (key_sets::close): 1 session_uuid:<wt>, 2 ended_session, 3 active_uuid_type<t>:<uuid>,
// 4 active_connection:<t>, 5 active_connection_by_uuid:<uuid>,
// 6 map:session-uuid_active_extended_type, 7 active_connection_extended_type:<uuid>,
// 8 server:claims:<t>, 9 map:active_connection-uuid-session_uuid:<uuid>, 10 active_connection,
// 11 server:instance_sessions:<instance>.
inline constexpr std::string_view kCloseFunction = R"lua(
local function close_session(K, session, uuid, t, wt, inst)
  if wt ~= '-' and redis.call('SISMEMBER', K[1], session) == 1 then
    redis.call('SADD', K[2], session)
  end
  if t == '2' or t == '254' then
    redis.call('SREM', K[3], session)
    if redis.call('EXISTS', K[3]) == 0 then
      redis.call('SREM', K[4], uuid)
      redis.call('SREM', K[5], t)
    end
    local ext = redis.call('HGET', K[6], session)
    if ext then
      redis.call('HDEL', K[6], session)
      redis.call('SREM', K[7], ext)
    end
  elseif redis.call('HGET', K[8], uuid) == inst then
    redis.call('HDEL', K[8], uuid)
    redis.call('SREM', K[4], uuid)
    redis.call('SREM', K[5], t)
  end
  redis.call('SREM', K[9], session)
  if redis.call('EXISTS', K[5]) == 0 then
    redis.call('SREM', K[10], uuid)
  end
  redis.call('HDEL', K[11], session)
end
)lua";

// KEYS: key_sets::close. ARGV: session, uuid, type, worker type ('-' if nothing stored), instance.
inline std::string close_script() {
  return std::string(kCloseFunction) + R"lua(
close_session(KEYS, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
)lua";
}

// Ends one session of a dead instance (its heartbeat key expired), read from the instance's
// sessions by the reaper. KEYS: key_sets::close, then 12 server:instance:<instance>. ARGV: as
// close_script(). Returns 1, or -1 if the instance is alive again.
inline std::string reap_session_script() {
  return std::string(kCloseFunction) + R"lua(
if redis.call('EXISTS', KEYS[12]) == 1 then return -1 end
close_session(KEYS, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
)lua";
}

// Forgets a dead instance once the reaper ended its sessions. KEYS: 1 server:instance:<instance>,
// 2 server:instance_sessions:<instance>, 3 server:instances. ARGV: instance. Returns 0, or -1 if
// the instance is alive again (nothing forgotten).
inline constexpr std::string_view kReapFinishScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 0
)lua";

// Takes the (uuid, type) slot after the first packet's HMAC verified. One live connection per
// (uuid, type) except types 2 and 254 (reference rule). A slot held by a dead instance (no
// heartbeat key) is taken over; one held without an owner record (another implementation) is
// respected. Types 2 and 254 are capped per sensor (0: no cap), counting the live sessions of
// both. The caller reads the slot's owner first (HGET server:claims:<t> <uuid>) so that the
// owner's heartbeat key can be declared: ARGV[6] is that owner ('' for none).
// KEYS (key_sets::claim): 1 active_uuid_type2:<uuid>, 2 active_uuid_type254:<uuid>,
// 3 active_connection:<t>, 4 server:claims:<t>, 5 server:instance:<owner read>,
// 6 active_connection_by_uuid:<uuid>, 7 active_connection,
// 8 map:active_connection-uuid-session_uuid:<uuid>, 9 server:instance_sessions:<instance>.
// ARGV: session, uuid, type, instance, cap, owner read. Returns 1 (claimed), 0 (duplicate), 2
// (cap) or 3 (the owner changed since it was read: read again).
inline constexpr std::string_view kClaimScript = R"lua(
local session, uuid, t, inst, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if (t == '2' or t == '254') and cap > 0 and
   redis.call('SCARD', KEYS[1]) + redis.call('SCARD', KEYS[2]) >= cap then
  return 2
end
if t ~= '2' and t ~= '254' then
  if redis.call('SADD', KEYS[3], uuid) == 0 then
    local owner = redis.call('HGET', KEYS[4], uuid)
    if (owner or '') ~= ARGV[6] then return 3 end
    if not owner or owner == inst or redis.call('EXISTS', KEYS[5]) == 1 then
      return 0
    end
  end
  redis.call('HSET', KEYS[4], uuid, inst)
else
  redis.call('SADD', t == '2' and KEYS[1] or KEYS[2], session)
  redis.call('SADD', KEYS[3], uuid)
end
redis.call('SADD', KEYS[6], t)
redis.call('SADD', KEYS[7], uuid)
redis.call('SADD', KEYS[8], session)
redis.call('HSET', KEYS[9], session, uuid .. ' ' .. t .. ' -')
return 1
)lua";

// The 2 -> 254 switch of a connection (reference §2.4). KEYS (key_sets::switch_to_254):
// 1 active_uuid_type2:<uuid>, 2 active_connection:2, 3 active_connection_by_uuid:<uuid>,
// 4 active_connection:254, 5 active_connection, 6 active_uuid_type254:<uuid>,
// 7 server:instance_sessions:<instance>. ARGV: session, uuid.
inline constexpr std::string_view kSwitchTo254Script = R"lua(
local session, uuid = ARGV[1], ARGV[2]
redis.call('SREM', KEYS[1], session)
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], uuid)
  redis.call('SREM', KEYS[3], '2')
end
redis.call('SADD', KEYS[4], uuid)
redis.call('SADD', KEYS[3], '254')
redis.call('SADD', KEYS[5], uuid)
redis.call('SADD', KEYS[6], session)
redis.call('HSET', KEYS[7], session, uuid .. ' 254 2')
return 1
)lua";

// Heartbeat. KEYS: 1 server:instances, 2 server:instance:<instance>. ARGV: instance, ttl ms,
// description. Returns 1 if the instance was already known, 0 if it was not (first beat, or
// another instance reaped it / Redis lost its data).
inline constexpr std::string_view kHeartbeatScript = R"lua(
local known = redis.call('SISMEMBER', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
return known
)lua";

// Policy state kept in the stream Redis. Converts kicks requested the reference way
// (server:sensor_to_kick, UUIDs possibly dashed), which the caller read first, into the
// server:kicks timeline every instance reads, expires old kicks, and returns {now ms, kicks with
// scores, Error:IncorrectType members}. KEYS: 1 server:sensor_to_kick, 2 server:kicks,
// 3 Error:IncorrectType, then temp_blacklist_uuid:<uuid> of each kicked member. ARGV: temporary
// block seconds after a kick, kick retention ms, then the kicked members as read (KEYS[3 + i] is
// ARGV[2 + i]'s temporary block).
inline constexpr std::string_view kPolicyStreamScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 3, #ARGV do
  local u = ARGV[i]
  if redis.call('SREM', KEYS[1], u) == 1 then
    local nu = string.lower((string.gsub(u, '-', '')))
    redis.call('SET', KEYS[i + 1], '1', 'EX', ARGV[1])
    redis.call('ZADD', KEYS[2], now, 'uuid:' .. nu)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
return {now, redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES'), redis.call('SMEMBERS', KEYS[3])}
)lua";

// Cluster layout: applies one stored batch's outbox item (keys::session_outbox) to the live slot,
// once: a session's batches are numbered from 1 and relayed in order, and the live slot keeps the
// number of the last one applied (keys::kRelayedBatches), so a relay sent again (after a
// reconnect or a failover, or by the reaper of a dead instance) changes nothing.
// KEYS (key_sets::relay): 1 d4:outbox:relayed, 2 d4:backlog:session, 3 d4:backlog:sensor,
// 4 session_uuid:<worker type>, 5 server:instance_sessions:<instance>.
// ARGV: session, batch number, bytes, uuid, live-session value ('' : the instance is gone, not
// recorded). Returns {1 applied | 0 already applied, session backlog bytes, sensor backlog bytes}.
// A count this brings to 0 is deleted: d4-worker may have subtracted the batch already (it can
// read the batch between its MULTI and this relay; workers/backlog.hpp), leaving it negative.
inline constexpr std::string_view kRelayScript = R"lua(
local session, n = ARGV[1], tonumber(ARGV[2])
local applied = 0
if tonumber(redis.call('HGET', KEYS[1], session) or '0') < n then
  redis.call('HSET', KEYS[1], session, n)
  if redis.call('HINCRBY', KEYS[2], session, ARGV[3]) == 0 then redis.call('HDEL', KEYS[2], session) end
  if redis.call('HINCRBY', KEYS[3], ARGV[4], ARGV[3]) == 0 then redis.call('HDEL', KEYS[3], ARGV[4]) end
  applied = 1
end
redis.call('SADD', KEYS[4], session)
if ARGV[5] ~= '' then redis.call('HSET', KEYS[5], session, ARGV[5]) end
return {applied, tonumber(redis.call('HGET', KEYS[2], session) or '0'),
        tonumber(redis.call('HGET', KEYS[3], ARGV[4]) or '0')}
)lua";

// Applies one call of a statistics/metadata flush exactly once: KEYS[1] holds the sequence
// number of the last call applied for this worker (ARGV[1] is this call's); a call re-sent after
// a reconnect finds its number already applied and does nothing. Calls of one worker arrive in
// order on one connection, so one key per worker suffices. ARGV[2..] is a flat op list, each op
// a code and its arguments (the types meta_op::* of meta_batch.hpp, encoded by wire_args()):
//   z key incr member        ZINCRBY
//   h key field incr         HINCRBY
//   s key field value        HSET
//   n key field value        HSETNX
//   d key field              HDEL
//   l key value cap          LPUSH + LTRIM 0 cap-1
//   a key member             SADD
//   A key member cap         SADD only while the set has fewer than cap members
//   e key seconds            EXPIRE
//   r zset member incr cap p1 p2
//                            ranks `member` in the top-`cap` zset (Space-Saving: a newcomer
//                            replaces the lowest member and inherits its count) and deletes the
//                            keys p1..<evicted> and p2..<evicted> of the member it replaced
// Returns {operations applied, SADDs refused by their cap}, or -1 for a call already applied.
inline constexpr std::string_view kFlushScript = R"lua(
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', 3600)
local i, n = 2, #ARGV
local ops, refused = 0, 0
while i <= n do
  local op = ARGV[i]
  if op == 'z' then redis.call('ZINCRBY', ARGV[i+1], ARGV[i+2], ARGV[i+3]); i = i + 4
  elseif op == 'h' then redis.call('HINCRBY', ARGV[i+1], ARGV[i+2], ARGV[i+3]); i = i + 4
  elseif op == 's' then redis.call('HSET', ARGV[i+1], ARGV[i+2], ARGV[i+3]); i = i + 4
  elseif op == 'n' then redis.call('HSETNX', ARGV[i+1], ARGV[i+2], ARGV[i+3]); i = i + 4
  elseif op == 'd' then redis.call('HDEL', ARGV[i+1], ARGV[i+2]); i = i + 3
  elseif op == 'l' then
    redis.call('LPUSH', ARGV[i+1], ARGV[i+2]); redis.call('LTRIM', ARGV[i+1], 0, tonumber(ARGV[i+3]) - 1); i = i + 4
  elseif op == 'a' then redis.call('SADD', ARGV[i+1], ARGV[i+2]); i = i + 3
  elseif op == 'A' then
    if redis.call('SISMEMBER', ARGV[i+1], ARGV[i+2]) == 0 then
      if redis.call('SCARD', ARGV[i+1]) < tonumber(ARGV[i+3]) then redis.call('SADD', ARGV[i+1], ARGV[i+2])
      else refused = refused + 1 end
    end
    i = i + 4
  elseif op == 'e' then redis.call('EXPIRE', ARGV[i+1], ARGV[i+2]); i = i + 3
  elseif op == 'r' then
    local z, m, inc, cap = ARGV[i+1], ARGV[i+2], tonumber(ARGV[i+3]), tonumber(ARGV[i+4])
    local floor = 0
    if not redis.call('ZSCORE', z, m) then
      while cap > 0 and redis.call('ZCARD', z) >= cap do
        local low = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
        redis.call('ZREM', z, low[1])
        redis.call('DEL', ARGV[i+5] .. low[1], ARGV[i+6] .. low[1])
        floor = tonumber(low[2])
      end
    end
    redis.call('ZINCRBY', z, inc + floor, m)
    i = i + 7
  else return redis.error_reply('unknown op ' .. tostring(op)) end
  ops = ops + 1
end
return {ops, refused}
)lua";

// The configured accepted types (or extended types) without undoing an operator's changes:
// written only when the set does not exist yet. KEYS: 1 the set. ARGV: the members. Returns 1 if
// it wrote them. (The default key, mode and first date are plain SETs beside it.)
inline constexpr std::string_view kDefaultSetScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 1, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
return 1
)lua";

// An EVAL request: the script, its declared keys, its arguments.
inline std::string eval(std::string_view script, const std::vector<std::string>& keys,
                        const std::vector<std::string>& args) {
  std::string req;
  core::RespWriter w(req);
  w.begin(3 + keys.size() + args.size()).arg("EVAL").arg(script).arg(std::uint64_t{keys.size()});
  for (const auto& k : keys) w.arg(k);
  for (const auto& a : args) w.arg(a);
  return req;
}

// The keys each script declares, named for the key layout (stream Redis: every one in the live
// slot in the cluster layout).
namespace key_sets {
namespace keys = core::keys;
using core::keys::KeyLayout;

inline std::vector<std::string> close(KeyLayout l, std::string_view session, std::string_view uuid,
                                      std::string_view type, std::string_view worker_type,
                                      std::string_view instance) {
  (void)session;
  const bool meta_type = type == "2" || type == "254";
  return {keys::live(l, keys::sessions_of_type(worker_type)),
          keys::live(l, keys::kEndedSessions),
          keys::live(l, type == "2" ? keys::active_uuid_type2(uuid) : keys::active_uuid_type254(uuid)),
          keys::live(l, keys::active_connection_type(type)),
          keys::live(l, keys::active_connection_by_uuid(uuid)),
          keys::live(l, keys::kSessionExtendedType),
          keys::live(l, keys::active_extended_types(uuid)),
          keys::live(l, keys::slot_owners(meta_type ? std::string_view("-") : type)),
          keys::live(l, keys::sessions_of_sensor(uuid)),
          keys::live(l, keys::kActiveConnection),
          keys::live(l, keys::server_instance_sessions(instance))};
}

inline std::vector<std::string> claim(KeyLayout l, std::string_view uuid, std::string_view type,
                                      std::string_view instance, std::string_view owner_read) {
  return {keys::live(l, keys::active_uuid_type2(uuid)),
          keys::live(l, keys::active_uuid_type254(uuid)),
          keys::live(l, keys::active_connection_type(type)),
          keys::live(l, keys::slot_owners(type)),
          keys::live(l, keys::server_instance(owner_read.empty() ? std::string_view("-") : owner_read)),
          keys::live(l, keys::active_connection_by_uuid(uuid)),
          keys::live(l, keys::kActiveConnection),
          keys::live(l, keys::sessions_of_sensor(uuid)),
          keys::live(l, keys::server_instance_sessions(instance))};
}

inline std::vector<std::string> switch_to_254(KeyLayout l, std::string_view uuid, std::string_view instance) {
  return {keys::live(l, keys::active_uuid_type2(uuid)),
          keys::live(l, keys::active_connection_type("2")),
          keys::live(l, keys::active_connection_by_uuid(uuid)),
          keys::live(l, keys::active_connection_type("254")),
          keys::live(l, keys::kActiveConnection),
          keys::live(l, keys::active_uuid_type254(uuid)),
          keys::live(l, keys::server_instance_sessions(instance))};
}

inline std::vector<std::string> heartbeat(KeyLayout l, std::string_view instance) {
  return {keys::live(l, keys::kServerInstances), keys::live(l, keys::server_instance(instance))};
}

inline std::vector<std::string> relay(KeyLayout l, std::string_view uuid, std::string_view worker_type,
                                      std::string_view instance) {
  (void)uuid;
  return {keys::live(l, keys::kRelayedBatches), keys::live(l, keys::kBacklogBytesBySession),
          keys::live(l, keys::kBacklogBytesBySensor), keys::live(l, keys::sessions_of_type(worker_type)),
          keys::live(l, keys::server_instance_sessions(instance))};
}

// A sensor UUID as server:sensor_to_kick may hold it (dashed, any case) as key names write it.
inline std::string normalized_uuid(std::string_view member) {
  std::string u;
  for (char c : member)
    if (c != '-') u.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  return u;
}
}  // namespace key_sets

}  // namespace d4::server::scripts
