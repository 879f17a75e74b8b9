#include "queues/queue_store.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>

#include "core/keys.hpp"
#include "protocol/clock.hpp"
#include "protocol/metaheader.hpp"
#include "protocol/uuid.hpp"

namespace d4::queues {
namespace keys = core::keys;
namespace {

// Indexes kept by the reference web UI (server/lib/Analyzer_Queue.py); not used by producers.
constexpr std::string_view kFormatTypes = "all:analyzer:format_type";
constexpr std::string_view kExtendedTypes = "all:analyzer:extended_type";
std::string queues_by_format_type(std::string_view t) {
  return keys::cat({"all:analyzer:by:format_type:", t});
}
std::string queues_by_extended_type(std::string_view e) {
  return keys::cat({"all:analyzer:by:extended_type:", e});
}

// Lua: LPUSH the items, trim to the maximum size and keep the statistics, atomically, so that
// concurrent producers (several worker processes) count exactly. A length lower than the one
// recorded after the previous push means that consumers popped elements in between.
// KEYS[1] list, KEYS[2] statistics; ARGV[1] max size, ARGV[2] time, the items from ARGV[first].
constexpr std::string_view kPushBody = R"lua(
local before = redis.call('LLEN', KEYS[1])
local recorded = before
local r = redis.call('HGET', KEYS[2], 'length')
if r then recorded = tonumber(r) end
local len = redis.call('LPUSH', KEYS[1], unpack(ARGV, first))
local max = tonumber(ARGV[1])
local dropped = 0
if max > 0 and len > max then
  redis.call('LTRIM', KEYS[1], 0, max - 1)
  dropped = len - max
  len = max
end
redis.call('HINCRBY', KEYS[2], 'pushed', #ARGV - first + 1)
if dropped > 0 then redis.call('HINCRBY', KEYS[2], 'dropped', dropped) end
if recorded > before then
  redis.call('HINCRBY', KEYS[2], 'consumed', recorded - before)
  redis.call('HSET', KEYS[2], 'last_consumer_activity', ARGV[2])
end
redis.call('HSET', KEYS[2], 'length', len, 'last_push', ARGV[2])
)lua";

const std::string& push_script_text() {
  static const std::string script = "local first = 3\n" + std::string(kPushBody) + "return dropped\n";
  return script;
}

// Lua: attribute a length decrease seen outside a push to consumers, then return the stats.
constexpr std::string_view kObserveScript = R"lua(
local len = redis.call('LLEN', KEYS[1])
local r = redis.call('HGET', KEYS[2], 'length')
if r and tonumber(r) > len then
  redis.call('HINCRBY', KEYS[2], 'consumed', tonumber(r) - len)
  redis.call('HSET', KEYS[2], 'last_consumer_activity', ARGV[1])
end
redis.call('HSET', KEYS[2], 'length', len)
return redis.call('HGETALL', KEYS[2])
)lua";

// Lua: empty a list, counting its elements as dropped.
constexpr std::string_view kEmptyScript = R"lua(
local len = redis.call('LLEN', KEYS[1])
redis.call('DEL', KEYS[1])
if len > 0 then redis.call('HINCRBY', KEYS[2], 'dropped', len) end
redis.call('HSET', KEYS[2], 'length', 0)
return len
)lua";

// Lua's unpack() is limited by the C stack (LUAI_MAXCSTACK, 8000): push in slices.
constexpr std::size_t kMaxItemsPerScript = 1000;

std::string format_epoch(double t) {
  return fmt::format("{:.6f}", t);
}

double to_double(const std::optional<std::string>& s) {
  if (!s || s->empty()) return 0;
  try {
    return std::stod(*s);
  } catch (...) {
    return 0;
  }
}

std::optional<long long> to_ll(std::string_view s) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

void check(const core::RedisReply& r, std::string_view what) {
  if (r.is_error()) throw QueueError(std::string(what) + ": " + r.str);
}

void check_all(const std::vector<core::RedisReply>& rs, std::string_view what) {
  for (const auto& r : rs) check(r, what);
}

// The set a non-group queue is indexed in: analyzer:<type> or analyzer:254:<ext>.
std::string non_group_index(const QueueTarget& t) {
  return t.type == 254 ? keys::analyzer_queues_of_extended_type(t.extended_type)
                       : keys::analyzer_queues_of_type(std::to_string(t.type));
}
std::string group_index(const QueueTarget& t) {
  return t.type == 254 ? keys::analyzer_group_queues("254:" + t.extended_type)
                       : keys::analyzer_group_queues(std::to_string(t.type));
}

}  // namespace

const std::string& push_once_script_text() {
  // KEYS[3] the queue's record of what the origin applied, ARGV[3] the entry's sequence number,
  // ARGV[4] the record's time to live; the items from ARGV[5]. -1: applied before, nothing pushed.
  static const std::string script =
      "local applied = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
      "if applied >= tonumber(ARGV[3]) then return -1 end\n"
      "local first = 5\n" +
      std::string(kPushBody) +
      "redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])\n"
      "return dropped\n";
  return script;
}

double epoch_now() {
  return clock::unix_seconds_fractional();
}

std::string normalize_sensor(std::string_view text) {
  auto n = protocol::normalize_uuid(text);
  if (!n) throw QueueError("invalid sensor UUID \"" + std::string(text) + "\"");
  return *n;
}

QueueTarget QueueTarget::parse(std::string_view text) {
  if (text.empty()) throw QueueError("empty queue type");
  if (auto n = to_ll(text)) {
    if (*n == 2 || *n == 254)
      throw QueueError("type " + std::string(text) + " needs an extended type name (e.g. ja3-jl)");
    QueueTarget t = numeric(static_cast<int>(std::clamp<long long>(*n, -1, 256)));
    t.validate();
    return t;
  }
  QueueTarget t = extended(std::string(text));
  t.validate();
  return t;
}

void QueueTarget::validate() const {
  if (type == 254) {
    if (!protocol::is_valid_extended_type_name(extended_type))
      throw QueueError("invalid extended type name \"" + extended_type + "\"");
    return;
  }
  if (type < 1 || type > 255 || type == 2)
    throw QueueError("invalid queue type " + std::to_string(type) + " (1..255; 2/254 need an extended type)");
  if (!extended_type.empty()) throw QueueError("an extended type name needs type 254");
}

std::string QueueInfo::list_key() const {
  return keys::analyzer_list(target.list_part(), id);
}

QueueStore::QueueStore(core::RedisClient& meta, core::RedisClient& analyzer, long long default_max_size,
                       core::keys::KeyLayout layout)
    : meta_(meta), analyzer_(analyzer), default_max_size_(default_max_size), layout_(layout) {}

std::string QueueStore::stats_key(const QueueInfo& q) const {
  return keys::analyzer_queue_stats(q.id, q.list_key(), layout_);
}

void QueueStore::apply_steps(const std::vector<Commands>& steps, std::string_view what) {
  if (layout_ == core::keys::KeyLayout::Reference) {
    Commands tx{{"MULTI"}};
    for (const auto& step : steps) tx.insert(tx.end(), step.begin(), step.end());
    tx.push_back({"EXEC"});
    auto replies = meta_.pipeline(tx);
    check_all(replies, what);
    if (replies.back().is_nil()) throw QueueError(std::string(what) + ": transaction aborted");
    return;
  }
  for (const auto& step : steps)
    if (!step.empty()) check_all(meta_.pipeline(step), what);
}

std::optional<std::string> QueueStore::resolve(std::string_view id) {
  std::vector<std::string> candidates{std::string(id)};
  if (auto u = protocol::Uuid::parse(id)) {
    candidates.push_back(u->dashed());
    candidates.push_back(u->dashless());
  }
  for (const auto& c : candidates) {
    auto r = meta_.command({"SISMEMBER", keys::kAllAnalyzerQueues, c});
    check(r, "SISMEMBER");
    if (r.integer == 1) return c;
  }
  return std::nullopt;
}

QueueInfo QueueStore::load(const std::string& id) {
  QueueInfo q;
  q.id = id;
  auto h = meta_.command({"HGETALL", keys::analyzer_queue_meta(id)});
  check(h, "HGETALL");
  std::map<std::string, std::string> fields;
  for (std::size_t i = 0; i + 1 < h.elements.size(); i += 2)
    fields[h.elements[i].str] = h.elements[i + 1].str;
  auto type = to_ll(fields["type"]).value_or(0);
  if (type == 2) type = 254;
  q.target.type = static_cast<int>(type);
  if (type == 254) q.target.extended_type = fields["metatype"];
  q.description = fields["description"];
  if (auto m = to_ll(fields["max_size"]); m && *m > 0) q.max_size = *m;
  q.last_updated = to_double(fields["last_updated"]);
  auto g = meta_.command({"SISMEMBER", group_index(q.target), id});
  check(g, "SISMEMBER");
  q.group = g.integer == 1;
  if (q.group) {
    auto s = meta_.command({"SMEMBERS", keys::analyzer_sensor_group(id)});
    check(s, "SMEMBERS");
    q.sensors = s.as_strings();
    std::sort(q.sensors.begin(), q.sensors.end());
  }
  return q;
}

std::optional<QueueInfo> QueueStore::get(std::string_view id) {
  auto r = resolve(id);
  if (!r) return std::nullopt;
  return load(*r);
}

QueueInfo QueueStore::require(std::string_view id) {
  auto q = get(id);
  if (!q) throw QueueError("no such queue \"" + std::string(id) + "\"");
  return *q;
}

std::vector<std::string> QueueStore::group_index_keys(const QueueInfo& q, const std::string& sensor) const {
  // The part is the numeric type or the extended type name: what producers look up.
  return {keys::sensor_group_queues(q.target.list_part(), sensor)};
}

QueueInfo QueueStore::create(const QueueSpec& spec) {
  QueueTarget target = spec.target;
  if (target.type == 2) target.type = 254;
  target.validate();
  std::string id;
  if (spec.id.empty()) {
    id = protocol::Uuid::generate_v4().dashed();
  } else {
    auto u = protocol::Uuid::parse(spec.id);
    if (!u) throw QueueError("invalid queue UUID \"" + spec.id + "\"");
    id = u->dashed();
  }
  if (resolve(id)) throw QueueError("queue " + id + " already exists");
  if (spec.max_size && *spec.max_size < 1) throw QueueError("max_size must be at least 1");
  std::vector<std::string> sensors;
  for (const auto& s : spec.sensors) sensors.push_back(normalize_sensor(s));
  if (spec.require_accepted_type) {
    if (target.type == 254) {
      auto r = meta_.command({"SISMEMBER", keys::kAcceptedExtendedTypes, target.extended_type});
      check(r, "SISMEMBER");
      if (r.integer != 1)
        throw QueueError("extended type \"" + target.extended_type + "\" is not in " +
                         std::string(keys::kAcceptedExtendedTypes));
    } else {
      auto r = meta_.command({"SISMEMBER", keys::kAcceptedTypes, std::to_string(target.type)});
      check(r, "SISMEMBER");
      if (r.integer != 1)
        throw QueueError("type " + std::to_string(target.type) + " is not in " +
                         std::string(keys::kAcceptedTypes));
    }
  }
  QueueInfo q;
  q.id = id;
  q.target = target;
  q.description = spec.description;
  q.max_size = spec.max_size;
  q.group = spec.group || !sensors.empty();
  q.sensors = sensors;

  Commands metadata, listing, producers;
  std::vector<std::string> hset{"HSET",        keys::analyzer_queue_meta(id),
                                "type",        std::to_string(target.type),
                                "description", spec.description};
  if (target.type == 254) hset.insert(hset.end(), {"metatype", target.extended_type});
  if (spec.max_size) hset.insert(hset.end(), {"max_size", std::to_string(*spec.max_size)});
  metadata.push_back(hset);
  listing.push_back({"SADD", std::string(keys::kAllAnalyzerQueues), id});
  if (target.type == 254) {
    listing.push_back({"SADD", std::string(kExtendedTypes), target.extended_type});
    listing.push_back({"SADD", queues_by_extended_type(target.extended_type), id});
  } else {
    listing.push_back({"SADD", std::string(kFormatTypes), std::to_string(target.type)});
    listing.push_back({"SADD", queues_by_format_type(std::to_string(target.type)), id});
  }
  if (q.group) {
    producers.push_back({"SADD", group_index(target), id});
    for (const auto& s : sensors) {
      listing.push_back({"SADD", keys::analyzer_sensor_group(id), s});
      for (const auto& k : group_index_keys(q, s)) producers.push_back({"SADD", k, id});
    }
  } else {
    producers.push_back({"SADD", non_group_index(target), id});
  }
  apply_steps({metadata, listing, producers}, "create queue");
  std::sort(q.sensors.begin(), q.sensors.end());
  return q;
}

std::vector<QueueInfo> QueueStore::list(const std::optional<QueueTarget>& filter) {
  auto r = meta_.command({"SMEMBERS", keys::kAllAnalyzerQueues});
  check(r, "SMEMBERS");
  std::vector<QueueInfo> out;
  for (const auto& id : r.as_strings()) {
    QueueInfo q = load(id);
    if (filter && !(q.target == *filter)) continue;
    out.push_back(std::move(q));
  }
  std::sort(out.begin(), out.end(), [](const QueueInfo& a, const QueueInfo& b) {
    return std::tie(a.target.type, a.target.extended_type, a.id) <
           std::tie(b.target.type, b.target.extended_type, b.id);
  });
  return out;
}

void QueueStore::set_description(std::string_view id, std::string_view description) {
  QueueInfo q = require(id);
  check(meta_.command({"HSET", keys::analyzer_queue_meta(q.id), "description", description}), "HSET");
}

void QueueStore::set_max_size(std::string_view id, std::optional<long long> max_size) {
  QueueInfo q = require(id);
  if (max_size) {
    if (*max_size < 1) throw QueueError("max_size must be at least 1");
    check(meta_.command({"HSET", keys::analyzer_queue_meta(q.id), "max_size", std::to_string(*max_size)}),
          "HSET");
  } else {
    check(meta_.command({"HDEL", keys::analyzer_queue_meta(q.id), "max_size"}), "HDEL");
  }
}

void QueueStore::add_sensors(std::string_view id, const std::vector<std::string>& sensors) {
  QueueInfo q = require(id);
  // Members first, then the group index, and the queue leaves the every-sensor index last: in
  // between a producer finds it through both and pushes once (destinations are a set of ids).
  Commands members, group, every_sensor;
  for (const auto& raw : sensors) {
    std::string s = normalize_sensor(raw);
    members.push_back({"SADD", keys::analyzer_sensor_group(q.id), s});
    for (const auto& k : group_index_keys(q, s)) members.push_back({"SADD", k, q.id});
  }
  if (!q.group) {
    group.push_back({"SADD", group_index(q.target), q.id});
    every_sensor.push_back({"SREM", non_group_index(q.target), q.id});
  }
  apply_steps({members, group, every_sensor}, "add sensors");
}

void QueueStore::remove_sensors(std::string_view id, const std::vector<std::string>& sensors) {
  QueueInfo q = require(id);
  if (!q.group) throw QueueError("queue " + q.id + " is not a group queue");
  Commands members;
  for (const auto& raw : sensors) {
    std::string s = normalize_sensor(raw);
    members.push_back({"SREM", keys::analyzer_sensor_group(q.id), s});
    for (const auto& k : group_index_keys(q, s)) members.push_back({"SREM", k, q.id});
  }
  apply_steps({members}, "remove sensors");
}

void QueueStore::remove(std::string_view id) {
  QueueInfo q = require(id);
  Commands producers, listing, listed, metadata;
  for (const auto& s : q.sensors) {
    for (const auto& k : group_index_keys(q, s)) producers.push_back({"SREM", k, q.id});
    // Entries left by the reference's misindexed numeric group queues.
    producers.push_back({"SREM", keys::sensor_group_queues("list", s), q.id});
  }
  producers.push_back({"SREM", non_group_index(q.target), q.id});
  producers.push_back({"SREM", group_index(q.target), q.id});
  listing.push_back({"DEL", keys::analyzer_sensor_group(q.id)});
  if (q.target.type == 254)
    listing.push_back({"SREM", queues_by_extended_type(q.target.extended_type), q.id});
  else
    listing.push_back({"SREM", queues_by_format_type(std::to_string(q.target.type)), q.id});
  listed.push_back({"SREM", std::string(keys::kAllAnalyzerQueues), q.id});
  metadata.push_back({"DEL", keys::analyzer_queue_meta(q.id)});
  if (layout_ == core::keys::KeyLayout::Reference) {
    apply_steps({producers, listing, listed, metadata}, "remove queue");
    check_all(analyzer_.pipeline({{"DEL", q.list_key(), stats_key(q)}}), "remove queue data");
    return;
  }
  // The data goes while the queue is still listed, so that an interrupted removal can be
  // repeated: it finds the queue (and its type, in the metadata hash) until the last two steps.
  apply_steps({producers}, "remove queue");
  check_all(analyzer_.pipeline({{"DEL", q.list_key(), stats_key(q)}}), "remove queue data");
  apply_steps({listing, listed, metadata}, "remove queue");
}

long long QueueStore::empty(std::string_view id) {
  QueueInfo q = require(id);
  auto r = analyzer_.command({"EVAL", kEmptyScript, "2", q.list_key(), stats_key(q)});
  check(r, "empty queue");
  return r.integer;
}

QueueStats QueueStore::stats(std::string_view id) {
  QueueInfo q = require(id);
  std::string now = format_epoch(epoch_now());
  auto r = analyzer_.command({"EVAL", kObserveScript, "2", q.list_key(), stats_key(q), now});
  check(r, "queue stats");
  QueueStats s;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const std::string& k = r.elements[i].str;
    const std::string& v = r.elements[i + 1].str;
    if (k == "length")
      s.length = to_ll(v).value_or(0);
    else if (k == "pushed")
      s.pushed = to_ll(v).value_or(0);
    else if (k == "dropped")
      s.dropped = to_ll(v).value_or(0);
    else if (k == "consumed")
      s.consumed = to_ll(v).value_or(0);
    else if (k == "last_push")
      s.last_push = to_double(v);
    else if (k == "last_consumer_activity")
      s.last_consumer_activity = to_double(v);
  }
  return s;
}

long long QueueStore::push(std::string_view id, const std::vector<std::string>& items) {
  QueueInfo q = require(id);
  if (items.empty()) return 0;
  QueueDestination d{q.id, q.list_key(), stats_key(q), effective_max_size(q)};
  double now = epoch_now();
  std::vector<std::vector<std::string>> cmds;
  append_push_commands(cmds, d, items, now);
  long long dropped = 0;
  for (const auto& r : analyzer_.pipeline(cmds)) {
    check(r, "push");
    dropped += r.integer;
  }
  check(meta_.command({"HSET", keys::analyzer_queue_meta(q.id), "last_updated", format_epoch(now)}), "HSET");
  return dropped;
}

void append_push_commands(std::vector<std::vector<std::string>>& out, const QueueDestination& dest,
                          const std::vector<std::string>& items, double now) {
  append_push_commands(out, dest, items.begin(), items.end(), now);
}

void append_push_commands(std::vector<std::vector<std::string>>& out, const QueueDestination& dest,
                          std::vector<std::string>::const_iterator begin,
                          std::vector<std::string>::const_iterator end, double now) {
  std::string now_text = format_epoch(now);
  std::string max_text = std::to_string(std::max<long long>(0, dest.max_size));
  while (begin != end) {
    auto n = std::min<std::size_t>(kMaxItemsPerScript, static_cast<std::size_t>(end - begin));
    std::vector<std::string> cmd;
    cmd.reserve(n + 7);
    cmd.insert(cmd.end(),
               {"EVAL", push_script_text(), "2", dest.list_key, dest.stats_key, max_text, now_text});
    for (std::size_t i = 0; i < n; ++i, ++begin) {
      if (begin->empty()) continue;  // the reference never queues empty items
      cmd.push_back(*begin);
    }
    if (cmd.size() > 7) out.push_back(std::move(cmd));
  }
}

QueueRouter::QueueRouter(core::RedisClient& meta, long long default_max_size,
                         std::chrono::milliseconds refresh, core::keys::KeyLayout layout)
    : meta_(meta), default_max_size_(default_max_size), refresh_(refresh), layout_(layout) {}

// The group queues of a target whose sensor set holds `sensor`, read from the group index and
// each queue's analyzer_sensor_group set. The reference server wrote these two sets correctly
// but indexed its numeric group queues under sensor:queues:list:<sensor> (and its edit path put
// extended-type ones under sensor:queues:254:<sensor>, with sensor ids as typed), where no
// producer looks: reading the membership itself makes those queues work as they are.
std::vector<std::string> QueueRouter::group_queues_with_sensor(const std::vector<std::string>& group_queues,
                                                               std::string_view sensor) {
  std::vector<std::string> out;
  if (group_queues.empty()) return out;
  std::vector<std::vector<std::string>> cmds;
  for (const auto& id : group_queues) cmds.push_back({"SMEMBERS", keys::analyzer_sensor_group(id)});
  auto members = meta_.pipeline(cmds);
  check_all(members, "group queue lookup");
  for (std::size_t i = 0; i < group_queues.size(); ++i) {
    for (const auto& m : members[i].as_strings()) {
      auto n = protocol::normalize_uuid(m);
      if (n && *n == sensor) {
        out.push_back(group_queues[i]);
        break;
      }
    }
  }
  return out;
}

const std::vector<QueueDestination>& QueueRouter::destinations(const QueueTarget& target,
                                                               std::string_view sensor) {
  std::string part = target.list_part();
  std::string cache_key = part + "\n" + std::string(sensor);
  auto now = std::chrono::steady_clock::now();
  auto it = cache_.find(cache_key);
  if (it != cache_.end() && now - it->second.loaded < refresh_) return it->second.destinations;

  auto replies = meta_.pipeline({{"SMEMBERS", non_group_index(target)},
                                 {"SMEMBERS", keys::sensor_group_queues(part, sensor)},
                                 {"SMEMBERS", group_index(target)}});
  check_all(replies, "queue lookup");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < 2; ++i)
    for (auto& id : replies[i].as_strings()) ids.insert(std::move(id));
  for (auto& id : group_queues_with_sensor(replies[2].as_strings(), sensor)) ids.insert(std::move(id));
  std::vector<std::string> ordered(ids.begin(), ids.end());
  std::vector<std::vector<std::string>> cmds;
  for (const auto& id : ordered) cmds.push_back({"HGET", keys::analyzer_queue_meta(id), "max_size"});
  std::vector<core::RedisReply> sizes;
  if (!cmds.empty()) sizes = meta_.pipeline(cmds);
  Entry e;
  e.loaded = now;
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    long long max = default_max_size_;
    if (auto s = sizes[i].as_string())
      if (auto v = to_ll(*s); v && *v > 0) max = *v;
    std::string list = keys::analyzer_list(part, ordered[i]);
    std::string stats = keys::analyzer_queue_stats(ordered[i], list, layout_);
    e.destinations.push_back({ordered[i], std::move(list), std::move(stats), max});
  }
  auto& slot = cache_[cache_key];
  slot = std::move(e);
  return slot.destinations;
}

}  // namespace d4::queues
