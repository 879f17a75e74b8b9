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

// ---- cluster layout: three kinds of call, each in one slot ----
// Why a crash between them loses and duplicates nothing:
//   1. kMoveToDeadLetterScript (the session's slot) renames the streams and writes the info hash,
//      the record of the move. Repeated while that hash exists, it moves nothing more and returns
//      what the first call moved: a worker that died after it does not move the same data twice.
//      Until the quarantine is committed (the progress marked "quarantined") the session's failures
//      stay counted, and the next owner that finds them together with the info hash finishes the
//      quarantine (TypeRunner::try_claim): steps 2 and 3 then run with the recorded figures.
//   2. kRegisterDeadLetterScript (the live slot) adds the session to the index with ZADD NX: only
//      the call that adds it counts it, so a repetition counts nothing twice. It names the oldest
//      sessions the budget must drop, but removes none of them.
//   3. The named sessions' keys are deleted, each in its own slot (DEL of missing keys does
//      nothing), and only then kRetireDeadLetterScript (the live slot) removes them from the index
//      and moves their figures from held_* to evicted_*, gated by ZREM: a session is counted as
//      evicted once. A worker that dies before that leaves them in the index, still counted as
//      held, and the next quarantine names them again and retires them: nothing dropped goes
//      uncounted, nothing is counted twice.
// The backlog count of the session is released between 1 and 2 (a second release finds no count).

// KEYS: 1 info hash, then per stream its key and its dead-letter key. ARGV: sensor, type, reason,
// now. Returns {entries, bytes, moved keys (space-separated), time moved}.
constexpr std::string_view kMoveToDeadLetterScript = R"lua(
local info = KEYS[1]
if redis.call('EXISTS', info) == 1 then
  local h = redis.call('HMGET', info, 'entries', 'bytes', 'keys', 'time')
  return {tonumber(h[1] or '0'), tonumber(h[2] or '0'), h[3] or '', h[4] or ARGV[4]}
end
local entries, bytes, moved = 0, 0, {}
for i = 2, #KEYS, 2 do
  local src, dst = KEYS[i], KEYS[i + 1]
  if redis.call('EXISTS', src) == 1 then
    entries = entries + redis.call('XLEN', src)
    bytes = bytes + (redis.call('MEMORY', 'USAGE', src) or 0)
    redis.call('RENAME', src, dst)
    moved[#moved + 1] = dst
  end
end
if #moved == 0 then return {0, 0, '', ARGV[4]} end
redis.call('HSET', info, 'sensor', ARGV[1], 'type', ARGV[2], 'reason', ARGV[3], 'time', ARGV[4],
           'entries', entries, 'bytes', bytes, 'keys', table.concat(moved, ' '))
return {entries, bytes, table.concat(moved, ' '), ARGV[4]}
)lua";

// KEYS: index, stats, held. ARGV: session, time, entries, bytes, moved keys, max bytes, max
// sessions. Returns the sessions to drop, oldest first, each followed by its keys
// (space-separated; its info hash first).
constexpr std::string_view kRegisterDeadLetterScript = R"lua(
local index, stats, held = KEYS[1], KEYS[2], KEYS[3]
local session, entries, bytes = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('ZADD', index, 'NX', ARGV[2], session) == 1 then
  redis.call('HSET', held, session, ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[5])
  redis.call('HINCRBY', stats, 'moved_sessions', 1)
  redis.call('HINCRBY', stats, 'held_sessions', 1)
  redis.call('HINCRBY', stats, 'held_entries', entries)
  redis.call('HINCRBY', stats, 'held_bytes', bytes)
end
local max_bytes, max_sessions = tonumber(ARGV[6]), tonumber(ARGV[7])
local held_bytes = tonumber(redis.call('HGET', stats, 'held_bytes') or '0')
local count = redis.call('ZCARD', index)
local drop = {}
if held_bytes <= max_bytes and count <= max_sessions then return drop end
for _, s in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  if held_bytes <= max_bytes and count <= max_sessions then break end
  local b, keys = string.match(redis.call('HGET', held, s) or '0 0 ', '^%S+ (%S+) ?(.*)$')
  drop[#drop + 1] = s
  drop[#drop + 1] = keys or ''
  held_bytes = held_bytes - (tonumber(b) or 0)
  count = count - 1
end
return drop
)lua";

// KEYS: index, stats, held. ARGV: the dropped sessions (their keys already deleted). Returns
// {sessions, entries} counted as evicted by this call.
constexpr std::string_view kRetireDeadLetterScript = R"lua(
local index, stats, held = KEYS[1], KEYS[2], KEYS[3]
local ev_sessions, ev_entries = 0, 0
for i = 1, #ARGV do
  local s = ARGV[i]
  if redis.call('ZREM', index, s) == 1 then
    local e, b = string.match(redis.call('HGET', held, s) or '0 0', '^(%S+) (%S+)')
    e, b = tonumber(e) or 0, tonumber(b) or 0
    redis.call('HDEL', held, s)
    redis.call('HINCRBY', stats, 'held_sessions', -1)
    redis.call('HINCRBY', stats, 'held_entries', -e)
    redis.call('HINCRBY', stats, 'held_bytes', -b)
    redis.call('HINCRBY', stats, 'evicted_sessions', 1)
    redis.call('HINCRBY', stats, 'evicted_entries', e)
    redis.call('HINCRBY', stats, 'evicted_bytes', b)
    ev_sessions = ev_sessions + 1
    ev_entries = ev_entries + e
  end
end
return {ev_sessions, ev_entries}
)lua";

std::vector<std::string> split_key_list(const std::string& text) {
  std::vector<std::string> words;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) words.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return words;
}

core::RedisReply checked_reply(core::RedisReply r, std::string_view what) {
  if (r.is_error()) throw core::RedisError(fmt::format("dead letter ({}): {}", what, r.str));
  return r;
}

DeadLetterResult move_to_dead_letter_in_cluster(core::RedisClient& stream, const std::string& session,
                                                const std::vector<int>& stream_types, const std::string& type,
                                                const std::string& sensor, const std::string& reason,
                                                const DeadLetterBudget& budget) {
  namespace keys = core::keys;
  const auto cluster = keys::KeyLayout::Cluster;
  const std::string info = keys::dead_letter_info(session, cluster);
  std::vector<std::string> move{"EVAL", std::string(kMoveToDeadLetterScript),
                                std::to_string(1 + 2 * stream_types.size()), info};
  for (int t : stream_types) {
    move.push_back(keys::stream(cluster, std::to_string(t), session));
    move.push_back(keys::dead_letter_stream(std::to_string(t), session, cluster));
  }
  for (const auto& a : {sensor, type, reason.substr(0, 500), std::to_string(std::time(nullptr))})
    move.push_back(a);
  auto moved = checked_reply(stream.command(move), "move");
  DeadLetterResult out;
  out.kept = true;
  if (moved.elements.size() != 4) throw core::RedisError("dead letter (move): unexpected reply");
  out.entries = moved.elements[0].integer;
  out.bytes = moved.elements[1].integer;
  const std::string moved_keys = moved.elements[2].str, time = moved.elements[3].str;

  checked_reply(stream.command(release_backlog_command(cluster, session, sensor, {})), "backlog");
  if (moved_keys.empty()) return out;

  const std::vector<std::string> live_keys{keys::live(cluster, keys::kDeadLetters),
                                           keys::live(cluster, keys::kDeadLetterStats),
                                           keys::live(cluster, keys::kDeadLettersHeld)};
  std::vector<std::string> reg{"EVAL", std::string(kRegisterDeadLetterScript), "3"};
  reg.insert(reg.end(), live_keys.begin(), live_keys.end());
  for (const auto& a :
       {session, time, std::to_string(out.entries), std::to_string(out.bytes), info + " " + moved_keys,
        std::to_string(budget.max_bytes), std::to_string(budget.max_sessions)})
    reg.push_back(a);
  auto drop = checked_reply(stream.command(reg), "register").as_strings();
  if (drop.empty()) return out;

  std::vector<std::string> retire{"EVAL", std::string(kRetireDeadLetterScript), "3"};
  retire.insert(retire.end(), live_keys.begin(), live_keys.end());
  for (std::size_t i = 0; i + 1 < drop.size(); i += 2) {
    // Each dropped session's keys share its slot: one DEL each.
    std::vector<std::string> del{"DEL"};
    for (auto& k : split_key_list(drop[i + 1])) del.push_back(std::move(k));
    if (del.size() > 1) checked_reply(stream.command(del), "drop");
    retire.push_back(drop[i]);
    if (drop[i] == session) out.kept = false;
  }
  auto evicted = checked_reply(stream.command(retire), "retire");
  if (evicted.elements.size() == 2) {
    out.evicted_sessions = evicted.elements[0].integer;
    out.evicted_entries = evicted.elements[1].integer;
  }
  return out;
}

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
                                     const DeadLetterBudget& budget, core::keys::KeyLayout layout) {
  if (layout == core::keys::KeyLayout::Cluster)
    return move_to_dead_letter_in_cluster(stream, session, stream_types, type, sensor, reason, budget);
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

std::string describe_dead_letter(const DeadLetterResult& r, const std::string& session,
                                 core::keys::KeyLayout layout) {
  if (r.entries == 0) return "no unprocessed entries were left";
  if (!r.kept)
    return fmt::format("{} unprocessed entries dropped: larger than the whole dead-letter budget", r.entries);
  std::string s = fmt::format("{} unprocessed entries moved to the dead letters ({})", r.entries,
                              core::keys::dead_letter_info(session, layout));
  if (r.evicted_sessions > 0)
    s += fmt::format("; {} older dead-letter session(s) with {} entries dropped to stay within the budget",
                     r.evicted_sessions, r.evicted_entries);
  return s;
}

}  // namespace d4::workers
