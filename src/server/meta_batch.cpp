#include "server/meta_batch.hpp"

#include <algorithm>
#include <ctime>
#include <type_traits>

#include "core/keys.hpp"
#include "core/redis_async.hpp"
#include "core/redis_cluster.hpp"
#include "server/scripts.hpp"

namespace d4::server {

namespace keys = core::keys;

std::string local_date(long long epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
  return buf;
}

std::string local_compact_time(long long epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

namespace {

// Keeps the newest `cap` entries (oldest first): what LPUSH + LTRIM 0 cap-1 would keep.
void push_bounded(std::deque<std::string>& list, std::string entry, std::size_t cap) {
  list.push_back(std::move(entry));
  while (list.size() > cap) list.pop_front();
}

}  // namespace

std::vector<std::string> wire_args(const MetaOp& op) {
  auto n = [](auto v) { return std::to_string(v); };
  return std::visit(
      [&](const auto& o) -> std::vector<std::string> {
        using T = std::decay_t<decltype(o)>;
        std::string code(T::kCode);
        if constexpr (std::is_same_v<T, meta_op::ZIncrBy>)
          return {code, o.key, n(o.by), o.member};
        else if constexpr (std::is_same_v<T, meta_op::HIncrBy>)
          return {code, o.key, o.field, n(o.by)};
        else if constexpr (std::is_same_v<T, meta_op::HSet> || std::is_same_v<T, meta_op::HSetNx>)
          return {code, o.key, o.field, o.value};
        else if constexpr (std::is_same_v<T, meta_op::HDel>)
          return {code, o.key, o.field};
        else if constexpr (std::is_same_v<T, meta_op::LPushCapped>)
          return {code, o.key, o.entry, n(o.cap)};
        else if constexpr (std::is_same_v<T, meta_op::SAdd>)
          return {code, o.key, o.member};
        else if constexpr (std::is_same_v<T, meta_op::SAddCapped>)
          return {code, o.key, o.member, n(o.cap)};
        else if constexpr (std::is_same_v<T, meta_op::Expire>)
          return {code, o.key, n(o.seconds)};
        else
          return {code, o.ranking, o.network, n(o.count), n(o.kept), o.rejects_prefix, o.errors_prefix};
      },
      op);
}

void MetaBatch::incr(std::string_view key, std::string_view field, long long n) {
  counters_[{std::string(key), std::string(field)}] += n;
}

void MetaBatch::set_field(std::string_view key, std::string_view field, std::string value) {
  fields_[{std::string(key), std::string(field)}] = std::move(value);
}

void MetaBatch::push_capped(std::string_view key, std::string entry, std::size_t cap) {
  auto& l = lists_[std::string(key)];
  l.cap = cap;
  push_bounded(l.entries, std::move(entry), cap);
}

void MetaBatch::add_member(std::string_view key, std::string_view member) {
  members_.emplace(std::string(key), std::string(member));
}

void MetaBatch::add_member_capped(std::string_view key, std::string_view member, std::size_t cap) {
  capped_members_[{std::string(key), std::string(member)}] = cap;
}

bool MetaBatch::count_source_reject(const std::string& source, std::string_view reason, std::string entry,
                                    std::size_t list_cap) {
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= limits_.max_sources) return false;
    it = sources_.emplace(source, SourceRecord{}).first;
  }
  auto& r = it->second;
  ++r.reasons[std::string(reason)];
  ++r.total;
  r.list_cap = list_cap;
  push_bounded(r.entries, std::move(entry), std::min(limits_.entries_per_source, list_cap));
  return true;
}

void MetaBatch::count_stored(const std::string& uuid, const std::string& ip, std::uint8_t type,
                             std::uint64_t packets, std::uint64_t bytes, bool clears_error) {
  auto& c = stored_[{uuid, ip, type}];
  c.packets += packets;
  c.bytes += bytes;
  c.clears_error = c.clears_error || clears_error;
}

bool MetaBatch::empty() const {
  return stored_.empty() && counters_.empty() && fields_.empty() && lists_.empty() && members_.empty() &&
         capped_members_.empty() && sources_.empty();
}

void MetaBatch::stored_ops(OpList& out, const std::string& date, long long now) {
  std::string now_s = std::to_string(now);
  // Aggregate per key: the seven reference zsets count packets; ours count bytes.
  std::map<std::pair<std::string, std::string>, std::uint64_t> z;  // (key, member) -> increment
  std::map<std::string, bool> sensors;  // uuid -> some of its stored data clears its Error
  std::set<std::pair<std::string, std::string>> sensor_types;
  for (const auto& [k, c] : stored_) {
    const auto& [uuid, ip, type] = k;
    std::string t = std::to_string(type);
    z[{keys::stat_uuid_ip(date, uuid), ip}] += c.packets;
    z[{keys::stat_ip_uuid(date, ip), uuid}] += c.packets;
    z[{keys::daily_uuid(date), uuid}] += c.packets;
    z[{keys::daily_ip(date), ip}] += c.packets;
    z[{keys::daily_type(date), t}] += c.packets;
    z[{keys::stat_type_uuid(date, t), uuid}] += c.packets;
    z[{keys::stat_uuid_type(date, uuid), t}] += c.packets;
    z[{keys::daily_uuid_bytes(date), uuid}] += c.bytes;
    z[{keys::daily_ip_bytes(date), ip}] += c.bytes;
    z[{keys::daily_type_bytes(date), t}] += c.bytes;
    z[{keys::stat_uuid_type_bytes(date, uuid), t}] += c.bytes;
    sensors[uuid] |= c.clears_error;
    sensor_types.insert({uuid, t});
  }
  stored_.clear();
  for (const auto& [km, inc] : z) out.push_back(meta_op::ZIncrBy{km.first, inc, km.second});
  auto seen = [&](const std::string& meta) {
    out.push_back(meta_op::HSetNx{meta, "first_seen", now_s});
    out.push_back(meta_op::HSet{meta, "last_seen", now_s});
  };
  for (const auto& [u, clears_error] : sensors) {
    std::string meta = keys::sensor_metadata(u);
    seen(meta);
    // The reference clears the last error whenever a packet is stored.
    if (clears_error) out.push_back(meta_op::HDel{meta, "Error"});
    out.push_back(meta_op::SAdd{std::string(keys::kSensorIndex), u});
  }
  for (const auto& [u, t] : sensor_types) seen(keys::sensor_type_metadata(u, t));
}

void MetaBatch::source_ops(OpList& out) {
  const long long ttl = limits_.source_ttl_seconds;
  for (auto& [source, r] : sources_) {
    // Rank first: taking a place in the top-N may evict another network and its details.
    out.push_back(meta_op::RankSource{std::string(keys::kRejectSources), source, r.total,
                                      limits_.reject_sources_kept, keys::ip_rejects(layout_, ""),
                                      keys::ip_errors(layout_, "")});
    std::string rejects = keys::ip_rejects(layout_, source), errors = keys::ip_errors(layout_, source);
    for (const auto& [reason, n] : r.reasons) out.push_back(meta_op::HIncrBy{rejects, reason, n}, true);
    out.push_back(meta_op::Expire{rejects, ttl}, true);
    for (auto& e : r.entries) out.push_back(meta_op::LPushCapped{errors, std::move(e), r.list_cap}, true);
    out.push_back(meta_op::Expire{errors, ttl}, true);
  }
  sources_.clear();
}

std::vector<std::string> MetaBatch::take_requests(const std::string& marker, std::uint64_t& seq,
                                                  const std::string& date, long long now) {
  // Statistics first, then rejects and the rest: a reject's Error text, recorded after the
  // packets stored earlier in the interval, must survive the "stored => clear Error" rule.
  OpList ops;
  stored_ops(ops, date, now);
  for (const auto& [kf, n] : counters_) ops.push_back(meta_op::HIncrBy{kf.first, kf.second, n});
  counters_.clear();
  for (auto& [kf, v] : fields_) ops.push_back(meta_op::HSet{kf.first, kf.second, std::move(v)});
  fields_.clear();
  for (auto& [key, l] : lists_)
    for (auto& e : l.entries) ops.push_back(meta_op::LPushCapped{key, std::move(e), l.cap});
  lists_.clear();
  for (const auto& [key, member] : members_) ops.push_back(meta_op::SAdd{key, member});
  members_.clear();
  for (const auto& [km, cap] : capped_members_) ops.push_back(meta_op::SAddCapped{km.first, km.second, cap});
  capped_members_.clear();
  source_ops(ops);
  return encode_calls(ops, marker, seq);
}

// Cuts the operations into calls of at most max_ops_per_call (a joined group longer than that
// stays whole), each an EVAL of the flush script with the next sequence number. In the cluster
// layout, first grouped by the slot of their key, in order within each slot (so the writes to one
// key keep their order: a reject's Error after the stored data's HDEL of it).
std::vector<std::string> MetaBatch::encode_calls(OpList& list, const std::string& marker,
                                                 std::uint64_t& seq) const {
  std::vector<std::string> requests;
  std::vector<std::vector<std::string>> ops;
  ops.reserve(list.ops.size());
  for (const auto& op : list.ops) ops.push_back(wire_args(op));
  if (layout_ == core::keys::KeyLayout::Reference) {
    std::vector<std::size_t> all(ops.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    encode_run(ops, list.joined, all, marker, false, seq, requests);
    return requests;
  }
  // Every operation's key is its first argument (wire_args); a joined operation writes the details
  // of the ranking before it, which share its slot (keys::ip_rejects).
  std::map<int, std::vector<std::size_t>> by_slot;
  for (std::size_t i = 0; i < ops.size(); ++i) by_slot[core::cluster_key_slot(ops[i][1])].push_back(i);
  for (const auto& [slot, indices] : by_slot) {
    std::vector<bool> joined;
    joined.reserve(indices.size());
    for (std::size_t i : indices) joined.push_back(list.joined[i]);
    encode_run(ops, joined, indices, core::keys::flush_marker_in_slot(marker, core::cluster_slot_tag(slot)),
               true, seq, requests);
  }
  return requests;
}

void MetaBatch::encode_run(const std::vector<std::vector<std::string>>& ops, const std::vector<bool>& joined,
                           const std::vector<std::size_t>& indices, const std::string& marker,
                           bool declare_keys, std::uint64_t& seq, std::vector<std::string>& requests) const {
  const std::size_t per_call = std::max<std::size_t>(1, limits_.max_ops_per_call);
  const std::size_t n = indices.size();
  std::size_t start = 0;
  while (start < n) {
    std::size_t end = std::min(n, start + per_call);
    std::size_t cut = end;
    while (cut > start && cut < n && joined[cut]) --cut;
    if (cut > start) end = cut;
    while (end < n && joined[end]) ++end;  // a group larger than a call
    std::size_t argc = 0;
    std::vector<std::string_view> declared;  // each key written, once (declared after the marker)
    for (std::size_t i = start; i < end; ++i) {
      const auto& op = ops[indices[i]];
      argc += op.size();
      if (declare_keys && std::find(declared.begin(), declared.end(), op[1]) == declared.end())
        declared.push_back(op[1]);
    }
    std::string resp;
    core::RespWriter w(resp);
    w.begin(5 + declared.size() + argc)
        .arg("EVAL")
        .arg(scripts::kFlushScript)
        .arg(std::uint64_t{1 + declared.size()})
        .arg(marker);
    for (auto key : declared) w.arg(key);
    w.arg(++seq);
    for (std::size_t i = start; i < end; ++i)
      for (const auto& a : ops[indices[i]]) w.arg(a);
    requests.push_back(std::move(resp));
    start = end;
  }
}

}  // namespace d4::server
