#include "analyzers/pibs/victims.hpp"

#include <algorithm>

#include "core/digest.hpp"
#include "core/keys.hpp"

namespace d4::analyzers::pibs {
namespace {

// Per victim: KEYS = hash, ports zset, series hash, victims zset, last_seen zset;
// ARGV = member, packets, first, last, ttl, then flag/field increments as name,value pairs.
// On a Redis Cluster these five keys lie in several slots (and keep their names, which d4-web and
// d4-misp-feed read), so the script gets the hash alone and the caller does the rest in per-slot
// steps (RedisVictimWriter::write): ZINCRBY of the ranking, ZADD GT of the last seen time (the
// script's "raise only"), the EXPIREs, ZCARD of the ports, then in a second pipeline the distinct
// port count into the hash with kPortCountScript. The ports zset only grows while the hash lives,
// so the raise-only count is the value the one script sets, whatever the order of writers.
constexpr std::string_view kVictimScript = R"lua(
local h = KEYS[1]
redis.call('HINCRBY', h, 'packets', ARGV[2])
local f = tonumber(redis.call('HGET', h, 'first_seen') or '')
if not f or f > tonumber(ARGV[3]) then redis.call('HSET', h, 'first_seen', ARGV[3]) end
local l = tonumber(redis.call('HGET', h, 'last_seen') or '')
if not l or l < tonumber(ARGV[4]) then redis.call('HSET', h, 'last_seen', ARGV[4]) end
for i = 6, #ARGV, 2 do redis.call('HINCRBY', h, ARGV[i], ARGV[i + 1]) end
if #KEYS == 1 then
  if tonumber(ARGV[5]) > 0 then redis.call('EXPIRE', h, ARGV[5]) end
  return 1
end
redis.call('HSET', h, 'ports', redis.call('ZCARD', KEYS[2]))
redis.call('ZINCRBY', KEYS[4], ARGV[2], ARGV[1])
local cur = tonumber(redis.call('ZSCORE', KEYS[5], ARGV[1]) or '')
if not cur or cur < tonumber(ARGV[4]) then redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1]) end
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('EXPIRE', h, ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
return 1
)lua";

// A Redis Cluster's second step: KEYS = victim hash, ARGV = distinct source ports counted after
// this write; raised only, and only while the hash exists (it expires with the ports zset).
constexpr std::string_view kPortCountScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local c = tonumber(redis.call('HGET', KEYS[1], 'ports') or '')
if not c or c < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'ports', ARGV[1]) end
return 1
)lua";

}  // namespace

void VictimTable::add(const packet::Packet& p, std::int64_t ts) {
  auto it = victims_.find(p.src);
  if (it == victims_.end()) {
    if (victims_.size() >= options_.max_victims) {
      ++untracked_;
      return;
    }
    it = victims_.emplace(p.src, VictimStats{}).first;
    it->second.address = p.src;
    it->second.first_seen = ts;
    it->second.last_seen = ts;
  }
  VictimStats& v = it->second;
  ++v.packets;
  v.first_seen = std::min(v.first_seen, ts);
  v.last_seen = std::max(v.last_seen, ts);
  ++v.flags[static_cast<int>(classify_flags(p.tcp.flags))];
  if (p.tcp.flags & packet::tcpflag::kEce) ++v.ece;
  auto port = v.ports.find(p.sport);
  if (port != v.ports.end())
    ++port->second;
  else if (v.ports.size() < options_.max_ports_per_victim)
    v.ports.emplace(p.sport, 1);
  else
    ++v.ports_overflow;
  std::int64_t b = options_.bucket_seconds > 0 ? ts - (ts % options_.bucket_seconds) : 0;
  ++v.buckets[b];
  if (v.buckets.size() > options_.max_buckets_per_victim) v.buckets.erase(v.buckets.begin());
}

std::vector<const VictimStats*> VictimTable::top(std::size_t n, std::int64_t now, std::int64_t window) const {
  std::vector<std::pair<std::uint64_t, const VictimStats*>> ranked;
  for (const auto& [ip, v] : victims_) {
    std::uint64_t score = 0;
    if (window <= 0) {
      score = v.packets;
    } else {
      for (auto b = v.buckets.lower_bound(now - window); b != v.buckets.end(); ++b) score += b->second;
    }
    if (score) ranked.emplace_back(score, &v);
  }
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    return a.second->address < b.second->address;
  });
  std::vector<const VictimStats*> out;
  for (std::size_t i = 0; i < ranked.size() && i < n; ++i) out.push_back(ranked[i].second);
  return out;
}

nlohmann::ordered_json VictimStats::to_json(std::size_t top_ports) const {
  nlohmann::ordered_json j;
  j["victim"] = address.to_string();
  j["packets"] = packets;
  j["first_seen"] = first_seen;
  j["last_seen"] = last_seen;
  nlohmann::ordered_json flagmix;
  for (int i = 0; i < 5; ++i) flagmix[to_string(static_cast<FlagClass>(i))] = flags[i];
  flagmix["ece"] = ece;
  j["flags"] = flagmix;
  std::vector<std::pair<std::uint16_t, std::uint64_t>> p(ports.begin(), ports.end());
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  nlohmann::ordered_json pj = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < p.size() && i < top_ports; ++i)
    pj.push_back({{"port", p[i].first}, {"packets", p[i].second}});
  j["source_ports"] = pj;
  j["distinct_source_ports"] = ports.size();
  nlohmann::ordered_json series = nlohmann::ordered_json::array();
  for (const auto& [b, n] : buckets) series.push_back({b, n});
  j["series"] = series;
  return j;
}

void RedisVictimWriter::write(const VictimTable& delta, const ClassifierStats& s,
                              const SynTableGauge* table) {
  std::vector<std::vector<std::string>> cmds;
  cmds.push_back({"SCRIPT", "LOAD", std::string(kVictimScript)});
  const std::string victims_key = core::keys::pibs_victims(options_.prefix);
  const std::string last_key = core::keys::pibs_victims_last_seen(options_.prefix);
  const std::string ttl = std::to_string(options_.victim_ttl_seconds);
  std::string sha;
  {
    // The script is loaded first in the same pipeline; EVAL by text would resend it per victim.
    auto r = redis_.command({"SCRIPT", "LOAD", kVictimScript});
    if (r.is_error()) throw core::RedisError("pibs SCRIPT LOAD: " + r.str);
    sha = r.str;
  }
  // On a Redis Cluster: the victim hash and the index of its ports' ZCARD, for the second step.
  const bool per_slot = redis_.endpoint().uses_cluster();
  std::vector<std::pair<std::string, std::size_t>> port_counts;
  for (const auto& [ip, v] : delta.victims()) {
    std::string member = ip.to_string();
    const std::string base = core::keys::pibs_victim(options_.prefix, member);
    const std::string ports_key = core::keys::pibs_victim_ports(options_.prefix, member);
    const std::string series_key = core::keys::pibs_victim_series(options_.prefix, member);
    std::vector<std::string> c{"EVALSHA", sha, per_slot ? "1" : "5", base};
    if (!per_slot) c.insert(c.end(), {ports_key, series_key, victims_key, last_key});
    c.insert(c.end(), {member, std::to_string(v.packets), std::to_string(v.first_seen),
                       std::to_string(v.last_seen), ttl});
    for (int i = 0; i < 5; ++i)
      if (v.flags[i]) {
        c.push_back(to_string(static_cast<FlagClass>(i)));
        c.push_back(std::to_string(v.flags[i]));
      }
    if (v.ece) {
      c.push_back("ece");
      c.push_back(std::to_string(v.ece));
    }
    for (const auto& [port, n] : v.ports)
      cmds.push_back({"ZINCRBY", ports_key, std::to_string(n), std::to_string(port)});
    for (const auto& [b, n] : v.buckets)
      cmds.push_back({"HINCRBY", series_key, std::to_string(b), std::to_string(n)});
    cmds.push_back(std::move(c));  // after the ports so that the distinct-port count is current
    if (per_slot) {                // the script's other steps, each in its own slot
      cmds.push_back({"ZINCRBY", victims_key, std::to_string(v.packets), member});
      cmds.push_back({"ZADD", last_key, "GT", std::to_string(v.last_seen), member});
      if (options_.victim_ttl_seconds > 0) {
        cmds.push_back({"EXPIRE", ports_key, ttl});
        cmds.push_back({"EXPIRE", series_key, ttl});
      }
      port_counts.emplace_back(base, cmds.size());
      cmds.push_back({"ZCARD", ports_key});
    }
  }
  const std::string stats_key = core::keys::pibs_stats(options_.prefix);
  auto stat = [&](const char* name, std::uint64_t n) {
    if (n) cmds.push_back({"HINCRBY", stats_key, name, std::to_string(n)});
  };
  stat("frames", s.frames);
  stat("tcp", s.tcp);
  stat("syn", s.syn);
  stat("normal", s.normal);
  stat("backscatter", s.backscatter);
  stat("syn_evicted", s.evicted_senders);
  std::uint64_t bad = 0;
  for (const auto& [k, n] : s.undecodable) bad += n;
  stat("undecodable", bad);
  if (table) {
    // Gauges of the SYN table (the writer's process only: one d4-pibs per result set).
    cmds.push_back({"HSET", stats_key, "syn_senders", std::to_string(table->senders), "syn_table_bytes",
                    std::to_string(table->bytes), "syn_table_max_bytes", std::to_string(table->max_bytes)});
  }
  auto replies = redis_.pipeline(cmds);
  for (std::size_t i = 0; i < replies.size(); ++i)
    if (replies[i].is_error()) throw core::RedisError("pibs write (" + cmds[i][0] + "): " + replies[i].str);
  if (port_counts.empty()) return;
  std::vector<std::vector<std::string>> counts{{"SCRIPT", "LOAD", std::string(kPortCountScript)}};
  const std::string count_sha = core::sha1_hex(kPortCountScript);
  for (const auto& [victim, at] : port_counts)
    counts.push_back({"EVALSHA", count_sha, "1", victim, std::to_string(replies.at(at).integer)});
  for (const auto& r : redis_.pipeline(counts))
    if (r.is_error()) throw core::RedisError("pibs write (distinct ports): " + r.str);
}

ClassifierStats operator-(const ClassifierStats& a, const ClassifierStats& b) {
  ClassifierStats d;
  d.frames = a.frames - b.frames;
  d.tcp = a.tcp - b.tcp;
  d.syn = a.syn - b.syn;
  d.normal = a.normal - b.normal;
  d.backscatter = a.backscatter - b.backscatter;
  d.expired_senders = a.expired_senders - b.expired_senders;
  d.evicted_senders = a.evicted_senders - b.evicted_senders;
  for (const auto& [k, n] : a.undecodable) {
    auto it = b.undecodable.find(k);
    d.undecodable[k] = n - (it == b.undecodable.end() ? 0 : it->second);
  }
  return d;
}

}  // namespace d4::analyzers::pibs
