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

}  // namespace d4::workers
