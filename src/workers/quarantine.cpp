#include "workers/quarantine.hpp"

#include <ctime>
#include <system_error>

#include <fmt/format.h>

#include "core/keys.hpp"
#include "workers/backlog.hpp"

namespace d4::workers {
namespace {

// ARGV: session, type, sensor, reason, now, max bytes, max sessions, stream types...
// Returns {entries, bytes, kept (0/1), evicted sessions, evicted entries}.
constexpr std::string_view kDeadLetterHead = R"lua(
local session, t, sensor, reason, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local max_bytes, max_sessions = tonumber(ARGV[6]), tonumber(ARGV[7])
local index, stats = 'd4:deadletter', 'd4:deadletter:stats'
local entries, bytes, moved = 0, 0, {}
for i = 8, #ARGV do
  local src = 'stream:' .. ARGV[i] .. ':' .. session
  if redis.call('EXISTS', src) == 1 then
    local dst = 'd4:deadletter:stream:' .. ARGV[i] .. ':' .. session
    entries = entries + redis.call('XLEN', src)
    bytes = bytes + (redis.call('MEMORY', 'USAGE', src) or 0)
    redis.call('RENAME', src, dst)
    moved[#moved + 1] = dst
  end
end
-- The data left the session: its unprocessed-bytes count goes with it (d4:backlog:*).
)lua";
constexpr std::string_view kDeadLetterTail = R"lua(
if #moved == 0 then return {0, 0, 1, 0, 0} end
redis.call('HSET', 'd4:deadletter:info:' .. session, 'sensor', sensor, 'type', t, 'reason', reason,
           'time', now, 'entries', entries, 'bytes', bytes, 'keys', table.concat(moved, ' '))
redis.call('ZADD', index, now, session)
redis.call('HINCRBY', stats, 'moved_sessions', 1)
redis.call('HINCRBY', stats, 'held_sessions', 1)
redis.call('HINCRBY', stats, 'held_entries', entries)
redis.call('HINCRBY', stats, 'held_bytes', bytes)
local kept, ev_sessions, ev_entries = 1, 0, 0
while tonumber(redis.call('HGET', stats, 'held_bytes') or '0') > max_bytes or
      redis.call('ZCARD', index) > max_sessions do
  local oldest = redis.call('ZPOPMIN', index)
  if #oldest == 0 then break end
  local info = 'd4:deadletter:info:' .. oldest[1]
  local e = tonumber(redis.call('HGET', info, 'entries') or '0')
  local b = tonumber(redis.call('HGET', info, 'bytes') or '0')
  for k in string.gmatch(redis.call('HGET', info, 'keys') or '', '%S+') do redis.call('DEL', k) end
  redis.call('DEL', info)
  redis.call('HINCRBY', stats, 'held_sessions', -1)
  redis.call('HINCRBY', stats, 'held_entries', -e)
  redis.call('HINCRBY', stats, 'held_bytes', -b)
  redis.call('HINCRBY', stats, 'evicted_sessions', 1)
  redis.call('HINCRBY', stats, 'evicted_entries', e)
  redis.call('HINCRBY', stats, 'evicted_bytes', b)
  if oldest[1] == session then kept = 0 end
  ev_sessions = ev_sessions + 1
  ev_entries = ev_entries + e
end
return {entries, bytes, kept, ev_sessions, ev_entries}
)lua";

const std::string& dead_letter_script() {
  static const std::string script =
      std::string(kDeadLetterHead) + kReleaseBacklogLua + std::string(kDeadLetterTail);
  return script;
}

}  // namespace

bool is_environment_error(const std::exception& e) {
  return dynamic_cast<const std::system_error*>(&e) != nullptr;
}

DeadLetterResult move_to_dead_letter(core::RedisClient& stream, const std::string& session,
                                     const std::vector<int>& stream_types, const std::string& type,
                                     const std::string& sensor, const std::string& reason,
                                     const DeadLetterBudget& budget) {
  std::vector<std::string> cmd{"EVAL",
                               dead_letter_script(),
                               "0",
                               session,
                               type,
                               sensor,
                               reason.substr(0, 500),
                               std::to_string(std::time(nullptr)),
                               std::to_string(budget.max_bytes),
                               std::to_string(budget.max_sessions)};
  for (int t : stream_types) cmd.push_back(std::to_string(t));
  auto r = stream.command(cmd);
  if (r.is_error()) throw core::RedisError("dead letter: " + r.str);
  DeadLetterResult out;
  if (r.elements.size() == 5) {
    out.entries = r.elements[0].integer;
    out.bytes = r.elements[1].integer;
    out.kept = r.elements[2].integer == 1;
    out.evicted_sessions = r.elements[3].integer;
    out.evicted_entries = r.elements[4].integer;
  }
  return out;
}

std::string describe_dead_letter(const DeadLetterResult& r, const std::string& session) {
  if (r.entries == 0) return "no unprocessed entries were left";
  if (!r.kept)
    return fmt::format("{} unprocessed entries dropped: larger than the whole dead-letter budget", r.entries);
  std::string s = fmt::format("{} unprocessed entries moved to the dead letters ({})", r.entries,
                              core::keys::dead_letter_info(session));
  if (r.evicted_sessions > 0)
    s += fmt::format("; {} older dead-letter session(s) with {} entries dropped to stay within the budget",
                     r.evicted_sessions, r.evicted_entries);
  return s;
}

}  // namespace d4::workers
