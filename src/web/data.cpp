// Read models shared by the JSON API and the HTML pages.
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>

#include "core/keys.hpp"
#include "protocol/types.hpp"
#include "web/app.hpp"

namespace d4::web {

namespace keys = core::keys;

namespace {

std::vector<std::pair<std::string, double>> zset_pairs(const core::RedisReply& r) {
  std::vector<std::pair<std::string, double>> out;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
    out.emplace_back(r.elements[i].str, std::strtod(r.elements[i + 1].str.c_str(), nullptr));
  return out;
}

// The registry name of a D4 type ("yaf" for 7), empty for unassigned types.
std::string type_name(int type) {
  auto info = type > 0 && type <= 255 ? protocol::type_info(static_cast<std::uint8_t>(type)) : std::nullopt;
  return info ? std::string(info->name) : std::string();
}

json zset_object(const core::RedisReply& r) {
  json o = json::object();
  for (auto& [k, v] : zset_pairs(r)) o[k] = static_cast<long long>(v);
  return o;
}

// HGETALL reply of counters as {field: count}.
json hash_object(const core::RedisReply& r) {
  json o = json::object();
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
    o[r.elements[i].str] = std::strtoll(r.elements[i + 1].str.c_str(), nullptr, 10);
  return o;
}

// What d4-server refused, by reason (all time and today, also before authentication), the source
// networks with the most refusals before authentication (its bounded top-N, highest first) and
// the back-pressure that held sensors, for the server page and GET /api/v1/server.
json refusals_json(const core::RedisReply& all_time, const core::RedisReply& today,
                   const core::RedisReply& top, long long ranked, const core::RedisReply& backpressure) {
  json sources = json::array();
  for (auto& [network, n] : zset_pairs(top))
    sources.push_back({{"network", network}, {"rejects", static_cast<long long>(n)}});
  return {{"all_time", hash_object(all_time)},
          {"today", hash_object(today)},
          {"top_sources", sources},
          {"ranked_sources", ranked},
          {"backpressure", hash_object(backpressure)}};
}

std::string iso_day(const std::string& yyyymmdd) {
  if (yyyymmdd.size() != 8) return yyyymmdd;
  return yyyymmdd.substr(0, 4) + "-" + yyyymmdd.substr(4, 2) + "-" + yyyymmdd.substr(6, 2);
}

json opt(const std::optional<long long>& v) {
  return v ? json(*v) : json(nullptr);
}

long long to_ll(const std::string& s) {
  return std::strtoll(s.c_str(), nullptr, 10);
}

// GET of a plain-HTTP metrics URL with short timeouts; empty on any failure.
std::string fetch_metrics(const std::string& url, std::chrono::milliseconds timeout) {
  if (url.rfind("http://", 0) != 0) return {};
  std::string rest = url.substr(7);
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash), path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) return {};
  std::string host = hostport.substr(0, colon), port = hostport.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return {};
  std::string out;
  int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK, res->ai_protocol);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto wait = [&](short ev) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, ev, 0};
    return poll(&p, 1, static_cast<int>(left.count())) == 1;
  };
  if (fd >= 0) {
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    bool ok = rc == 0 || (errno == EINPROGRESS && wait(POLLOUT));
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (ok && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) {
      std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + hostport + "\r\nConnection: close\r\n\r\n";
      if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
        char buf[16384];
        while (out.size() < (4u << 20) && wait(POLLIN)) {
          ssize_t n = recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          out.append(buf, static_cast<std::size_t>(n));
        }
      }
    }
    close(fd);
  }
  freeaddrinfo(res);
  auto body = out.find("\r\n\r\n");
  if (out.rfind("HTTP/1.", 0) != 0 || out.find(" 200 ") > 12 || body == std::string::npos) return {};
  return out.substr(body + 4);
}

// Prometheus text: "name{labels} value" lines, comments skipped, at most 200.
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> metrics;
  std::size_t pos = 0;
  while (pos < text.size() && metrics.size() < 200) {
    auto nl = text.find('\n', pos);
    auto line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    metrics[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return metrics;
}

}  // namespace

DashboardView WebApp::dashboard(Db& db) {
  std::string d = today();
  auto m = db.meta.pipeline({{"ZRANGE", keys::daily_type(d), "0", "-1", "WITHSCORES"},
                             {"ZRANGE", keys::daily_type_bytes(d), "0", "-1", "WITHSCORES"},
                             {"ZREVRANGE", keys::daily_uuid(d), "0", "14", "WITHSCORES"},
                             {"SMEMBERS", std::string(keys::kSensorsInError)},
                             {"SCARD", std::string(keys::kRegisteredUuids)},
                             {"SCARD", std::string(keys::kPendingRegistrations)},
                             {"ZCARD", keys::daily_uuid(d)}});
  DashboardView v;
  v.date = iso_day(d);
  v.connected_sensors = db.stream.command({"SMEMBERS", keys::kActiveConnection}).as_strings();
  std::sort(v.connected_sensors.begin(), v.connected_sensors.end());
  auto bytes = zset_object(m[1]);
  for (auto& [t, n] : zset_pairs(m[0]))
    v.types_today.push_back({t, static_cast<long long>(n), bytes.value(t, 0LL)});
  for (auto& [u, n] : zset_pairs(m[2])) v.top_sensors_today.push_back({u, static_cast<long long>(n)});
  v.sensors_in_error = m[3].as_strings();
  std::sort(v.sensors_in_error.begin(), v.sensors_in_error.end());
  v.registered_sensors = m[4].integer;
  v.pending_sensors = m[5].integer;
  v.sensors_seen_today = m[6].integer;
  v.health = health(db);
  return v;
}

void to_json(json& j, const HealthView& h) {
  json redis = json::object();
  for (const auto& p : h.redis)
    redis[p.name] = {{"ok", p.ok}, {"latency_ms", p.latency_ms}, {"endpoint", p.endpoint}};
  json workers = json::array();
  for (const auto& w : h.workers)
    workers.push_back({{"type", w.type},
                       {"sessions", w.sessions},
                       {"working_sessions", w.working_sessions},
                       {"backlog_packets", w.backlog_packets}});
  json ingest = {{"url", h.ingest.url}, {"reachable", h.ingest.reachable}};
  if (h.ingest.reachable) ingest["metrics"] = h.ingest.metrics;
  j = {{"redis", redis},
       {"workers", workers},
       {"backlog_packets", h.backlog_packets},
       {"ingest", ingest},
       {"web", h.web}};
}

void to_json(json& j, const DashboardView& d) {
  json types = json::array(), top = json::array();
  for (const auto& t : d.types_today)
    types.push_back({{"type", t.type}, {"packets", t.packets}, {"bytes", t.bytes}});
  for (const auto& u : d.top_sensors_today) top.push_back({{"uuid", u.uuid}, {"packets", u.packets}});
  j = {{"date", d.date},
       {"connected_sensors", d.connected_sensors},
       {"types_today", types},
       {"top_sensors_today", top},
       {"sensors_in_error", d.sensors_in_error},
       {"registered_sensors", d.registered_sensors},
       {"pending_sensors", d.pending_sensors},
       {"sensors_seen_today", d.sensors_seen_today},
       {"health", d.health}};
}

json WebApp::daily_stats(Db& db, int days) {
  days = std::clamp(days, 1, 90);
  std::vector<std::vector<std::string>> cmds;
  std::vector<std::string> dates;
  for (int i = days - 1; i >= 0; --i) {
    auto d = today(i);
    dates.push_back(d);
    cmds.push_back({"ZRANGE", keys::daily_type(d), "0", "-1", "WITHSCORES"});
    cmds.push_back({"ZRANGE", keys::daily_type_bytes(d), "0", "-1", "WITHSCORES"});
    cmds.push_back({"ZREVRANGE", keys::daily_uuid(d), "0", "9", "WITHSCORES"});
  }
  auto r = db.meta.pipeline(cmds);
  json out = {{"dates", json::array()},
              {"packets_by_type", json::object()},
              {"bytes_by_type", json::object()},
              {"packets_by_sensor", json::object()}};
  std::set<std::string> types, sensors;
  for (std::size_t i = 0; i < dates.size(); ++i) {
    for (auto& [t, n] : zset_pairs(r[3 * i])) types.insert(t);
    for (auto& [u, n] : zset_pairs(r[3 * i + 2])) sensors.insert(u);
  }
  for (const auto& t : types) {
    out["packets_by_type"][t] = json::array();
    out["bytes_by_type"][t] = json::array();
  }
  // Per-sensor series for the sensors among each day's top ten.
  std::vector<std::vector<std::string>> sensor_cmds;
  for (const auto& d : dates)
    for (const auto& u : sensors) sensor_cmds.push_back({"ZSCORE", keys::daily_uuid(d), u});
  auto sr = sensor_cmds.empty() ? std::vector<core::RedisReply>{} : db.meta.pipeline(sensor_cmds);
  for (const auto& u : sensors) out["packets_by_sensor"][u] = json::array();
  std::size_t k = 0;
  for (std::size_t i = 0; i < dates.size(); ++i) {
    out["dates"].push_back(iso_day(dates[i]));
    auto p = zset_object(r[3 * i]);
    auto b = zset_object(r[3 * i + 1]);
    for (const auto& t : types) {
      out["packets_by_type"][t].push_back(p.value(t, 0LL));
      out["bytes_by_type"][t].push_back(b.value(t, 0LL));
    }
    for (const auto& u : sensors) {
      const auto& rep = sr[k++];
      out["packets_by_sensor"][u].push_back(
          rep.is_nil() ? 0LL : static_cast<long long>(std::strtod(rep.str.c_str(), nullptr)));
    }
  }
  return out;
}

// Pings both Redis servers, counts the worker sessions and backlog per accepted type, and reads
// d4-server's metrics.
HealthView WebApp::health(Db& db) {
  HealthView h;
  for (auto [name, client] :
       {std::pair<const char*, core::RedisClient*>{"meta", &db.meta}, {"stream", &db.stream}}) {
    auto t0 = std::chrono::steady_clock::now();
    bool ok = client->ping();
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    h.redis.push_back({name, ok, static_cast<double>(us) / 1000.0, client->endpoint().to_string()});
  }
  if (h.redis[0].ok && h.redis[1].ok) h.workers = worker_states(db, h.backlog_packets);
  h.ingest.url = cfg_.ingest_metrics_url;
  if (!cfg_.ingest_metrics_url.empty()) {
    auto text = fetch_metrics(cfg_.ingest_metrics_url, std::chrono::milliseconds(500));
    if (!text.empty()) {
      h.ingest.reachable = true;
      h.ingest.metrics = parse_metrics(text);
    }
  }
  h.web = budget_counters();
  return h;
}

std::vector<WorkerState> WebApp::worker_states(Db& db, long long& backlog_total) {
  std::vector<WorkerState> workers;
  auto types = db.policy.accepted_types();
  std::vector<std::vector<std::string>> cmds;
  for (int t : types) {
    cmds.push_back({"SCARD", keys::sessions_of_type(std::to_string(t))});
    cmds.push_back({"SCARD", keys::working_sessions(std::to_string(t))});
    cmds.push_back({"SMEMBERS", keys::sessions_of_type(std::to_string(t))});
  }
  auto r = cmds.empty() ? std::vector<core::RedisReply>{} : db.stream.pipeline(cmds);
  for (std::size_t i = 0; i < types.size(); ++i) {
    // Backlog = packets waiting in the sessions' streams (bounded: at most 200 sessions a type).
    auto sessions = r[3 * i + 2].as_strings();
    if (sessions.size() > 200) sessions.resize(200);
    long long backlog = 0;
    if (!sessions.empty()) {
      std::vector<std::vector<std::string>> x;
      for (const auto& s : sessions) x.push_back({"XLEN", keys::stream(std::to_string(types[i]), s)});
      for (const auto& rep : db.stream.pipeline(x)) backlog += rep.integer;
    }
    backlog_total += backlog;
    workers.push_back({types[i], r[3 * i].integer, r[3 * i + 1].integer, backlog});
  }
  return workers;
}

std::map<std::string, std::uint64_t> WebApp::budget_counters() const {
  std::map<std::string, std::uint64_t> c = {{"login_failures", counters_.login_failures.load()},
                                            {"login_delayed", counters_.login_delayed.load()},
                                            {"password_checks_busy", counters_.password_checks_busy.load()},
                                            {"registrations_refused", counters_.registrations_refused.load()},
                                            {"tokens_refused", counters_.tokens_refused.load()},
                                            {"blocks_refused", counters_.blocks_refused.load()}};
  if (server_stats_) {
    auto st = server_stats_();
    c["open_connections"] = st.open_connections;
    c["connections_refused_max"] = st.refused_max_connections;
    c["connections_refused_per_ip"] = st.refused_per_ip;
    c["header_timeouts"] = st.header_timeouts;
    c["body_timeouts"] = st.body_timeouts;
  }
  return c;
}

json WebApp::sensors(Db& db, const std::string& q, const std::string& status, long long page,
                     long long per_page) {
  per_page = std::clamp<long long>(per_page, 1, 1000);
  page = std::max<long long>(page, 1);
  // Every sensor the server knows: its index (never a scan of the keyspace), plus registration sets.
  auto indexed = db.meta.command({"SMEMBERS", std::string(keys::kSensorIndex)}).as_strings();
  std::set<std::string> all(indexed.begin(), indexed.end());
  for (auto& u : db.policy.registered()) all.insert(u);
  for (auto& u : db.policy.pending()) all.insert(u);
  auto connected_v = db.stream.command({"SMEMBERS", keys::kActiveConnection}).as_strings();
  std::set<std::string> connected(connected_v.begin(), connected_v.end());
  for (auto& u : connected) all.insert(u);

  std::vector<std::string> ids(all.begin(), all.end());
  std::vector<std::vector<std::string>> cmds;
  for (const auto& u : ids) {
    cmds.push_back({"HMGET", keys::sensor_metadata(u), "first_seen", "last_seen", "description", "Error"});
    cmds.push_back({"SMEMBERS", keys::sensor_tags(u)});
    cmds.push_back({"SMEMBERS", keys::sensor_all_types(u)});
    cmds.push_back({"LRANGE", keys::sensor_last_ips(u), "0", "0"});
  }
  cmds.push_back({"SMEMBERS", std::string(keys::kRegisteredUuids)});
  cmds.push_back({"SMEMBERS", std::string(keys::kPendingRegistrations)});
  cmds.push_back({"SMEMBERS", std::string(keys::kBlocklistUuid)});
  cmds.push_back({"SMEMBERS", std::string(keys::kSensorsInError)});
  auto r = db.meta.pipeline(cmds);
  auto set_of = [&](std::size_t idx) {
    auto v = r[idx].as_strings();
    return std::set<std::string>(v.begin(), v.end());
  };
  std::size_t base = ids.size() * 4;
  auto registered = set_of(base), pending = set_of(base + 1), blocked = set_of(base + 2),
       in_error = set_of(base + 3);

  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::string needle = lower(q);
  std::string needle_dashless;
  for (char c : needle)
    if (c != '-') needle_dashless += c;
  json rows = json::array();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& u = ids[i];
    const auto& md = r[4 * i].elements;
    auto field = [&](std::size_t f) { return f < md.size() && !md[f].is_nil() ? md[f].str : std::string(); };
    json row = {{"uuid", u},
                {"first_seen", field(0).empty() ? json(nullptr) : json(to_ll(field(0)))},
                {"last_seen", field(1).empty() ? json(nullptr) : json(to_ll(field(1)))},
                {"description", field(2)},
                {"error", field(3)},
                {"tags", r[4 * i + 1].as_strings()},
                {"types", r[4 * i + 2].as_strings()},
                {"last_ip", r[4 * i + 3].as_strings().empty() ? "" : r[4 * i + 3].as_strings()[0]},
                {"connected", connected.count(u) == 1},
                {"registered", registered.count(u) == 1},
                {"pending", pending.count(u) == 1},
                {"blocked", blocked.count(u) == 1},
                {"monitoring_error", in_error.count(u) == 1}};
    std::sort(row["tags"].begin(), row["tags"].end());
    std::sort(row["types"].begin(), row["types"].end());
    if (!status.empty() && status != "all") {
      bool keep = (status == "connected" && row["connected"]) || (status == "pending" && row["pending"]) ||
                  (status == "registered" && row["registered"]) || (status == "blocked" && row["blocked"]) ||
                  (status == "error" && (row["monitoring_error"].get<bool>() || !field(3).empty()));
      if (!keep) continue;
    }
    if (!needle.empty()) {
      std::string hay = u + " " + lower(field(2)) + " " + lower(row["tags"].dump()) + " " +
                        lower(row["last_ip"].get<std::string>());
      if (hay.find(needle) == std::string::npos &&
          (needle_dashless.empty() || hay.find(needle_dashless) == std::string::npos))
        continue;
    }
    rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const json& a, const json& b) {
    auto la = a["last_seen"].is_null() ? 0LL : a["last_seen"].get<long long>();
    auto lb = b["last_seen"].is_null() ? 0LL : b["last_seen"].get<long long>();
    if (a["connected"] != b["connected"]) return a["connected"].get<bool>();
    return la > lb;
  });
  long long total = static_cast<long long>(rows.size());
  json items = json::array();
  for (long long i = (page - 1) * per_page; i < total && i < page * per_page; ++i)
    items.push_back(rows[static_cast<std::size_t>(i)]);
  return {{"total", total}, {"page", page}, {"per_page", per_page}, {"items", items}};
}

json WebApp::sensor(Db& db, const std::string& uuid) {
  auto info = db.policy.info(uuid, 50);
  if (!info) throw ApiError(400, "Invalid uuid");
  const auto& u = info->uuid;
  auto errors_json = [](const std::vector<core::SensorError>& v) {
    json a = json::array();
    for (const auto& e : v)
      a.push_back({{"time", e.time},
                   {"reason", e.reason},
                   {"detail", e.detail},
                   {"ip", e.ip},
                   {"source", e.source},
                   {"session", e.session}});
    return a;
  };
  // Types and extended types with their first/last seen.
  std::vector<std::vector<std::string>> cmds;
  for (const auto& t : info->types)
    cmds.push_back({"HMGET", keys::sensor_type_metadata(u, t), "first_seen", "last_seen"});
  auto ext = db.meta.command({"SMEMBERS", keys::sensor_all_extended_types(u)}).as_strings();
  std::sort(ext.begin(), ext.end());
  for (const auto& e : ext)
    cmds.push_back({"HMGET", keys::sensor_extended_type_metadata(u, e), "first_seen", "last_seen"});
  cmds.push_back({"SISMEMBER", std::string(keys::kMonitoredSensors), u});
  cmds.push_back({"HGET", keys::monitored_sensor(u), "delta_time"});
  cmds.push_back({"SISMEMBER", std::string(keys::kSensorsInError), u});
  auto r = db.meta.pipeline(cmds);
  auto active_ext = db.stream.command({"SMEMBERS", keys::active_extended_types(u)}).as_strings();
  auto seen = [](const core::RedisReply& rep) {
    json o = {{"first_seen", nullptr}, {"last_seen", nullptr}};
    if (rep.elements.size() == 2) {
      if (!rep.elements[0].is_nil()) o["first_seen"] = to_ll(rep.elements[0].str);
      if (!rep.elements[1].is_nil()) o["last_seen"] = to_ll(rep.elements[1].str);
    }
    return o;
  };
  json types = json::array();
  std::size_t k = 0;
  for (const auto& t : info->types) {
    json o = seen(r[k++]);
    o["type"] = t;
    o["connected"] = std::find(info->connected_types.begin(), info->connected_types.end(), t) !=
                     info->connected_types.end();
    types.push_back(o);
  }
  json ext_types = json::array();
  for (const auto& e : ext) {
    json o = seen(r[k++]);
    o["name"] = e;
    o["connected"] = std::find(active_ext.begin(), active_ext.end(), e) != active_ext.end();
    ext_types.push_back(o);
  }
  bool monitored = r[k].integer == 1;
  auto delta = r[k + 1].as_integer();
  bool monitoring_error = r[k + 2].integer == 1;
  json history = json::array();
  for (const auto& entry : info->last_ips) {
    auto dash = entry.rfind('-');
    std::string ip = dash == std::string::npos ? entry : entry.substr(0, dash);
    std::string when = dash == std::string::npos ? "" : entry.substr(dash + 1);
    if (when.size() == 14)
      when = when.substr(0, 4) + "-" + when.substr(4, 2) + "-" + when.substr(6, 2) + " " + when.substr(8, 2) +
             ":" + when.substr(10, 2) + ":" + when.substr(12, 2);
    history.push_back({{"ip", ip}, {"time", when}});
  }
  return {
      {"uuid", u},
      {"registered", info->registered},
      {"pending", info->pending},
      {"blocked", info->blocked},
      {"ips_blocked", info->ips_blocked},
      {"temp_blocked", info->temp_blocked},
      {"connected", !info->connected_types.empty()},
      {"has_own_key", info->has_own_key},
      {"first_seen", opt(info->first_seen)},
      {"last_seen", opt(info->last_seen)},
      {"description", info->description},
      {"error", info->error},
      {"user_mail", info->user_mail},
      {"third_party", info->third_party},
      {"tags", info->tags},
      {"backlog_limit", opt(info->backlog_limit)},
      {"rate_limit", opt(info->rate_limit)},
      {"types", types},
      {"extended_types", ext_types},
      {"connected_types", info->connected_types},
      {"connection_history", history},
      {"rejects", info->rejects},
      {"backpressure", info->backpressure},
      {"backlog_bytes", info->backlog_bytes},
      {"errors", errors_json(info->errors)},
      {"unauthenticated_errors", errors_json(info->unauthenticated_errors)},
      {"monitoring", {{"enabled", monitored}, {"delta_time", opt(delta)}, {"in_error", monitoring_error}}}};
}

json WebApp::sensor_stats(Db& db, const std::string& uuid, int days) {
  days = std::clamp(days, 1, 90);
  std::vector<std::vector<std::string>> cmds;
  std::vector<std::string> dates;
  for (int i = days - 1; i >= 0; --i) {
    auto d = today(i);
    dates.push_back(d);
    cmds.push_back({"ZRANGE", keys::stat_uuid_type(d, uuid), "0", "-1", "WITHSCORES"});
    cmds.push_back({"ZRANGE", keys::stat_uuid_type_bytes(d, uuid), "0", "-1", "WITHSCORES"});
  }
  auto r = db.meta.pipeline(cmds);
  std::set<std::string> types;
  for (std::size_t i = 0; i < dates.size(); ++i)
    for (auto& [t, n] : zset_pairs(r[2 * i])) types.insert(t);
  json out = {{"uuid", uuid},
              {"dates", json::array()},
              {"packets_by_type", json::object()},
              {"bytes_by_type", json::object()}};
  for (const auto& t : types) {
    out["packets_by_type"][t] = json::array();
    out["bytes_by_type"][t] = json::array();
  }
  for (std::size_t i = 0; i < dates.size(); ++i) {
    out["dates"].push_back(iso_day(dates[i]));
    auto p = zset_object(r[2 * i]);
    auto b = zset_object(r[2 * i + 1]);
    for (const auto& t : types) {
      out["packets_by_type"][t].push_back(p.value(t, 0LL));
      out["bytes_by_type"][t].push_back(b.value(t, 0LL));
    }
  }
  return out;
}

json WebApp::server_info(Db& db) {
  auto r = db.meta.pipeline({{"GET", std::string(keys::kDefaultHmacKey)},
                             {"GET", std::string(keys::kServerMode)},
                             {"SCARD", std::string(keys::kRegisteredUuids)},
                             {"SCARD", std::string(keys::kPendingRegistrations)},
                             {"SCARD", std::string(keys::kBlocklistIp)},
                             {"SCARD", std::string(keys::kBlocklistUuid)},
                             {"SMEMBERS", std::string(keys::kBlocklistIpByUuid)},
                             {"GET", std::string(keys::kFirstDate)},
                             {"HGETALL", std::string(keys::kServerRejects)},
                             {"HGETALL", keys::daily_rejects(today())},
                             {"ZREVRANGE", std::string(keys::kRejectSources), "0", "19", "WITHSCORES"},
                             {"ZCARD", std::string(keys::kRejectSources)},
                             {"HGETALL", std::string(keys::kServerBackpressure)}});
  auto key = r[0].as_string();
  std::string key_status = !key                              ? "missing"
                           : *key == "private key to change" ? "reference default (change it)"
                                                             : "set";
  auto pending = db.policy.pending();
  std::sort(pending.begin(), pending.end());
  auto registered = db.policy.registered();
  std::sort(registered.begin(), registered.end());
  auto ext = db.policy.accepted_extended_types();
  std::sort(ext.begin(), ext.end());
  auto by_uuid = r[6].as_strings();
  std::sort(by_uuid.begin(), by_uuid.end());
  return {{"mode", r[1].as_string().value_or(cfg_.server_mode)},
          {"default_key",
           {{"status", key_status},
            {"set", key.has_value()},
            {"is_reference_default", key && *key == "private key to change"}}},
          {"registered_count", r[2].integer},
          {"pending_count", r[3].integer},
          {"registered", registered},
          {"pending", pending},
          {"blocked_ip_count", r[4].integer},
          {"blocked_uuid_count", r[5].integer},
          {"ips_blocked_by_uuid", by_uuid},
          {"first_date", r[7].as_string().value_or("")},
          {"accepted_types", db.policy.accepted_types()},
          {"accepted_extended_types", ext},
          {"refusals", refusals_json(r[8], r[9], r[10], r[11].integer, r[12])}};
}

json WebApp::blocklist(Db& db, bool ips, const std::string& q, long long page, long long per_page) {
  per_page = std::clamp<long long>(per_page, 1, 1000);
  page = std::max<long long>(page, 1);
  auto all = ips ? db.policy.blocked_ips() : db.policy.blocked_uuids();
  std::sort(all.begin(), all.end());
  std::vector<std::string> hits;
  for (auto& e : all)
    if (q.empty() || e.find(q) != std::string::npos) hits.push_back(e);
  json items = json::array();
  auto total = static_cast<long long>(hits.size());
  for (long long i = (page - 1) * per_page; i < total && i < page * per_page; ++i)
    items.push_back(hits[static_cast<std::size_t>(i)]);
  return {{"total", total}, {"page", page}, {"per_page", per_page}, {"items", items}};
}

json WebApp::queue_json(Db& db, const queues::QueueInfo& q) {
  auto st = db.queue_store.stats(q.id);
  return {{"id", q.id},
          {"type", q.target.type},
          {"type_name", q.target.type == 254 ? q.target.extended_type : type_name(q.target.type)},
          {"extended_type", q.target.extended_type},
          {"target", q.target.list_part()},
          {"list_key", q.list_key()},
          {"description", q.description},
          {"max_size", q.max_size ? json(*q.max_size) : json(nullptr)},
          {"effective_max_size", db.queue_store.effective_max_size(q)},
          {"group", q.group},
          {"sensors", q.sensors},
          {"last_updated", q.last_updated},
          {"stats",
           {{"length", st.length},
            {"pushed", st.pushed},
            {"dropped", st.dropped},
            {"consumed", st.consumed},
            {"last_push", st.last_push},
            {"last_consumer_activity", st.last_consumer_activity}}}};
}

json WebApp::user_json(const UserInfo& u) {
  json tokens = json::array();
  for (const auto& t : u.tokens) tokens.push_back({{"id", t.id}, {"name", t.name}, {"created", t.created}});
  return {{"email", u.email},
          {"role", to_string(u.role)},
          {"must_change_password", u.must_change_password},
          {"tokens", tokens}};
}

void WebApp::delete_sensor(Db& db, const std::string& u) {
  // Forgets the sensor: registration, key, descriptive data, limits, monitoring, errors and its
  // per-type metadata. Statistics of past days and archives stay (they are history).
  auto types = db.meta.command({"SMEMBERS", keys::sensor_all_types(u)}).as_strings();
  auto ext = db.meta.command({"SMEMBERS", keys::sensor_all_extended_types(u)}).as_strings();
  std::vector<std::vector<std::string>> cmds = {
      {"SREM", std::string(keys::kRegisteredUuids), u},
      {"SREM", std::string(keys::kPendingRegistrations), u},
      {"SREM", std::string(keys::kSensorIndex), u},
      {"HDEL", std::string(keys::kStreamMaxSizeByUuid), u},
      {"HDEL", std::string(keys::kRateLimitByUuid), u},
      {"SREM", std::string(keys::kMonitoredSensors), u},
      {"SREM", std::string(keys::kSensorsInError), u},
      {"DEL", keys::sensor_metadata(u), keys::sensor_tags(u), keys::sensor_all_types(u),
       keys::sensor_all_extended_types(u), keys::sensor_last_ips(u), keys::monitored_sensor(u),
       keys::sensor_rejects(u), keys::sensor_errors(u), keys::sensor_unauth_errors(u),
       keys::sensor_backpressure(u)},
      {"SET", std::string(keys::kMonitoringLastUpdated), std::to_string(std::time(nullptr))}};
  for (const auto& t : types) cmds.push_back({"DEL", keys::sensor_type_metadata(u, t)});
  for (const auto& e : ext) cmds.push_back({"DEL", keys::sensor_extended_type_metadata(u, e)});
  for (const auto& r : db.meta.pipeline(cmds))
    if (r.is_error()) throw core::RedisError("delete sensor: " + r.str);
}

}  // namespace d4::web
