// Read model of the dashboard, the server health and the daily traffic charts.
#include "web/models/dashboard.hpp"

#include <chrono>
#include <cstdlib>
#include <set>

#include "core/keys.hpp"
#include "core/sensors.hpp"
#include "web/models/ingest_metrics.hpp"

namespace d4::web::models {

namespace keys = core::keys;

namespace {

long long score(const std::vector<std::pair<std::string, long long>>& pairs, const std::string& member) {
  for (const auto& [m, n] : pairs)
    if (m == member) return n;
  return 0;
}

}  // namespace

DashboardView Statistics::dashboard(HealthView health, const Scope& scope) {
  std::string d = today();
  if (!scope.unrestricted()) {
    DashboardView v;
    v.date = iso_day(d);
    fill_scoped_today(v, d, scope);
    v.health = std::move(health);
    return v;
  }
  auto m = meta_.pipeline({{"ZRANGE", keys::daily_type(d), "0", "-1", "WITHSCORES"},
                           {"ZRANGE", keys::daily_type_bytes(d), "0", "-1", "WITHSCORES"},
                           {"ZREVRANGE", keys::daily_uuid(d), "0", "14", "WITHSCORES"},
                           {"SMEMBERS", std::string(keys::kSensorsInError)},
                           {"SCARD", std::string(keys::kRegisteredUuids)},
                           {"SCARD", std::string(keys::kPendingRegistrations)},
                           {"ZCARD", keys::daily_uuid(d)}});
  DashboardView v;
  v.date = iso_day(d);
  v.connected_sensors =
      stream_.command({"SMEMBERS", keys::live(layout_, keys::kActiveConnection)}).as_strings();
  std::sort(v.connected_sensors.begin(), v.connected_sensors.end());
  auto bytes = scored(m[1]);
  for (auto& [t, n] : scored(m[0])) v.types_today.push_back({t, n, score(bytes, t)});
  for (auto& [u, n] : scored(m[2])) v.top_sensors_today.push_back({u, n});
  v.sensors_in_error = m[3].as_strings();
  std::sort(v.sensors_in_error.begin(), v.sensors_in_error.end());
  v.registered_sensors = m[4].integer;
  v.pending_sensors = m[5].integer;
  v.sensors_seen_today = m[6].integer;
  v.health = std::move(health);
  return v;
}

ScoredCounts Statistics::scoped_daily_sensors(const std::string& day, const Scope& scope) {
  ScoredCounts out;
  for (auto& [u, n] : scored(meta_.command({"ZREVRANGE", keys::daily_uuid(day), "0", "-1", "WITHSCORES"})))
    if (scope.covers(u)) out.emplace_back(u, n);
  return out;
}

std::pair<ScoredCounts, ScoredCounts> Statistics::summed_types(const std::string& day,
                                                               const ScoredCounts& sensors) {
  std::map<std::string, long long> packets, bytes;
  if (!sensors.empty()) {
    std::vector<std::vector<std::string>> cmds;
    for (const auto& [u, n] : sensors) {
      cmds.push_back({"ZRANGE", keys::stat_uuid_type(day, u), "0", "-1", "WITHSCORES"});
      cmds.push_back({"ZRANGE", keys::stat_uuid_type_bytes(day, u), "0", "-1", "WITHSCORES"});
    }
    auto r = meta_.pipeline(cmds);
    for (std::size_t i = 0; i < sensors.size(); ++i) {
      for (auto& [t, n] : scored(r[2 * i])) packets[t] += n;
      for (auto& [t, n] : scored(r[2 * i + 1])) bytes[t] += n;
    }
  }
  return {ScoredCounts(packets.begin(), packets.end()), ScoredCounts(bytes.begin(), bytes.end())};
}

// Today's figures of the sensors in a restricted scope: nothing counted for other sensors.
void Statistics::fill_scoped_today(DashboardView& v, const std::string& d, const Scope& scope) {
  auto seen = scoped_daily_sensors(d, scope);
  auto [packets, bytes] = summed_types(d, seen);
  for (auto& [t, n] : packets) v.types_today.push_back({t, n, score(bytes, t)});
  for (std::size_t i = 0; i < seen.size() && i < 15; ++i)
    v.top_sensors_today.push_back({seen[i].first, seen[i].second});
  v.sensors_seen_today = static_cast<long long>(seen.size());
  auto m = meta_.pipeline({{"SMEMBERS", std::string(keys::kSensorsInError)},
                           {"SMEMBERS", std::string(keys::kRegisteredUuids)},
                           {"SMEMBERS", std::string(keys::kPendingRegistrations)}});
  v.sensors_in_error = scope.covered(m[0].as_strings());
  std::sort(v.sensors_in_error.begin(), v.sensors_in_error.end());
  v.registered_sensors = static_cast<long long>(scope.covered(m[1].as_strings()).size());
  v.pending_sensors = static_cast<long long>(scope.covered(m[2].as_strings()).size());
  v.connected_sensors =
      scope.covered(stream_.command({"SMEMBERS", keys::live(layout_, keys::kActiveConnection)}).as_strings());
  std::sort(v.connected_sensors.begin(), v.connected_sensors.end());
}

void to_json(json& j, const HealthView& h) {
  json redis = json::object();
  for (const auto& p : h.redis)
    redis[p.name] = {{"ok", p.ok}, {"latency_ms", p.latency_ms}, {"endpoint", p.endpoint}};
  json ingest = {{"url", h.ingest.url}, {"reachable", h.ingest.reachable}};
  if (h.ingest.reachable) ingest["metrics"] = h.ingest.metrics;
  j = {{"redis", redis},
       {"workers", h.workers},
       {"backlog_packets", h.backlog_packets},
       {"ingest", ingest},
       {"web", h.web}};
}

TypeSeries type_series(const std::vector<std::string>& dates,
                       const std::vector<const core::RedisReply*>& packets,
                       const std::vector<const core::RedisReply*>& bytes) {
  std::vector<ScoredCounts> p, b;
  for (const auto* r : packets) p.push_back(scored(*r));
  for (const auto* r : bytes) b.push_back(scored(*r));
  return type_series(dates, p, b);
}

TypeSeries type_series(const std::vector<std::string>& dates, const std::vector<ScoredCounts>& packets,
                       const std::vector<ScoredCounts>& bytes) {
  TypeSeries s;
  std::set<std::string> types;
  for (const auto& day : packets)
    for (auto& [t, n] : day) types.insert(t);
  for (const auto& t : types) {
    s.packets_by_type[t];
    s.bytes_by_type[t];
  }
  for (std::size_t i = 0; i < dates.size(); ++i) {
    s.dates.push_back(iso_day(dates[i]));
    for (const auto& t : types) {
      s.packets_by_type[t].push_back(score(packets[i], t));
      s.bytes_by_type[t].push_back(score(bytes[i], t));
    }
  }
  return s;
}

TrafficHistory Statistics::daily(int days, const Scope& scope) {
  auto dates = last_days(std::clamp(days, 1, 90));
  if (!scope.unrestricted()) {
    // Sums of the scope's sensors per day; the sensor series are its sensors among each day's
    // ten largest of them.
    std::vector<ScoredCounts> packets, bytes;
    std::vector<ScoredCounts> sensors_by_day;
    std::set<std::string> top;
    for (const auto& d : dates) {
      auto seen = scoped_daily_sensors(d, scope);
      auto [p, b] = summed_types(d, seen);
      packets.push_back(std::move(p));
      bytes.push_back(std::move(b));
      for (std::size_t i = 0; i < seen.size() && i < 10; ++i) top.insert(seen[i].first);
      sensors_by_day.push_back(std::move(seen));
    }
    TrafficHistory t;
    static_cast<TypeSeries&>(t) = type_series(dates, packets, bytes);
    for (const auto& u : top)
      for (const auto& day : sensors_by_day) t.packets_by_sensor[u].push_back(score(day, u));
    return t;
  }
  std::vector<std::vector<std::string>> cmds;
  for (const auto& d : dates) {
    cmds.push_back({"ZRANGE", keys::daily_type(d), "0", "-1", "WITHSCORES"});
    cmds.push_back({"ZRANGE", keys::daily_type_bytes(d), "0", "-1", "WITHSCORES"});
    cmds.push_back({"ZREVRANGE", keys::daily_uuid(d), "0", "9", "WITHSCORES"});
  }
  auto r = meta_.pipeline(cmds);
  std::vector<const core::RedisReply*> packets, bytes;
  std::set<std::string> sensors;
  for (std::size_t i = 0; i < dates.size(); ++i) {
    packets.push_back(&r[3 * i]);
    bytes.push_back(&r[3 * i + 1]);
    for (auto& [u, n] : scored(r[3 * i + 2])) sensors.insert(u);
  }
  TrafficHistory t;
  static_cast<TypeSeries&>(t) = type_series(dates, packets, bytes);
  // Per-sensor series for the sensors among each day's top ten.
  std::vector<std::vector<std::string>> sensor_cmds;
  for (const auto& d : dates)
    for (const auto& u : sensors) sensor_cmds.push_back({"ZSCORE", keys::daily_uuid(d), u});
  auto sr = sensor_cmds.empty() ? std::vector<core::RedisReply>{} : meta_.pipeline(sensor_cmds);
  for (const auto& u : sensors) t.packets_by_sensor[u];
  std::size_t k = 0;
  for (std::size_t i = 0; i < dates.size(); ++i)
    for (const auto& u : sensors) {
      const auto& rep = sr[k++];
      t.packets_by_sensor[u].push_back(
          rep.is_nil() ? 0LL : static_cast<long long>(std::strtod(rep.str.c_str(), nullptr)));
    }
  return t;
}

HealthView Statistics::health(const std::string& ingest_metrics_url, std::map<std::string, std::uint64_t> web,
                              const Scope& scope) {
  HealthView h;
  for (auto [name, client] :
       {std::pair<const char*, core::RedisClient*>{"meta", &meta_}, {"stream", &stream_}}) {
    auto t0 = std::chrono::steady_clock::now();
    bool ok = client->ping();
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    h.redis.push_back({name, ok, static_cast<double>(us) / 1000.0, client->endpoint().to_string()});
  }
  h.web = std::move(web);
  if (!scope.unrestricted()) return h;  // worker backlogs and ingest metrics count every sensor
  if (h.redis[0].ok && h.redis[1].ok) h.workers = workers(h.backlog_packets);
  h.ingest = read_ingest_metrics(ingest_metrics_url, std::chrono::milliseconds(500));
  return h;
}

std::vector<WorkerState> Statistics::workers(long long& backlog_total) {
  std::vector<WorkerState> workers;
  auto types = policy_.accepted_types();
  std::vector<std::vector<std::string>> cmds;
  for (int t : types) {
    cmds.push_back({"SCARD", keys::live(layout_, keys::sessions_of_type(std::to_string(t)))});
    cmds.push_back({"SCARD", keys::live(layout_, keys::working_sessions(std::to_string(t)))});
    cmds.push_back({"SMEMBERS", keys::live(layout_, keys::sessions_of_type(std::to_string(t)))});
  }
  auto r = cmds.empty() ? std::vector<core::RedisReply>{} : stream_.pipeline(cmds);
  for (std::size_t i = 0; i < types.size(); ++i) {
    // Backlog = entries waiting in the sessions' streams (bounded: at most 200 sessions a type). An
    // entry is one packet, or consecutive packets of a session when d4-server coalesces them
    // ([server] coalesce_max_bytes); the field keeps its name for API clients.
    auto sessions = r[3 * i + 2].as_strings();
    if (sessions.size() > 200) sessions.resize(200);
    long long backlog = 0;
    if (!sessions.empty()) {
      std::vector<std::vector<std::string>> x;
      for (const auto& s : sessions)
        x.push_back({"XLEN", keys::stream(layout_, std::to_string(types[i]), s)});
      for (const auto& rep : stream_.pipeline(x)) backlog += rep.integer;
    }
    backlog_total += backlog;
    workers.push_back({types[i], r[3 * i].integer, r[3 * i + 1].integer, backlog});
  }
  return workers;
}

}  // namespace d4::web::models
