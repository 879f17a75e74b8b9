#include "core/redis_cluster.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "protocol/text.hpp"

namespace d4::core {
namespace {

// CRC16-CCITT as XMODEM computes it (polynomial 0x1021, initial value 0, no reflection): the
// checksum Redis Cluster hashes keys with.
constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
    for (int b = 0; b < 8; ++b)
      crc = static_cast<std::uint16_t>(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    t[i] = crc;
  }
  return t;
}
constexpr auto kCrc16Table = make_crc16_table();

std::uint16_t crc16_xmodem(std::string_view s) {
  std::uint16_t crc = 0;
  for (unsigned char c : s)
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

bool cluster_name_is(std::string_view a, std::string_view b) {
  return text::iequals(a, b);  // command names in any case
}

bool cluster_name_in(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::any_of(names.begin(), names.end(),
                     [&](std::string_view n) { return cluster_name_is(name, n); });
}

bool cluster_parse_int(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// args[i], args[i+1], ... up to `end` (exclusive), every `step`-th.
void cluster_take(const std::vector<std::string_view>& args, std::size_t i, std::size_t end, std::size_t step,
                  std::vector<std::string_view>& keys) {
  for (; i < end && i < args.size(); i += step) keys.push_back(args[i]);
}

// "<numkeys> key..." at args[at]: the count, then that many keys.
void cluster_take_counted(const std::vector<std::string_view>& args, std::size_t at,
                          std::vector<std::string_view>& keys) {
  int n = 0;
  if (at < args.size() && cluster_parse_int(args[at], n) && n > 0)
    cluster_take(args, at + 1, at + 1 + static_cast<std::size_t>(n), 1, keys);
}

}  // namespace

int cluster_key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16_xmodem(key) & (kClusterSlots - 1);
}

const std::string& cluster_slot_tag(int slot) {
  // Numbers in increasing order until every slot has one (about 170,000 checksums of short
  // strings; bounded in case the checksum ever missed a slot).
  static const std::vector<std::string> tags = [] {
    std::vector<std::string> t(kClusterSlots);
    int found = 0;
    for (unsigned n = 0; found < kClusterSlots && n < 100'000'000; ++n) {
      std::string s = std::to_string(n);
      auto& entry = t[static_cast<std::size_t>(crc16_xmodem(s) & (kClusterSlots - 1))];
      if (entry.empty()) {
        entry = std::move(s);
        ++found;
      }
    }
    if (found < kClusterSlots) throw std::logic_error("cluster_slot_tag: a slot has no decimal tag");
    return t;
  }();
  return tags.at(static_cast<std::size_t>(slot));
}

std::vector<std::string_view> cluster_command_keys(const std::vector<std::string_view>& args) {
  std::vector<std::string_view> keys;
  if (args.size() < 2) return keys;
  std::string_view name = args[0];
  const std::size_t n = args.size();
  if (cluster_name_in(
          name, {"PING",     "ECHO",     "INFO",      "AUTH",         "HELLO",   "SELECT",    "ROLE",
                 "MULTI",    "EXEC",     "DISCARD",   "UNWATCH",      "SCRIPT",  "FUNCTION",  "CLUSTER",
                 "CONFIG",   "CLIENT",   "TIME",      "WAIT",         "DBSIZE",  "FLUSHDB",   "FLUSHALL",
                 "COMMAND",  "KEYS",     "SCAN",      "RANDOMKEY",    "PUBLISH", "SUBSCRIBE", "PSUBSCRIBE",
                 "ASKING",   "READONLY", "READWRITE", "ACL",          "SLOWLOG", "LATENCY",   "DEBUG",
                 "LASTSAVE", "SAVE",     "BGSAVE",    "BGREWRITEAOF", "SWAPDB",  "QUIT",      "RESET",
                 "SHUTDOWN", "MONITOR",  "MODULE"}))
    return keys;
  if (cluster_name_in(name, {"DEL",     "UNLINK",     "EXISTS", "MGET",        "TOUCH",       "WATCH",
                             "SINTER",  "SUNION",     "SDIFF",  "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE",
                             "PFCOUNT", "PFMERGE",    "RENAME", "RENAMENX",    "RPOPLPUSH",   "LMOVE",
                             "BLMOVE",  "BRPOPLPUSH", "COPY",   "SMOVE"})) {
    // every argument; those with two keys then more arguments take the first two
    bool two = cluster_name_in(
        name, {"RENAME", "RENAMENX", "RPOPLPUSH", "LMOVE", "BLMOVE", "BRPOPLPUSH", "COPY", "SMOVE"});
    cluster_take(args, 1, two ? 3 : n, 1, keys);
  } else if (cluster_name_in(name, {"BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"})) {
    cluster_take(args, 1, n - 1, 1, keys);  // the last argument is the timeout
  } else if (cluster_name_in(name, {"MSET", "MSETNX"})) {
    cluster_take(args, 1, n, 2, keys);
  } else if (cluster_name_in(name, {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO", "BLMPOP",
                                    "BZMPOP"})) {
    cluster_take_counted(args, 2, keys);
  } else if (cluster_name_in(name,
                             {"LMPOP", "ZMPOP", "SINTERCARD", "ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD"})) {
    cluster_take_counted(args, 1, keys);
  } else if (cluster_name_in(name, {"ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"})) {
    keys.push_back(args[1]);
    cluster_take_counted(args, 2, keys);
  } else if (cluster_name_in(name, {"XREAD", "XREADGROUP"})) {
    // ... STREAMS key1 key2 id1 id2
    for (std::size_t i = 1; i < n; ++i)
      if (cluster_name_is(args[i], "STREAMS")) {
        std::size_t rest = n - i - 1;
        cluster_take(args, i + 1, i + 1 + rest / 2, 1, keys);
        break;
      }
  } else if (cluster_name_in(name, {"OBJECT", "XINFO", "XGROUP", "MEMORY"})) {
    if (n > 2) keys.push_back(args[2]);  // a subcommand first, then the key
  } else {
    keys.push_back(args[1]);  // GET, SET, HSET, XADD, SADD...: the key comes first
  }
  return keys;
}

bool cluster_command_to_every_master(const std::vector<std::string_view>& args) {
  return args.size() >= 2 && cluster_name_is(args[0], "SCRIPT") &&
         cluster_name_in(args[1], {"LOAD", "FLUSH"});
}

std::optional<std::vector<ClusterGroup>> cluster_groups(
    const std::vector<std::vector<std::string_view>>& commands, std::string* error) {
  std::vector<ClusterGroup> groups;
  std::string_view first_key;
  bool in_transaction = false;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const auto& args = commands[i];
    std::string_view name = args.empty() ? std::string_view{} : args[0];
    // A transaction stays whole (with a WATCH just before it); WAIT waits for the replicas of the
    // node that ran the command before it, so it goes there too.
    bool after_watch = i > 0 && !commands[i - 1].empty() && cluster_name_is(commands[i - 1][0], "WATCH");
    bool joins = !groups.empty() && (in_transaction || (cluster_name_is(name, "MULTI") && after_watch) ||
                                     cluster_name_is(name, "WAIT"));
    if (!joins) {
      groups.push_back({i, 0, -1});
      first_key = {};
    }
    ClusterGroup& g = groups.back();
    ++g.count;
    if (cluster_name_is(name, "MULTI")) in_transaction = true;
    if (cluster_name_is(name, "EXEC") || cluster_name_is(name, "DISCARD")) in_transaction = false;
    for (std::string_view key : cluster_command_keys(args)) {
      int slot = cluster_key_slot(key);
      if (g.slot < 0) {
        g.slot = slot;
        first_key = key;
      } else if (slot != g.slot) {
        if (error)
          *error = "CROSSSLOT refused before sending: " + std::string(name) + " " +
                   (g.count > 1 ? "in a transaction " : "") + "touches \"" + std::string(first_key) +
                   "\" (slot " + std::to_string(g.slot) + ") and \"" + std::string(key) + "\" (slot " +
                   std::to_string(slot) +
                   "); on a Redis Cluster one command or transaction stays in one slot";
        return std::nullopt;
      }
    }
  }
  return groups;
}

std::optional<ClusterRedirect> cluster_redirect(const RedisReply& reply) {
  if (!reply.is_error()) return std::nullopt;
  std::string_view s = reply.str;
  ClusterRedirect r;
  if (s.starts_with("ASK "))
    r.ask = true;
  else if (!s.starts_with("MOVED "))
    return std::nullopt;
  s.remove_prefix(r.ask ? 4 : 6);
  auto space = s.find(' ');
  if (space == std::string_view::npos || !cluster_parse_int(s.substr(0, space), r.slot) || r.slot < 0 ||
      r.slot >= kClusterSlots)
    return std::nullopt;
  std::string_view where = s.substr(space + 1);
  auto colon = where.rfind(':');
  if (colon == std::string_view::npos || !cluster_parse_int(where.substr(colon + 1), r.node.port))
    return std::nullopt;
  std::string_view host = where.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  r.node.host = std::string(host);
  return r;
}

bool cluster_retry_later(const RedisReply& reply) {
  return reply.is_error() && (reply.str.starts_with("TRYAGAIN") || reply.str.starts_with("CLUSTERDOWN"));
}

const RedisReply* cluster_first_unexecuted(const RedisReply* replies, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (cluster_retry_later(replies[i]) || cluster_redirect(replies[i])) return &replies[i];
  return nullptr;
}

std::optional<ClusterSlotMap> ClusterSlotMap::from_cluster_slots(const RedisReply& reply,
                                                                 const RedisNode& asked, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<ClusterSlotMap> {
    if (error) *error = "CLUSTER SLOTS: " + std::move(why);
    return std::nullopt;
  };
  if (reply.is_error()) return fail(reply.str);
  if (reply.type != RedisReply::Type::Array || reply.elements.empty()) return fail("no slot is served");
  ClusterSlotMap map;
  map.owner_.fill(-1);
  for (const auto& range : reply.elements) {
    if (range.elements.size() < 3 || range.elements[2].elements.size() < 2) return fail("unexpected reply");
    auto first = range.elements[0].as_integer(), last = range.elements[1].as_integer();
    auto port = range.elements[2].elements[1].as_integer();
    if (!first || !last || !port || *first < 0 || *last >= kClusterSlots || *first > *last)
      return fail("unexpected slot range");
    RedisNode node{range.elements[2].elements[0].str, static_cast<int>(*port)};
    if (node.host.empty() || node.host == "?") node.host = asked.host;  // "the node you asked"
    auto it = std::find(map.masters_.begin(), map.masters_.end(), node);
    if (it == map.masters_.end()) it = map.masters_.insert(map.masters_.end(), node);
    std::fill(map.owner_.begin() + *first, map.owner_.begin() + *last + 1,
              static_cast<std::int16_t>(it - map.masters_.begin()));
  }
  return map;
}

const RedisNode* ClusterSlotMap::owner(int slot) const {
  if (slot < 0 || slot >= kClusterSlots || owner_[static_cast<std::size_t>(slot)] < 0) return nullptr;
  return &masters_[static_cast<std::size_t>(owner_[static_cast<std::size_t>(slot)])];
}

void ClusterSlotMap::move_slot(int slot, const RedisNode& node) {
  if (slot < 0 || slot >= kClusterSlots) return;
  auto it = std::find(masters_.begin(), masters_.end(), node);
  if (it == masters_.end()) it = masters_.insert(masters_.end(), node);
  owner_[static_cast<std::size_t>(slot)] = static_cast<std::int16_t>(it - masters_.begin());
}

std::optional<std::vector<RespCommandView>> parse_resp_commands(std::string_view resp) {
  std::vector<RespCommandView> out;
  std::size_t pos = 0;
  // "<prefix><decimal>\r\n" at pos.
  auto number = [&](char prefix, std::size_t& value) {
    if (pos >= resp.size() || resp[pos] != prefix) return false;
    auto end = resp.find("\r\n", pos);
    if (end == std::string_view::npos) return false;
    auto [p, ec] = std::from_chars(resp.data() + pos + 1, resp.data() + end, value);
    if (ec != std::errc() || p != resp.data() + end) return false;
    pos = end + 2;
    return true;
  };
  while (pos < resp.size()) {
    RespCommandView c;
    c.offset = pos;
    std::size_t nargs = 0;
    if (!number('*', nargs)) return std::nullopt;
    for (std::size_t i = 0; i < nargs; ++i) {
      std::size_t len = 0;
      if (!number('$', len) || resp.size() - pos < len + 2) return std::nullopt;
      c.args.push_back(resp.substr(pos, len));
      pos += len + 2;
    }
    c.length = pos - c.offset;
    out.push_back(std::move(c));
  }
  return out;
}

std::string cluster_node_name(const RedisNode& node) {
  bool v6 = node.host.find(':') != std::string::npos;
  return (v6 ? "[" + node.host + "]" : node.host) + ":" + std::to_string(node.port);
}

}  // namespace d4::core
