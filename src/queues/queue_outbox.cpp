#include "queues/queue_outbox.hpp"

#include <charconv>
#include <set>

#include <fmt/format.h>

#include "core/keys.hpp"

namespace d4::queues {
namespace {

// Lua: removes the leading entries numbered at most ARGV[1] (an entry starts with its number and
// a newline); returns how many. A second relay of the same entries removes nothing more.
constexpr std::string_view kTrimScript = R"lua(
local through = tonumber(ARGV[1])
local n = 0
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local seq = tonumber(string.match(head, '^(%d+)\n'))
  if not seq or seq > through then break end
  redis.call('LPOP', KEYS[1])
  n = n + 1
end
return n
)lua";

// Outbox entries read per round: a round ends at the first entry of a queue already in it, so
// reading many (up to 1000 items each) would mostly read them again in the next rounds.
constexpr long long kEntriesPerRead = 16;
constexpr std::size_t kItemsPerEntry = 1000;  // as the direct pushes (Lua's unpack() limit)

// "<decimal>\n" at pos.
template <typename T>
bool read_number(std::string_view text, std::size_t& pos, T& out) {
  auto end = text.find('\n', pos);
  if (end == std::string_view::npos) return false;
  auto [p, ec] = std::from_chars(text.data() + pos, text.data() + end, out);
  if (ec != std::errc() || p != text.data() + end) return false;
  pos = end + 1;
  return true;
}

bool read_line(std::string_view text, std::size_t& pos, std::string& out) {
  auto end = text.find('\n', pos);
  if (end == std::string_view::npos) return false;
  out.assign(text.substr(pos, end - pos));
  pos = end + 1;
  return true;
}

}  // namespace

std::string queue_applied_record(std::string_view list_key, std::string_view origin) {
  return core::keys::cat({"d4:queue:applied:{", list_key, "}:", origin});
}

// Format: seq, max size, time, list key, statistics key, item count, one per line; then each item
// as "<length>\n<bytes>" (items are binary).
std::string encode_outbox_entry(const OutboxEntry& e) {
  std::string out = fmt::format("{}\n{}\n{:.6f}\n{}\n{}\n{}\n", e.seq, e.destination.max_size, e.now,
                                e.destination.list_key, e.destination.stats_key, e.items.size());
  for (const auto& item : e.items) {
    out += std::to_string(item.size());
    out += '\n';
    out += item;
  }
  return out;
}

bool decode_outbox_entry(std::string_view text, OutboxEntry& out) {
  std::size_t pos = 0;
  std::string now;
  std::size_t count = 0;
  if (!read_number(text, pos, out.seq) || !read_number(text, pos, out.destination.max_size) ||
      !read_line(text, pos, now) || !read_line(text, pos, out.destination.list_key) ||
      !read_line(text, pos, out.destination.stats_key) || !read_number(text, pos, count))
    return false;
  auto [p, ec] = std::from_chars(now.data(), now.data() + now.size(), out.now);
  if (ec != std::errc() || p != now.data() + now.size()) return false;
  out.items.clear();
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t length = 0;
    if (!read_number(text, pos, length) || text.size() - pos < length) return false;
    out.items.emplace_back(text.substr(pos, length));
    pos += length;
  }
  return pos == text.size();
}

void append_outbox_commands(std::vector<std::vector<std::string>>& out, const std::string& outbox_key,
                            std::uint64_t& next_seq, const QueueDestination& dest,
                            std::vector<std::string>::const_iterator begin,
                            std::vector<std::string>::const_iterator end, double now) {
  while (begin != end) {
    OutboxEntry e;
    e.destination = dest;
    e.now = now;
    for (std::size_t n = 0; begin != end && n < kItemsPerEntry; ++begin, ++n)
      if (!begin->empty()) e.items.push_back(*begin);  // the reference never queues empty items
    if (e.items.empty()) continue;
    e.seq = next_seq++;
    out.push_back({"RPUSH", outbox_key, encode_outbox_entry(e)});
  }
}

RelayResult relay_outbox(core::RedisClient& analyzer, const std::string& outbox_key, std::string_view origin,
                         std::size_t max_entries) {
  RelayResult result;
  const std::string ttl = std::to_string(kAppliedRecordTtlSeconds);
  while (result.entries < max_entries) {
    auto head = analyzer.command({"LRANGE", outbox_key, "0", std::to_string(kEntriesPerRead - 1)});
    if (head.is_error()) throw core::RedisError("LRANGE " + outbox_key + ": " + head.str);
    if (head.elements.empty()) {
      result.empty = true;
      return result;
    }
    // One round: leading entries of distinct queues. Should a push fail, no later entry of the
    // same queue has been applied past it (its record would then skip the failed one).
    std::vector<OutboxEntry> round;
    std::set<std::string> lists;
    for (const auto& el : head.elements) {
      if (result.entries + round.size() >= max_entries) break;
      OutboxEntry e;
      if (!decode_outbox_entry(el.str, e)) {
        if (!round.empty()) break;  // the entries before it first
        throw QueueError("outbox " + outbox_key + ": an entry that is not an outbox entry (" +
                         std::to_string(el.str.size()) + " bytes); kept, the relay stops there");
      }
      if (!lists.insert(e.destination.list_key).second) break;
      round.push_back(std::move(e));
    }
    std::vector<std::vector<std::string>> cmds;
    for (const auto& e : round) {
      std::vector<std::string> cmd{"EVAL",
                                   push_once_script_text(),
                                   "3",
                                   e.destination.list_key,
                                   e.destination.stats_key,
                                   queue_applied_record(e.destination.list_key, origin),
                                   std::to_string(std::max<long long>(0, e.destination.max_size)),
                                   fmt::format("{:.6f}", e.now),
                                   std::to_string(e.seq),
                                   ttl};
      cmd.insert(cmd.end(), e.items.begin(), e.items.end());
      cmds.push_back(std::move(cmd));
    }
    auto replies = analyzer.pipeline(cmds);
    std::size_t applied = 0;
    std::string failure;
    for (; applied < replies.size(); ++applied) {
      const auto& r = replies[applied];
      if (r.is_error()) {
        failure = r.str;
        break;
      }
      if (r.integer < 0)
        ++result.skipped;
      else
        result.dropped += r.integer;
    }
    if (applied > 0) {
      auto trimmed =
          analyzer.command({"EVAL", kTrimScript, "1", outbox_key, std::to_string(round[applied - 1].seq)});
      if (trimmed.is_error()) throw core::RedisError("outbox trim " + outbox_key + ": " + trimmed.str);
      result.entries += applied;
    }
    if (!failure.empty())
      throw core::RedisError("outbox " + outbox_key + ": push to " + round[applied].destination.list_key +
                             " failed: " + failure);
  }
  return result;
}

}  // namespace d4::queues
