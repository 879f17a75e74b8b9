#include "workers/backlog.hpp"

#include <string_view>

namespace d4::workers {

const char* const kReleaseBacklogLua = R"lua(
local left = tonumber(redis.call('HGET', 'd4:backlog:session', session) or '0')
redis.call('HDEL', 'd4:backlog:session', session)
if left > 0 and sensor ~= '' and redis.call('HINCRBY', 'd4:backlog:sensor', sensor, -left) <= 0 then
  redis.call('HDEL', 'd4:backlog:sensor', sensor)
end
)lua";

namespace {

// KEYS[1] stream; ARGV: min id, session, sensor, bytes. Returns the entries removed.
constexpr std::string_view kTrimScript = R"lua(
local removed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
local bytes = tonumber(ARGV[4])
if removed > 0 and bytes > 0 then
  if redis.call('HINCRBY', 'd4:backlog:session', ARGV[2], -bytes) <= 0 then
    redis.call('HDEL', 'd4:backlog:session', ARGV[2])
  end
  if ARGV[3] ~= '' and redis.call('HINCRBY', 'd4:backlog:sensor', ARGV[3], -bytes) <= 0 then
    redis.call('HDEL', 'd4:backlog:sensor', ARGV[3])
  end
end
return removed
)lua";

// Cluster layout. KEYS: 1 {live}:d4:backlog:trimmed, 2 {live}:d4:backlog:session,
// 3 {live}:d4:backlog:sensor. ARGV: stream key, min id, session, sensor, bytes. Returns 1, or 0
// when this trim point (or a later one) was already applied.
constexpr std::string_view kCountTrimmedScript = R"lua(
local function id_parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local ms, seq = id_parts(ARGV[2])
local last = redis.call('HGET', KEYS[1], ARGV[1])
if last then
  local last_ms, last_seq = id_parts(last)
  if last_ms > ms or (last_ms == ms and last_seq >= seq) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local bytes = tonumber(ARGV[5])
if bytes > 0 then
  if redis.call('HINCRBY', KEYS[2], ARGV[3], -bytes) == 0 then redis.call('HDEL', KEYS[2], ARGV[3]) end
  if ARGV[4] ~= '' and redis.call('HINCRBY', KEYS[3], ARGV[4], -bytes) == 0 then
    redis.call('HDEL', KEYS[3], ARGV[4])
  end
end
return 1
)lua";

// Cluster layout. KEYS: 1 {live}:d4:backlog:session, 2 {live}:d4:backlog:sensor,
// 3 {live}:d4:backlog:trimmed. ARGV: session, sensor, then the session's stream keys.
constexpr std::string_view kClusterReleaseScript = R"lua(
local session, sensor = ARGV[1], ARGV[2]
local left = tonumber(redis.call('HGET', KEYS[1], session) or '0')
redis.call('HDEL', KEYS[1], session)
if left ~= 0 and sensor ~= '' and redis.call('HINCRBY', KEYS[2], sensor, -left) == 0 then
  redis.call('HDEL', KEYS[2], sensor)
end
for i = 3, #ARGV do redis.call('HDEL', KEYS[3], ARGV[i]) end
return 1
)lua";

constexpr auto kCluster = core::keys::KeyLayout::Cluster;

}  // namespace

std::vector<std::string> trim_and_count_command(const std::string& stream_key, const std::string& min_id,
                                                const std::string& session, const std::string& sensor,
                                                std::uint64_t bytes) {
  return {"EVAL", std::string(kTrimScript), "1", stream_key, min_id, session, sensor, std::to_string(bytes)};
}

std::vector<std::string> release_backlog_command(const std::string& session, const std::string& sensor) {
  return {"EVAL", "local session, sensor = ARGV[1], ARGV[2]\n" + std::string(kReleaseBacklogLua) + "return 1",
          "0", session, sensor};
}

std::vector<std::string> count_trimmed_command(const std::string& stream_key, const std::string& min_id,
                                               const std::string& session, const std::string& sensor,
                                               std::uint64_t bytes) {
  return {"EVAL",
          std::string(kCountTrimmedScript),
          "3",
          core::keys::live(kCluster, core::keys::kBacklogTrimPoints),
          core::keys::live(kCluster, core::keys::kBacklogBytesBySession),
          core::keys::live(kCluster, core::keys::kBacklogBytesBySensor),
          stream_key,
          min_id,
          session,
          sensor,
          std::to_string(bytes)};
}

std::vector<std::string> release_backlog_command(core::keys::KeyLayout layout, const std::string& session,
                                                 const std::string& sensor,
                                                 const std::vector<std::string>& stream_keys) {
  if (layout == core::keys::KeyLayout::Reference) return release_backlog_command(session, sensor);
  std::vector<std::string> cmd{"EVAL",
                               std::string(kClusterReleaseScript),
                               "3",
                               core::keys::live(kCluster, core::keys::kBacklogBytesBySession),
                               core::keys::live(kCluster, core::keys::kBacklogBytesBySensor),
                               core::keys::live(kCluster, core::keys::kBacklogTrimPoints),
                               session,
                               sensor};
  cmd.insert(cmd.end(), stream_keys.begin(), stream_keys.end());
  return cmd;
}

}  // namespace d4::workers
