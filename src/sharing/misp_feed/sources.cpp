#include "sharing/misp_feed/sources.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "analyzers/pibs/classifier.hpp"
#include "analyzers/tls/passivessl.hpp"
#include "core/keys.hpp"

namespace d4::sharing::misp {
namespace {

namespace keys = core::keys;
namespace tls = analyzers::tls;
constexpr std::size_t kPipelineItems = 500;

std::int64_t to_int(std::string_view s) {
  // Redis prints integer scores as such; a fractional part (never written by the analyzers) is cut.
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::map<std::string, std::string> hash_of(const core::RedisReply& r) {
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) out[r.elements[i].str] = r.elements[i + 1].str;
  return out;
}

std::int64_t field(const std::map<std::string, std::string>& h, const std::string& name) {
  auto it = h.find(name);
  return it == h.end() ? 0 : to_int(it->second);
}

void check(const std::vector<core::RedisReply>& replies, const char* what) {
  for (const auto& r : replies)
    if (r.is_error()) throw core::RedisError(std::string(what) + ": " + r.str);
}

// Members of a zset scored by last seen, seen at or after `since`; at most `max`, the others counted.
std::vector<std::string> seen_since(core::RedisClient& redis, const std::string& key, std::int64_t since,
                                    std::size_t max, SourceCounters& counters) {
  auto replies = redis.pipeline(
      {{"ZRANGEBYSCORE", key, std::to_string(since), "+inf", "LIMIT", "0", std::to_string(max)},
       {"ZCOUNT", key, std::to_string(since), "+inf"}});
  check(replies, key.c_str());
  std::vector<std::string> out;
  for (const auto& e : replies[0].elements) out.push_back(e.str);
  if (replies[1].integer > static_cast<long long>(out.size()))
    counters.candidates_not_read += static_cast<std::uint64_t>(replies[1].integer) - out.size();
  return out;
}

// The victim's packets, first and last seen within the period, from its series (bucket start ->
// packets) and its all-time first/last seen.
bool fill_period(Victim& v, const core::RedisReply& series, std::int64_t first_seen, std::int64_t last_seen,
                 const Period& period, std::int64_t bucket) {
  std::int64_t first_bucket = 0, last_bucket = 0;
  for (std::size_t i = 0; i + 1 < series.elements.size(); i += 2) {
    std::int64_t b = to_int(series.elements[i].str);
    if (!period.contains(b)) continue;
    v.packets += static_cast<std::uint64_t>(to_int(series.elements[i + 1].str));
    if (!first_bucket || b < first_bucket) first_bucket = b;
    if (b > last_bucket) last_bucket = b;
  }
  if (v.packets == 0) return false;
  v.first = period.contains(first_seen) ? first_seen : first_bucket;
  v.last = period.contains(last_seen) ? last_seen : std::min(last_bucket + bucket - 1, period.end - 1);
  v.last = std::max(v.last, v.first);
  return true;
}

template <typename T, typename Key>
void sort_by_count(std::vector<T>& items, Key key) {
  std::sort(items.begin(), items.end(), [&](const T& a, const T& b) {
    auto ka = key(a), kb = key(b);
    return ka.first != kb.first ? ka.first > kb.first : ka.second < kb.second;
  });
}

std::vector<Fingerprint> read_fingerprints(core::RedisClient& redis, const PassiveSslSource& source,
                                           const Period& period, std::string_view kind,
                                           SourceCounters& counters) {
  auto ids =
      seen_since(redis, tls::keys::seen(source.prefix, kind), period.start, source.max_scanned, counters);
  std::vector<Fingerprint> out;
  for (std::size_t i = 0; i < ids.size(); i += kPipelineItems) {
    std::vector<std::vector<std::string>> cmds;
    std::size_t n = std::min(kPipelineItems, ids.size() - i);
    for (std::size_t j = 0; j < n; ++j)
      cmds.push_back({"HGETALL", kind == "ja3" ? tls::keys::ja3(source.prefix, ids[i + j])
                                               : tls::keys::ja3s(source.prefix, ids[i + j])});
    auto replies = redis.pipeline(cmds);
    check(replies, "passive SSL fingerprints");
    for (std::size_t j = 0; j < n; ++j) {
      auto h = hash_of(replies[j]);
      if (h.empty() || field(h, "first_seen") >= period.end) continue;
      out.push_back({ids[i + j], h["raw"], static_cast<std::uint64_t>(field(h, "count")),
                     field(h, "first_seen"), field(h, "last_seen")});
    }
  }
  sort_by_count(out, [](const Fingerprint& f) { return std::make_pair(f.sessions, f.md5); });
  return out;
}

}  // namespace

std::vector<Victim> read_victims(core::RedisClient& redis, const BackscatterSource& source,
                                 const Period& period, SourceCounters& counters) {
  auto ids = seen_since(redis, keys::pibs_victims_last_seen(source.prefix), period.start,
                        source.max_victims_scanned, counters);
  std::vector<Victim> out;
  for (std::size_t i = 0; i < ids.size(); i += kPipelineItems) {
    std::vector<std::vector<std::string>> cmds;
    std::size_t n = std::min(kPipelineItems, ids.size() - i);
    for (std::size_t j = 0; j < n; ++j) {
      const auto& ip = ids[i + j];
      cmds.push_back({"HGETALL", keys::pibs_victim_series(source.prefix, ip)});
      cmds.push_back({"HGETALL", keys::pibs_victim(source.prefix, ip)});
      cmds.push_back({"ZREVRANGE", keys::pibs_victim_ports(source.prefix, ip), "0",
                      std::to_string(source.max_ports - 1), "WITHSCORES"});
    }
    auto replies = redis.pipeline(cmds);
    check(replies, "backscatter victims");
    for (std::size_t j = 0; j < n; ++j) {
      auto h = hash_of(replies[3 * j + 1]);
      Victim v;
      v.address = ids[i + j];
      if (!fill_period(v, replies[3 * j], field(h, "first_seen"), field(h, "last_seen"), period,
                       source.bucket_seconds) ||
          v.packets < source.min_packets)
        continue;
      for (int f = 0; f < 5; ++f) {
        std::string name = analyzers::pibs::to_string(static_cast<analyzers::pibs::FlagClass>(f));
        v.flags.emplace_back(name, static_cast<std::uint64_t>(field(h, name)));
      }
      v.flags.emplace_back("ece", static_cast<std::uint64_t>(field(h, "ece")));
      const auto& ports = replies[3 * j + 2].elements;
      for (std::size_t p = 0; p + 1 < ports.size(); p += 2)
        v.ports.emplace_back(ports[p].str, static_cast<std::uint64_t>(to_int(ports[p + 1].str)));
      v.distinct_ports = static_cast<std::uint64_t>(field(h, "ports"));
      v.total_packets = static_cast<std::uint64_t>(field(h, "packets"));
      v.first_seen = field(h, "first_seen");
      out.push_back(std::move(v));
    }
  }
  sort_by_count(out, [](const Victim& v) { return std::make_pair(v.packets, v.address); });
  return out;
}

std::vector<analyzers::pdns::CofRecord> read_watched_records(core::RedisClient& redis,
                                                             const PassiveDnsSource& source,
                                                             const Period& period, SourceCounters& counters) {
  analyzers::pdns::PdnsQuery query(redis);
  analyzers::pdns::QueryOptions options;
  options.time_first_before = period.end - 1;
  options.time_last_after = period.start;
  options.limit = source.max_records_per_watch;
  std::map<std::tuple<std::string, std::uint16_t, std::string>, analyzers::pdns::CofRecord> unique;
  for (const auto& entry : source.watch) {
    auto result = query.query(entry, options);
    if (result.total > result.records.size())
      counters.candidates_not_read += result.total - result.records.size();
    if (result.capped) ++counters.candidates_not_read;
    for (auto& r : result.records) {
      auto key = std::make_tuple(r.rrname, r.rrtype, r.rdata);
      unique.emplace(std::move(key), std::move(r));
    }
  }
  std::vector<analyzers::pdns::CofRecord> out;
  for (auto& [k, r] : unique) out.push_back(std::move(r));
  return out;
}

SslPeriod read_ssl(core::RedisClient& redis, const PassiveSslSource& source, const Period& period,
                   SourceCounters& counters) {
  SslPeriod out;
  out.ja3 = read_fingerprints(redis, source, period, "ja3", counters);
  out.ja3s = read_fingerprints(redis, source, period, "ja3s", counters);
  auto ids =
      seen_since(redis, tls::keys::seen(source.prefix, "cert"), period.start, source.max_scanned, counters);
  for (std::size_t i = 0; i < ids.size(); i += kPipelineItems) {
    std::vector<std::vector<std::string>> cmds;
    std::size_t n = std::min(kPipelineItems, ids.size() - i);
    for (std::size_t j = 0; j < n; ++j)
      cmds.push_back({"HGETALL", tls::keys::cert(source.prefix, ids[i + j])});
    auto replies = redis.pipeline(cmds);
    check(replies, "passive SSL certificates");
    for (std::size_t j = 0; j < n; ++j) {
      auto h = hash_of(replies[j]);
      if (h.empty() || field(h, "first_seen") >= period.end) continue;
      out.certificates.push_back({ids[i + j], std::move(h)});
    }
  }
  sort_by_count(out.certificates, [](const SslCertificateRecord& c) {
    return std::make_pair(static_cast<std::uint64_t>(field(c.fields, "count")), c.sha1);
  });
  std::set<std::string> servers;
  for (const auto& f : out.ja3s) servers.insert(f.md5);
  if (out.ja3.empty() || servers.empty()) return out;
  for (std::size_t i = 0; i < out.ja3.size(); i += kPipelineItems) {
    std::vector<std::vector<std::string>> cmds;
    std::size_t n = std::min(kPipelineItems, out.ja3.size() - i);
    for (std::size_t j = 0; j < n; ++j)
      cmds.push_back({"ZREVRANGE", tls::keys::ja3s_of_ja3(source.prefix, out.ja3[i + j].md5), "0",
                      std::to_string(source.max_ja3s_per_ja3 - 1)});
    auto replies = redis.pipeline(cmds);
    check(replies, "passive SSL fingerprint pairs");
    for (std::size_t j = 0; j < n; ++j)
      for (const auto& m : replies[j].elements)
        if (servers.count(m.str)) out.pairs.emplace_back(out.ja3[i + j].md5, m.str);
  }
  return out;
}

}  // namespace d4::sharing::misp
