#pragma once
// Lua scripts run atomically in Redis by the server. Each keeps one multi-key rule consistent
// across several server processes sharing a Redis. They are sent with EVAL (Redis caches the
// compiled script by its SHA1), so a restarted Redis never answers NOSCRIPT.
#include <string>
#include <string_view>

namespace d4::server::scripts {

// Live-session value in server:instance_sessions:<instance>: "<uuid> <type> <worker type|->",
// where the worker type is the type of the session_uuid:<t> set the session was announced in.
//
// close_session(): the reference's connectionLost (§2.6) plus the slot ownership and instance
// bookkeeping; `ended_session` only for sessions a worker knows about (still in
// session_uuid:<worker type>), so ended_session no longer grows for sessions that never had data.
inline constexpr std::string_view kCloseFunction = R"lua(
local function close_session(session, uuid, t, wt, inst)
  if wt ~= '-' and redis.call('SISMEMBER', 'session_uuid:' .. wt, session) == 1 then
    redis.call('SADD', 'ended_session', session)
  end
  if t == '2' or t == '254' then
    local set = 'active_uuid_type' .. t .. ':' .. uuid
    redis.call('SREM', set, session)
    if redis.call('EXISTS', set) == 0 then
      redis.call('SREM', 'active_connection:' .. t, uuid)
      redis.call('SREM', 'active_connection_by_uuid:' .. uuid, t)
    end
    local ext = redis.call('HGET', 'map:session-uuid_active_extended_type', session)
    if ext then
      redis.call('HDEL', 'map:session-uuid_active_extended_type', session)
      redis.call('SREM', 'active_connection_extended_type:' .. uuid, ext)
    end
  elseif redis.call('HGET', 'server:claims:' .. t, uuid) == inst then
    redis.call('HDEL', 'server:claims:' .. t, uuid)
    redis.call('SREM', 'active_connection:' .. t, uuid)
    redis.call('SREM', 'active_connection_by_uuid:' .. uuid, t)
  end
  redis.call('SREM', 'map:active_connection-uuid-session_uuid:' .. uuid, session)
  if redis.call('EXISTS', 'active_connection_by_uuid:' .. uuid) == 0 then
    redis.call('SREM', 'active_connection', uuid)
  end
  redis.call('HDEL', 'server:instance_sessions:' .. inst, session)
end
)lua";

// ARGV: session, uuid, type, worker type ('-' if nothing stored), instance.
inline std::string close_script() {
  return std::string(kCloseFunction) + R"lua(
close_session(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
)lua";
}

// Ends every session recorded for a dead instance (its heartbeat key expired) and releases its
// slots. ARGV: instance. Returns the number of sessions ended, -1 if the instance is alive.
inline std::string reap_script() {
  return std::string(kCloseFunction) + R"lua(
local inst = ARGV[1]
if redis.call('EXISTS', 'server:instance:' .. inst) == 1 then return -1 end
local h = redis.call('HGETALL', 'server:instance_sessions:' .. inst)
local n = 0
for i = 1, #h, 2 do
  local uuid, t, wt = string.match(h[i + 1], '^(%S+) (%S+) (%S+)$')
  if uuid then
    close_session(h[i], uuid, t, wt, inst)
    n = n + 1
  end
end
redis.call('DEL', 'server:instance_sessions:' .. inst)
redis.call('SREM', 'server:instances', inst)
return n
)lua";
}

// Takes the (uuid, type) slot after the first packet's HMAC verified. One live connection per
// (uuid, type) except types 2 and 254 (reference rule). A slot held by a dead instance (no
// heartbeat key) is taken over; one held without an owner record (another implementation) is
// respected. Types 2 and 254 are capped per sensor (0: no cap), counting the live sessions of
// both. ARGV: session, uuid, type, instance, cap. Returns 1 (claimed), 0 (duplicate) or 2 (cap).
inline constexpr std::string_view kClaimScript = R"lua(
local session, uuid, t, inst, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if (t == '2' or t == '254') and cap > 0 and
   redis.call('SCARD', 'active_uuid_type2:' .. uuid) + redis.call('SCARD', 'active_uuid_type254:' .. uuid) >= cap then
  return 2
end
if t ~= '2' and t ~= '254' then
  if redis.call('SADD', 'active_connection:' .. t, uuid) == 0 then
    local owner = redis.call('HGET', 'server:claims:' .. t, uuid)
    if not owner or owner == inst or redis.call('EXISTS', 'server:instance:' .. owner) == 1 then
      return 0
    end
  end
  redis.call('HSET', 'server:claims:' .. t, uuid, inst)
else
  redis.call('SADD', 'active_uuid_type' .. t .. ':' .. uuid, session)
  redis.call('SADD', 'active_connection:' .. t, uuid)
end
redis.call('SADD', 'active_connection_by_uuid:' .. uuid, t)
redis.call('SADD', 'active_connection', uuid)
redis.call('SADD', 'map:active_connection-uuid-session_uuid:' .. uuid, session)
redis.call('HSET', 'server:instance_sessions:' .. inst, session, uuid .. ' ' .. t .. ' -')
return 1
)lua";

// The 2 -> 254 switch of a connection (reference §2.4). ARGV: session, uuid, instance.
inline constexpr std::string_view kSwitchTo254Script = R"lua(
local session, uuid, inst = ARGV[1], ARGV[2], ARGV[3]
redis.call('SREM', 'active_uuid_type2:' .. uuid, session)
if redis.call('EXISTS', 'active_uuid_type2:' .. uuid) == 0 then
  redis.call('SREM', 'active_connection:2', uuid)
  redis.call('SREM', 'active_connection_by_uuid:' .. uuid, '2')
end
redis.call('SADD', 'active_connection:254', uuid)
redis.call('SADD', 'active_connection_by_uuid:' .. uuid, '254')
redis.call('SADD', 'active_connection', uuid)
redis.call('SADD', 'active_uuid_type254:' .. uuid, session)
redis.call('HSET', 'server:instance_sessions:' .. inst, session, uuid .. ' 254 2')
return 1
)lua";

// Heartbeat. ARGV: instance, ttl ms, description. Returns 1 if the instance was already known,
// 0 if it was not (first beat, or another instance reaped it / Redis lost its data).
inline constexpr std::string_view kHeartbeatScript = R"lua(
local known = redis.call('SISMEMBER', 'server:instances', ARGV[1])
redis.call('SET', 'server:instance:' .. ARGV[1], ARGV[3], 'PX', ARGV[2])
redis.call('SADD', 'server:instances', ARGV[1])
return known
)lua";

// Policy state kept in the stream Redis. Converts kicks requested the reference way
// (server:sensor_to_kick, UUIDs possibly dashed) into the server:kicks timeline every instance
// reads, expires old kicks, and returns {now ms, kicks with scores, Error:IncorrectType members}.
// ARGV: temporary block seconds after a kick, kick retention ms.
inline constexpr std::string_view kPolicyStreamScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, u in ipairs(redis.call('SMEMBERS', 'server:sensor_to_kick')) do
  local nu = string.lower((string.gsub(u, '-', '')))
  redis.call('SET', 'temp_blacklist_uuid:' .. nu, '1', 'EX', ARGV[1])
  redis.call('ZADD', 'server:kicks', now, 'uuid:' .. nu)
  redis.call('SREM', 'server:sensor_to_kick', u)
end
redis.call('ZREMRANGEBYSCORE', 'server:kicks', '-inf', now - tonumber(ARGV[2]))
return {now, redis.call('ZRANGE', 'server:kicks', 0, -1, 'WITHSCORES'), redis.call('SMEMBERS', 'Error:IncorrectType')}
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

// Writes the configured defaults without undoing an operator's changes: accepted types only when
// the set does not exist yet. ARGV: default key, mode, date, then "t:<type>" / "e:<ext>" items.
inline constexpr std::string_view kStartupScript = R"lua(
redis.call('SET', 'server:hmac_default_key', ARGV[1])
redis.call('SET', 'server:mode', ARGV[2])
redis.call('SET', 'first_date', ARGV[3], 'NX')
local fresh_t = redis.call('EXISTS', 'server:accepted_type') == 0
local fresh_e = redis.call('EXISTS', 'server:accepted_extended_type') == 0
for i = 4, #ARGV do
  local kind, v = string.sub(ARGV[i], 1, 1), string.sub(ARGV[i], 3)
  if kind == 't' and fresh_t then redis.call('SADD', 'server:accepted_type', v) end
  if kind == 'e' and fresh_e then redis.call('SADD', 'server:accepted_extended_type', v) end
end
return {fresh_t and 1 or 0, fresh_e and 1 or 0}
)lua";

}  // namespace d4::server::scripts
