// Read model of the backscatter results of d4-pibs.
#include "web/models/backscatter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <numeric>

#include "core/ipnet.hpp"
#include "core/keys.hpp"
#include "protocol/text.hpp"
#include "web/request.hpp"

namespace d4::web::models {

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

void throw_on_error(const core::RedisReply& r, const char* what) {
  if (r.is_error()) throw core::RedisError(std::string("backscatter ") + what + ": " + r.str);
}

void throw_on_error_replies(const std::vector<core::RedisReply>& replies, const char* what) {
  for (const auto& r : replies) throw_on_error(r, what);
}

// Scores of the result sets are integers written by HINCRBY/ZINCRBY; Redis prints them as such.
long long score_of(const std::string& s) {
  return static_cast<long long>(std::strtod(s.c_str(), nullptr));
}

std::optional<long long> score_of(const core::RedisReply& r) {
  if (r.is_nil()) return std::nullopt;
  return score_of(r.str);
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

PortCount port_count(long long port, long long packets) {
  auto service = port_service(port);
  return {port, service.empty() ? std::nullopt : std::optional<std::string>(service), packets};
}

// An address (exact), a CIDR network, or a piece of address text.
class VictimFilter {
 public:
  explicit VictimFilter(const std::string& text) {
    if (text.empty()) return;
    if (auto net = core::IpNetwork::parse(text)) {
      network_ = *net;
    } else {
      text_ = text::ascii_lower(text);
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

using Ranked = std::vector<std::pair<std::string, long long>>;  // victim -> packets

// The victims of the all-time ranking that match `filter`, examining at most kMaxScanned.
Ranked rank_all_time(core::RedisClient& db, const std::string& victims_key, const VictimFilter& filter,
                     long long victims_total, bool& truncated) {
  Ranked ranked;
  std::size_t scanned = 0;
  while (scanned < kMaxScanned && scanned < static_cast<std::size_t>(victims_total)) {
    auto r = db.command({"ZREVRANGE", victims_key, std::to_string(scanned),
                         std::to_string(scanned + kScanChunk - 1), "WITHSCORES"});
    throw_on_error(r, "victims");
    auto chunk = scored(r);
    if (chunk.empty()) break;
    scanned += chunk.size();
    for (auto& v : chunk)
      if (filter.matches(v.first)) ranked.push_back(std::move(v));
  }
  truncated = scanned < static_cast<std::size_t>(victims_total);
  return ranked;
}

// Victims seen since the window began, most recent first (bounded), ranked by the packets of
// their series buckets starting inside [until - window, until].
Ranked rank_window(core::RedisClient& db, const std::string& prefix, const VictimFilter& filter,
                   long long window, long long until, bool& truncated) {
  const std::string last_key = keys::pibs_victims_last_seen(prefix);
  const long long from = until - window;
  auto c = db.pipeline({{"ZREVRANGEBYSCORE", last_key, "+inf", std::to_string(from), "LIMIT", "0",
                         std::to_string(kMaxWindowCandidates)},
                        {"ZCOUNT", last_key, std::to_string(from), "+inf"}});
  throw_on_error_replies(c, "victims");
  std::vector<std::string> candidates;
  for (auto& v : c[0].as_strings())
    if (filter.matches(v)) candidates.push_back(std::move(v));
  truncated = c[1].integer > static_cast<long long>(kMaxWindowCandidates);
  Ranked ranked;
  for (std::size_t i = 0; i < candidates.size(); i += kSeriesPipeline) {
    std::vector<std::vector<std::string>> cmds;
    for (std::size_t j = i; j < candidates.size() && j < i + kSeriesPipeline; ++j)
      cmds.push_back({"HGETALL", keys::pibs_victim_series(prefix, candidates[j])});
    auto r = db.pipeline(cmds);
    throw_on_error_replies(r, "series");
    for (std::size_t j = 0; j < r.size(); ++j) {
      long long packets = 0;
      for (auto& [start, n] : series_of(r[j]))
        if (start >= from && start <= until) packets += n;
      if (packets > 0) ranked.emplace_back(candidates[i + j], packets);
    }
  }
  return ranked;
}

// Entries offset..offset+limit of `ranked` in the order of ZREVRANGE: packets descending, equal
// counts by address text descending.
Ranked sorted_page(Ranked ranked, long long offset, long long limit) {
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first > b.first;
  });
  auto begin = std::min<std::size_t>(static_cast<std::size_t>(offset), ranked.size());
  auto end = std::min<std::size_t>(begin + static_cast<std::size_t>(limit), ranked.size());
  return Ranked(ranked.begin() + static_cast<std::ptrdiff_t>(begin),
                ranked.begin() + static_cast<std::ptrdiff_t>(end));
}

// The rows of the ranked victims: their all-time figures and most answered port.
std::vector<VictimRow> victim_rows(core::RedisClient& db, const std::string& prefix, const Ranked& ranked) {
  std::vector<std::vector<std::string>> cmds;
  for (const auto& [v, n] : ranked) {
    cmds.push_back({"HMGET", keys::pibs_victim(prefix, v), "packets", "first_seen", "last_seen", "ports"});
    cmds.push_back({"ZSCORE", keys::pibs_victims(prefix), v});
    cmds.push_back({"ZSCORE", keys::pibs_victims_last_seen(prefix), v});
    cmds.push_back({"ZREVRANGE", keys::pibs_victim_ports(prefix, v), "0", "0", "WITHSCORES"});
  }
  auto details = cmds.empty() ? std::vector<core::RedisReply>{} : db.pipeline(cmds);
  throw_on_error_replies(details, "victims");
  std::vector<VictimRow> rows;
  for (std::size_t i = 0; i < ranked.size(); ++i) {
    const auto& h = details[4 * i].elements;
    auto field = [&](std::size_t f) -> std::optional<long long> {
      if (f < h.size() && !h[f].is_nil()) return to_ll(h[f].str);
      return std::nullopt;
    };
    VictimRow row;
    row.victim = ranked[i].first;
    row.family = family_of(row.victim);
    row.packets = ranked[i].second;
    row.expired = !field(0);
    row.packets_total = row.expired ? score_of(details[4 * i + 1]) : field(0);
    row.first_seen = field(1);
    row.last_seen = field(2) ? field(2) : score_of(details[4 * i + 2]);
    row.distinct_ports = field(3).value_or(0);
    auto top = scored(details[4 * i + 3]);
    if (!top.empty()) row.top_port = port_count(to_ll(top[0].first), top[0].second);
    rows.push_back(std::move(row));
  }
  return rows;
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

namespace {
// The named counters of PibsCounters, in the order of the JSON object's keys.
constexpr std::pair<const char*, long long PibsCounters::*> kCounterFields[] = {
    {"frames", &PibsCounters::frames},
    {"tcp", &PibsCounters::tcp},
    {"syn", &PibsCounters::syn},
    {"normal", &PibsCounters::normal},
    {"backscatter", &PibsCounters::backscatter},
    {"undecodable", &PibsCounters::undecodable},
    {"syn_evicted", &PibsCounters::syn_evicted},
    {"syn_senders", &PibsCounters::syn_senders},
    {"syn_table_bytes", &PibsCounters::syn_table_bytes},
    {"syn_table_max_bytes", &PibsCounters::syn_table_max_bytes},
};

PibsCounters counters_of(const core::RedisReply& r) {
  PibsCounters c;
  for (auto& [k, v] : hash_pairs(r)) {
    const std::string& name = k;  // a named variable: lambdas cannot capture bindings before Clang 16
    auto field = std::find_if(std::begin(kCounterFields), std::end(kCounterFields),
                              [&](const auto& f) { return name == f.first; });
    if (field != std::end(kCounterFields))
      c.*(field->second) = to_ll(v);
    else
      c.other[k] = to_ll(v);
  }
  return c;
}
}  // namespace

void to_json(json& j, const BackscatterStats& s) {
  json counters = s.counters.other;
  for (const auto& [name, member] : kCounterFields) counters[name] = s.counters.*member;
  j = {{"counters", counters},
       {"victims", s.victims},
       {"victims_last_hour", s.victims_last_hour},
       {"latest", json(s.latest)},
       {"source", {{"redis", s.redis}, {"key_prefix", s.key_prefix}}}};
}

void to_json(json& j, const VictimSeries& s) {
  j = {{"victim", s.victim},
       {"bucket_seconds", s.bucket_seconds},
       {"step_seconds", s.step_seconds},
       {"starts", s.starts},
       {"dates", s.dates},
       {"intensity", {{"packets per " + std::to_string(s.step_seconds) + " s", s.packets}}}};
}

BackscatterStats Backscatter::stats() {
  long long now = std::time(nullptr);
  auto r =
      db_.pipeline({{"HGETALL", keys::pibs_stats(prefix_)},
                    {"ZCARD", keys::pibs_victims(prefix_)},
                    {"ZREVRANGE", keys::pibs_victims_last_seen(prefix_), "0", "0", "WITHSCORES"},
                    {"ZCOUNT", keys::pibs_victims_last_seen(prefix_), std::to_string(now - 3600), "+inf"}});
  throw_on_error_replies(r, "stats");
  BackscatterStats s;
  s.counters = counters_of(r[0]);
  s.victims = r[1].integer;
  s.victims_last_hour = r[3].integer;
  auto latest = scored(r[2]);
  if (!latest.empty()) s.latest = latest[0].second;
  s.redis = db_.endpoint().to_string();
  s.key_prefix = prefix_;
  return s;
}

VictimList Backscatter::victims(const VictimQuery& q) {
  const std::string victims_key = keys::pibs_victims(prefix_);
  auto head = db_.pipeline(
      {{"ZREVRANGE", keys::pibs_victims_last_seen(prefix_), "0", "0", "WITHSCORES"}, {"ZCARD", victims_key}});
  throw_on_error_replies(head, "victims");
  VictimList l;
  l.window = q.window;
  l.q = q.filter;
  l.limit = q.limit;
  l.offset = q.offset;
  auto newest = scored(head[0]);
  if (!newest.empty()) l.latest = newest[0].second;
  const long long until =
      q.until_latest ? l.latest.value_or(std::time(nullptr)) : q.until.value_or(std::time(nullptr));
  if (q.window != 0) l.until = until;
  const long long victims_total = head[1].integer;

  VictimFilter filter(q.filter);
  Ranked ranked;
  if (q.window == 0 && !filter.active()) {
    // The all-time ranking is the zset itself: only the page is read.
    l.total = victims_total;
    auto r = db_.command({"ZREVRANGE", victims_key, std::to_string(q.offset),
                          std::to_string(q.offset + q.limit - 1), "WITHSCORES"});
    throw_on_error(r, "victims");
    ranked = scored(r);
  } else {
    ranked = q.window == 0 ? rank_all_time(db_, victims_key, filter, victims_total, l.truncated)
                           : rank_window(db_, prefix_, filter, q.window, until, l.truncated);
    l.total = static_cast<long long>(ranked.size());
    ranked = sorted_page(std::move(ranked), q.offset, q.limit);
  }
  l.items = victim_rows(db_, prefix_, ranked);
  return l;
}

VictimDetail Backscatter::victim(const std::string& ip, long long top_ports) {
  const std::string v = normalize_victim(ip);
  auto r = db_.pipeline(
      {{"HGETALL", keys::pibs_victim(prefix_, v)},
       {"ZSCORE", keys::pibs_victims(prefix_), v},
       {"ZSCORE", keys::pibs_victims_last_seen(prefix_), v},
       {"ZCARD", keys::pibs_victim_ports(prefix_, v)},
       {"ZREVRANGE", keys::pibs_victim_ports(prefix_, v), "0", std::to_string(top_ports - 1), "WITHSCORES"},
       {"HGETALL", keys::pibs_victim_series(prefix_, v)}});
  throw_on_error_replies(r, "victim");
  auto fields = hash_pairs(r[0]);
  if (fields.empty() && r[1].is_nil()) throw ApiError(404, "no backscatter recorded for " + v);
  auto get = [&](std::string_view k) -> std::optional<long long> {
    for (auto& [name, value] : fields)
      if (name == k) return to_ll(value);
    return std::nullopt;
  };
  VictimDetail d;
  d.victim = v;
  d.family = family_of(v);
  d.expired = fields.empty();
  d.packets = d.expired ? score_of(r[1]) : std::optional(get("packets").value_or(0));
  d.first_seen = get("first_seen");
  d.last_seen = get("last_seen") ? get("last_seen") : score_of(r[2]);
  d.flags = {get("syn_ack").value_or(0), get("rst").value_or(0),   get("rst_ack").value_or(0),
             get("ack").value_or(0),     get("other").value_or(0), get("ece").value_or(0)};
  d.distinct_ports = r[3].integer;
  for (auto& [port, n] : scored(r[4])) d.ports.push_back(port_count(to_ll(port), n));
  d.series = series_of(r[5]);
  d.bucket_seconds = bucket_width(d.series, bucket_seconds_);
  return d;
}

VictimSeries Backscatter::series(const std::string& ip, long long max_points) {
  const std::string v = normalize_victim(ip);
  auto r = db_.pipeline({{"HGETALL", keys::pibs_victim_series(prefix_, v)},
                         {"EXISTS", keys::pibs_victim(prefix_, v)},
                         {"ZSCORE", keys::pibs_victims(prefix_), v}});
  throw_on_error_replies(r, "series");
  auto series = series_of(r[0]);
  if (series.empty() && r[1].integer == 0 && r[2].is_nil())
    throw ApiError(404, "no backscatter recorded for " + v);
  // Gaps become zeros (a quiet minute is data too); long ranges are summed into wider steps so
  // that the chart has at most max_points points.
  VictimSeries s;
  s.victim = v;
  s.bucket_seconds = bucket_width(series, bucket_seconds_);
  s.step_seconds = s.bucket_seconds;
  if (!series.empty()) {
    const long long first = series.front().first, last = series.back().first;
    const long long buckets = (last - first) / s.bucket_seconds + 1;
    if (buckets > max_points) s.step_seconds = (buckets + max_points - 1) / max_points * s.bucket_seconds;
    std::vector<long long> sums(static_cast<std::size_t>((last - first) / s.step_seconds + 1), 0);
    for (auto& [start, n] : series) sums[static_cast<std::size_t>((start - first) / s.step_seconds)] += n;
    for (std::size_t i = 0; i < sums.size(); ++i) {
      long long t = first + static_cast<long long>(i) * s.step_seconds;
      s.starts.push_back(t);
      s.dates.push_back(time_label(t, s.step_seconds % 60 != 0));
      s.packets.push_back(sums[i]);
    }
  }
  return s;
}

}  // namespace d4::web::models
