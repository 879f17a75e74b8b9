// Read model of the backscatter results that d4-pibs writes to Redis (layout in
// src/analyzers/pibs/victims.hpp, key names in core/keys.hpp): ranked victims, per-victim detail
// and intensity series, counters. Shared by the JSON API and the HTML pages.
#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <numeric>

#include "core/ipnet.hpp"
#include "core/keys.hpp"
#include "web/app.hpp"

namespace d4::web {

namespace keys = core::keys;

namespace {

// Bounds that keep one request cheap on a large result set; answers say when they were reached.
constexpr long long kMaxWindowSeconds = 366LL * 24 * 3600;
constexpr long long kMaxEpoch = 4102444800LL;  // 2100-01-01
constexpr long long kMaxLimit = 1000;
constexpr long long kMaxOffset = 10000000;
constexpr std::size_t kScanChunk = 10000;            // members per ZREVRANGE when filtering all time
constexpr std::size_t kMaxScanned = 200000;          // members examined when filtering all time
constexpr std::size_t kMaxWindowCandidates = 20000;  // recently seen victims whose series are read
constexpr std::size_t kSeriesPipeline = 500;

struct Service {
  int port;
  std::string_view name;
};
// Services commonly seen answering spoofed connection attempts (TCP source ports of backscatter).
constexpr Service kServices[] = {
    {7, "echo"},
    {21, "ftp"},
    {22, "ssh"},
    {23, "telnet"},
    {25, "smtp"},
    {43, "whois"},
    {53, "dns"},
    {80, "http"},
    {88, "kerberos"},
    {110, "pop3"},
    {111, "rpcbind"},
    {113, "ident"},
    {119, "nntp"},
    {135, "msrpc"},
    {139, "netbios-ssn"},
    {143, "imap"},
    {179, "bgp"},
    {389, "ldap"},
    {443, "https"},
    {445, "smb"},
    {465, "smtps"},
    {514, "rsh"},
    {587, "submission"},
    {636, "ldaps"},
    {853, "dns-over-tls"},
    {873, "rsync"},
    {993, "imaps"},
    {995, "pop3s"},
    {1080, "socks"},
    {1194, "openvpn"},
    {1433, "mssql"},
    {1521, "oracle"},
    {1723, "pptp"},
    {1883, "mqtt"},
    {2049, "nfs"},
    {2375, "docker"},
    {3128, "http-proxy"},
    {3306, "mysql"},
    {3389, "rdp"},
    {5060, "sip"},
    {5222, "xmpp"},
    {5432, "postgresql"},
    {5900, "vnc"},
    {6379, "redis"},
    {6443, "kubernetes"},
    {6667, "irc"},
    {8000, "http-alt"},
    {8080, "http-alt"},
    {8443, "https-alt"},
    {8883, "mqtts"},
    {9000, "http-alt"},
    {9200, "elasticsearch"},
    {11211, "memcached"},
    {25565, "minecraft"},
    {27015, "source-engine"},
    {27017, "mongodb"},
};

void throw_on_error_replies(const std::vector<core::RedisReply>& replies, const char* what) {
  for (const auto& r : replies)
    if (r.is_error()) throw core::RedisError(std::string("backscatter ") + what + ": " + r.str);
}

long long to_ll(const std::string& s) {
  long long v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Scores of the result sets are integers written by HINCRBY/ZINCRBY; Redis prints them as such.
long long score_of(const std::string& s) {
  return static_cast<long long>(std::strtod(s.c_str(), nullptr));
}

std::vector<std::pair<std::string, long long>> scored(const core::RedisReply& r) {
  std::vector<std::pair<std::string, long long>> out;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
    out.emplace_back(r.elements[i].str, score_of(r.elements[i + 1].str));
  return out;
}

std::vector<std::pair<std::string, std::string>> hash_pairs(const core::RedisReply& r) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
    out.emplace_back(r.elements[i].str, r.elements[i + 1].str);
  return out;
}

// Bucket start -> packets, ordered by time.
std::vector<std::pair<long long, long long>> series_of(const core::RedisReply& r) {
  std::vector<std::pair<long long, long long>> out;
  for (auto& [k, v] : hash_pairs(r)) out.emplace_back(to_ll(k), to_ll(v));
  std::sort(out.begin(), out.end());
  return out;
}

// The width d4-pibs used: the greatest common divisor of the gaps between buckets.
long long bucket_width(const std::vector<std::pair<long long, long long>>& series, long long fallback) {
  long long g = 0;
  for (std::size_t i = 1; i < series.size(); ++i) g = std::gcd(g, series[i].first - series[i - 1].first);
  return g > 0 ? g : fallback;
}

std::string time_label(long long t, bool seconds) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm);
  return buf;
}

json port_json(long long port, long long packets) {
  auto service = port_service(port);
  return {{"port", port},
          {"service", service.empty() ? json(nullptr) : json(std::string(service))},
          {"packets", packets}};
}

// An address (exact), a CIDR network, or a piece of address text.
class VictimFilter {
 public:
  explicit VictimFilter(const std::string& text) {
    if (text.empty()) return;
    if (auto net = core::IpNetwork::parse(text)) {
      network_ = *net;
    } else {
      text_ = text;
      for (auto& c : text_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  bool active() const { return network_ || !text_.empty(); }
  bool matches(const std::string& victim) const {
    if (network_) {
      auto a = core::IpAddress::parse(victim);
      return a && network_->contains(*a);
    }
    return text_.empty() || victim.find(text_) != std::string::npos;
  }

 private:
  std::optional<core::IpNetwork> network_;
  std::string text_;
};

int family_of(const std::string& victim) {
  return victim.find(':') == std::string::npos ? 4 : 6;
}

}  // namespace

std::string normalize_victim(const std::string& text) {
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) throw ApiError(400, "Invalid IP address");
  int family = text.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(family, text.c_str(), bytes) != 1 || !inet_ntop(family, bytes, out, sizeof out))
    throw ApiError(400, "Invalid IP address");
  return out;
}

std::string_view port_service(long long port) {
  for (const auto& s : kServices)
    if (s.port == port) return s.name;
  return {};
}

VictimQuery parse_victim_query(const Input& in) {
  VictimQuery q;
  std::string window = in.str("window");
  if (window == "all") {
    q.window = 0;
  } else if (!window.empty()) {
    q.window = in.integer("window").value_or(q.window);
    if (q.window < 0 || q.window > kMaxWindowSeconds)
      throw ApiError(400, "window must be 0 or \"all\" (all time) or 1.." +
                              std::to_string(kMaxWindowSeconds) + " seconds");
  }
  std::string until = in.str("until");
  if (until == "latest") {
    q.until_latest = true;
  } else if (!until.empty()) {
    q.until = in.integer("until");
    if (!q.until || *q.until <= 0 || *q.until > kMaxEpoch)
      throw ApiError(400, "until must be \"latest\" or a time in epoch seconds");
  }
  q.filter = in.str("q");
  if (q.filter.size() > 64 || (!q.filter.empty() && !core::IpNetwork::parse(q.filter) &&
                               q.filter.find_first_not_of("0123456789abcdefABCDEF.:") != std::string::npos))
    throw ApiError(400, "q must be an address, a CIDR network or part of an address");
  q.limit = in.integer("limit").value_or(q.limit);
  if (q.limit < 1 || q.limit > kMaxLimit)
    throw ApiError(400, "limit must be 1.." + std::to_string(kMaxLimit));
  q.offset = in.integer("offset").value_or(q.offset);
  if (q.offset < 0 || q.offset > kMaxOffset)
    throw ApiError(400, "offset must be 0.." + std::to_string(kMaxOffset));
  return q;
}

json WebApp::backscatter_stats(Db& db) {
  const auto& prefix = cfg_.backscatter_prefix;
  long long now = std::time(nullptr);
  auto r = db.backscatter.pipeline(
      {{"HGETALL", keys::pibs_stats(prefix)},
       {"ZCARD", keys::pibs_victims(prefix)},
       {"ZREVRANGE", keys::pibs_victims_last_seen(prefix), "0", "0", "WITHSCORES"},
       {"ZCOUNT", keys::pibs_victims_last_seen(prefix), std::to_string(now - 3600), "+inf"}});
  throw_on_error_replies(r, "stats");
  json counters = json::object();
  // syn_evicted counts SYN senders d4-pibs dropped at its memory cap (their replies may then be
  // reported as backscatter); syn_senders/syn_table_bytes/syn_table_max_bytes are its table's gauges.
  for (const char* k : {"frames", "tcp", "syn", "normal", "backscatter", "undecodable", "syn_evicted",
                        "syn_senders", "syn_table_bytes", "syn_table_max_bytes"})
    counters[k] = 0;
  for (auto& [k, v] : hash_pairs(r[0])) counters[k] = to_ll(v);
  auto latest = scored(r[2]);
  return {{"counters", counters},
          {"victims", r[1].integer},
          {"victims_last_hour", r[3].integer},
          {"latest", latest.empty() ? json(nullptr) : json(latest[0].second)},
          {"source", {{"redis", db.backscatter.endpoint().to_string()}, {"key_prefix", prefix}}}};
}

json WebApp::backscatter_victims(Db& db, const VictimQuery& q) {
  const auto& prefix = cfg_.backscatter_prefix;
  const std::string victims_key = keys::pibs_victims(prefix), last_key = keys::pibs_victims_last_seen(prefix);
  auto head =
      db.backscatter.pipeline({{"ZREVRANGE", last_key, "0", "0", "WITHSCORES"}, {"ZCARD", victims_key}});
  throw_on_error_replies(head, "victims");
  auto newest = scored(head[0]);
  std::optional<long long> latest;
  if (!newest.empty()) latest = newest[0].second;
  const long long until =
      q.until_latest ? latest.value_or(std::time(nullptr)) : q.until.value_or(std::time(nullptr));
  const long long victims_total = head[1].integer;

  VictimFilter filter(q.filter);
  std::vector<std::pair<std::string, long long>> ranked;  // victim -> packets (window or all time)
  long long total = 0;
  bool truncated = false;
  if (q.window == 0 && !filter.active()) {
    // The all-time ranking is the zset itself: only the page is read.
    total = victims_total;
    auto r = db.backscatter.command({"ZREVRANGE", victims_key, std::to_string(q.offset),
                                     std::to_string(q.offset + q.limit - 1), "WITHSCORES"});
    if (r.is_error()) throw core::RedisError("backscatter victims: " + r.str);
    ranked = scored(r);
  } else if (q.window == 0) {
    std::size_t scanned = 0;
    while (scanned < kMaxScanned && scanned < static_cast<std::size_t>(victims_total)) {
      auto r = db.backscatter.command({"ZREVRANGE", victims_key, std::to_string(scanned),
                                       std::to_string(scanned + kScanChunk - 1), "WITHSCORES"});
      if (r.is_error()) throw core::RedisError("backscatter victims: " + r.str);
      auto chunk = scored(r);
      if (chunk.empty()) break;
      scanned += chunk.size();
      for (auto& v : chunk)
        if (filter.matches(v.first)) ranked.push_back(std::move(v));
    }
    truncated = scanned < static_cast<std::size_t>(victims_total);
  } else {
    // Victims seen since the window began, most recent first (bounded), ranked by the packets of
    // their series buckets starting inside [until - window, until].
    const long long from = until - q.window;
    auto c = db.backscatter.pipeline({{"ZREVRANGEBYSCORE", last_key, "+inf", std::to_string(from), "LIMIT",
                                       "0", std::to_string(kMaxWindowCandidates)},
                                      {"ZCOUNT", last_key, std::to_string(from), "+inf"}});
    throw_on_error_replies(c, "victims");
    std::vector<std::string> candidates;
    for (auto& v : c[0].as_strings())
      if (filter.matches(v)) candidates.push_back(std::move(v));
    truncated = c[1].integer > static_cast<long long>(kMaxWindowCandidates);
    for (std::size_t i = 0; i < candidates.size(); i += kSeriesPipeline) {
      std::vector<std::vector<std::string>> cmds;
      for (std::size_t j = i; j < candidates.size() && j < i + kSeriesPipeline; ++j)
        cmds.push_back({"HGETALL", keys::pibs_victim_series(prefix, candidates[j])});
      auto r = db.backscatter.pipeline(cmds);
      throw_on_error_replies(r, "series");
      for (std::size_t j = 0; j < r.size(); ++j) {
        long long packets = 0;
        for (auto& [start, n] : series_of(r[j]))
          if (start >= from && start <= until) packets += n;
        if (packets > 0) ranked.emplace_back(candidates[i + j], packets);
      }
    }
  }
  if (q.window != 0 || filter.active()) {
    // Same order as ZREVRANGE: packets descending, equal counts by address text descending.
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first > b.first;
    });
    total = static_cast<long long>(ranked.size());
    auto begin = std::min<std::size_t>(static_cast<std::size_t>(q.offset), ranked.size());
    auto end = std::min<std::size_t>(begin + static_cast<std::size_t>(q.limit), ranked.size());
    ranked =
        std::vector<std::pair<std::string, long long>>(ranked.begin() + static_cast<std::ptrdiff_t>(begin),
                                                       ranked.begin() + static_cast<std::ptrdiff_t>(end));
  }

  std::vector<std::vector<std::string>> cmds;
  for (const auto& [v, n] : ranked) {
    cmds.push_back({"HMGET", keys::pibs_victim(prefix, v), "packets", "first_seen", "last_seen", "ports"});
    cmds.push_back({"ZSCORE", victims_key, v});
    cmds.push_back({"ZSCORE", last_key, v});
    cmds.push_back({"ZREVRANGE", keys::pibs_victim_ports(prefix, v), "0", "0", "WITHSCORES"});
  }
  auto details = cmds.empty() ? std::vector<core::RedisReply>{} : db.backscatter.pipeline(cmds);
  throw_on_error_replies(details, "victims");
  json items = json::array();
  for (std::size_t i = 0; i < ranked.size(); ++i) {
    const auto& h = details[4 * i].elements;
    auto field = [&](std::size_t f) -> std::optional<long long> {
      if (f < h.size() && !h[f].is_nil()) return to_ll(h[f].str);
      return std::nullopt;
    };
    auto zscore = [&](std::size_t k) -> json {
      auto s = details[4 * i + k].as_string();
      return s ? json(score_of(*s)) : json(nullptr);
    };
    auto top = scored(details[4 * i + 3]);
    const bool expired = !field(0);  // hash gone (victim_ttl_seconds) while the zsets keep the victim
    items.push_back(
        {{"victim", ranked[i].first},
         {"family", family_of(ranked[i].first)},
         {"packets", ranked[i].second},
         {"packets_total", expired ? zscore(1) : json(*field(0))},
         {"first_seen", field(1) ? json(*field(1)) : json(nullptr)},
         {"last_seen", field(2) ? json(*field(2)) : zscore(2)},
         {"distinct_ports", field(3).value_or(0)},
         {"top_port", top.empty() ? json(nullptr) : port_json(to_ll(top[0].first), top[0].second)},
         {"expired", expired}});
  }
  return {{"window", q.window},
          {"until", q.window == 0 ? json(nullptr) : json(until)},
          {"latest", latest ? json(*latest) : json(nullptr)},
          {"q", q.filter},
          {"total", total},
          {"limit", q.limit},
          {"offset", q.offset},
          {"truncated", truncated},
          {"items", items}};
}

json WebApp::backscatter_victim(Db& db, const std::string& ip, long long top_ports) {
  const auto& prefix = cfg_.backscatter_prefix;
  const std::string v = normalize_victim(ip);
  auto r = db.backscatter.pipeline(
      {{"HGETALL", keys::pibs_victim(prefix, v)},
       {"ZSCORE", keys::pibs_victims(prefix), v},
       {"ZSCORE", keys::pibs_victims_last_seen(prefix), v},
       {"ZCARD", keys::pibs_victim_ports(prefix, v)},
       {"ZREVRANGE", keys::pibs_victim_ports(prefix, v), "0", std::to_string(top_ports - 1), "WITHSCORES"},
       {"HGETALL", keys::pibs_victim_series(prefix, v)}});
  throw_on_error_replies(r, "victim");
  auto fields = hash_pairs(r[0]);
  if (fields.empty() && r[1].is_nil()) throw ApiError(404, "no backscatter recorded for " + v);
  auto get = [&](std::string_view k) -> std::optional<long long> {
    for (auto& [name, value] : fields)
      if (name == k) return to_ll(value);
    return std::nullopt;
  };
  json flags = json::object();
  for (const char* k : {"syn_ack", "rst", "rst_ack", "ack", "other", "ece"}) flags[k] = get(k).value_or(0);
  json ports = json::array();
  for (auto& [port, n] : scored(r[4])) ports.push_back(port_json(to_ll(port), n));
  auto series = series_of(r[5]);
  json points = json::array();
  for (auto& [start, n] : series) points.push_back({start, n});
  const bool expired = fields.empty();
  auto score = [&](std::size_t k) { return r[k].is_nil() ? json(nullptr) : json(score_of(r[k].str)); };
  return {{"victim", v},
          {"family", family_of(v)},
          {"packets", expired ? score(1) : json(get("packets").value_or(0))},
          {"first_seen", get("first_seen") ? json(*get("first_seen")) : json(nullptr)},
          {"last_seen", get("last_seen") ? json(*get("last_seen")) : score(2)},
          {"flags", flags},
          {"distinct_ports", r[3].integer},
          {"ports", ports},
          {"bucket_seconds", bucket_width(series, cfg_.backscatter_bucket_seconds)},
          {"series", points},
          {"expired", expired}};
}

json WebApp::backscatter_series(Db& db, const std::string& ip, long long max_points) {
  const auto& prefix = cfg_.backscatter_prefix;
  const std::string v = normalize_victim(ip);
  auto r = db.backscatter.pipeline({{"HGETALL", keys::pibs_victim_series(prefix, v)},
                                    {"EXISTS", keys::pibs_victim(prefix, v)},
                                    {"ZSCORE", keys::pibs_victims(prefix), v}});
  throw_on_error_replies(r, "series");
  auto series = series_of(r[0]);
  if (series.empty() && r[1].integer == 0 && r[2].is_nil())
    throw ApiError(404, "no backscatter recorded for " + v);
  // Gaps become zeros (a quiet minute is data too); long ranges are summed into wider steps so
  // that the chart has at most max_points points.
  const long long bucket = bucket_width(series, cfg_.backscatter_bucket_seconds);
  long long step = bucket;
  json dates = json::array(), starts = json::array(), packets = json::array();
  if (!series.empty()) {
    const long long first = series.front().first, last = series.back().first;
    const long long buckets = (last - first) / bucket + 1;
    if (buckets > max_points) step = (buckets + max_points - 1) / max_points * bucket;
    std::vector<long long> sums(static_cast<std::size_t>((last - first) / step + 1), 0);
    for (auto& [start, n] : series) sums[static_cast<std::size_t>((start - first) / step)] += n;
    for (std::size_t i = 0; i < sums.size(); ++i) {
      long long t = first + static_cast<long long>(i) * step;
      starts.push_back(t);
      dates.push_back(time_label(t, step % 60 != 0));
      packets.push_back(sums[i]);
    }
  }
  return {{"victim", v},          {"bucket_seconds", bucket},
          {"step_seconds", step}, {"starts", starts},
          {"dates", dates},       {"intensity", {{"packets per " + std::to_string(step) + " s", packets}}}};
}

}  // namespace d4::web
