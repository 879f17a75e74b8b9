// Read model of the sensors.
#include "web/models/sensors.hpp"

#include <algorithm>
#include <ctime>
#include <set>

#include "core/keys.hpp"
#include "protocol/text.hpp"
#include "web/request.hpp"

namespace d4::web::models {

namespace keys = core::keys;

namespace {

std::set<std::string> set_of(const core::RedisReply& r) {
  auto v = r.as_strings();
  return {v.begin(), v.end()};
}

bool has_status(const SensorRow& s, const std::string& status) {
  if (status.empty() || status == "all") return true;
  return (status == "connected" && s.connected) || (status == "pending" && s.pending) ||
         (status == "registered" && s.registered) || (status == "blocked" && s.blocked) ||
         (status == "error" && (s.monitoring_error || !s.error.empty()));
}

// The search: in the UUID, description, tags (as their JSON list) or last IP; a dashed UUID
// matches too.
class TextFilter {
 public:
  explicit TextFilter(const std::string& text) : needle_(text::ascii_lower(text)) {
    for (char c : needle_)
      if (c != '-') dashless_ += c;
  }
  bool matches(const SensorRow& s) const {
    if (needle_.empty()) return true;
    std::string hay = s.uuid + " " + text::ascii_lower(s.description) + " " +
                      text::ascii_lower(json(s.tags).dump()) + " " + text::ascii_lower(s.last_ip);
    return hay.find(needle_) != std::string::npos ||
           (!dashless_.empty() && hay.find(dashless_) != std::string::npos);
  }

 private:
  std::string needle_, dashless_;
};

// first_seen/last_seen of an HMGET reply of those two fields.
void read_seen(const core::RedisReply& rep, SensorType& t) {
  if (rep.elements.size() != 2) return;
  t.first_seen = integer_of(rep.elements[0]);
  t.last_seen = integer_of(rep.elements[1]);
}

ConnectionRecord connection_record(const std::string& entry) {
  // "<ip>-<YYYYmmddHHMMSS>"
  auto dash = entry.rfind('-');
  std::string ip = dash == std::string::npos ? entry : entry.substr(0, dash);
  std::string when = dash == std::string::npos ? "" : entry.substr(dash + 1);
  if (when.size() == 14)
    when = when.substr(0, 4) + "-" + when.substr(4, 2) + "-" + when.substr(6, 2) + " " + when.substr(8, 2) +
           ":" + when.substr(10, 2) + ":" + when.substr(12, 2);
  return {ip, when};
}

json seen_json(const SensorType& t, const char* name_key) {
  return {{name_key, t.name},
          {"connected", t.connected},
          {"first_seen", json(t.first_seen)},
          {"last_seen", json(t.last_seen)}};
}

json errors_json(const std::vector<core::SensorError>& v) {
  json a = json::array();
  for (const auto& e : v)
    a.push_back({{"time", e.time},
                 {"reason", e.reason},
                 {"detail", e.detail},
                 {"ip", e.ip},
                 {"source", e.source},
                 {"session", e.session}});
  return a;
}

}  // namespace

void to_json(json& j, const SensorDetail& s) {
  json types = json::array(), ext_types = json::array(), history = json::array();
  for (const auto& t : s.types) types.push_back(seen_json(t, "type"));
  for (const auto& t : s.extended_types) ext_types.push_back(seen_json(t, "name"));
  for (const auto& c : s.connection_history) history.push_back({{"ip", c.ip}, {"time", c.time}});
  const auto& i = s.info;
  j = {{"uuid", i.uuid},
       {"registered", i.registered},
       {"pending", i.pending},
       {"blocked", i.blocked},
       {"ips_blocked", i.ips_blocked},
       {"temp_blocked", i.temp_blocked},
       {"connected", s.connected},
       {"has_own_key", i.has_own_key},
       {"first_seen", json(i.first_seen)},
       {"last_seen", json(i.last_seen)},
       {"description", i.description},
       {"error", i.error},
       {"user_mail", i.user_mail},
       {"third_party", i.third_party},
       {"tags", i.tags},
       {"backlog_limit", json(i.backlog_limit)},
       {"rate_limit", json(i.rate_limit)},
       {"types", types},
       {"extended_types", ext_types},
       {"connected_types", i.connected_types},
       {"connection_history", history},
       {"rejects", i.rejects},
       {"backpressure", i.backpressure},
       {"backlog_bytes", i.backlog_bytes},
       {"errors", errors_json(i.errors)},
       {"unauthenticated_errors", errors_json(i.unauthenticated_errors)},
       {"monitoring",
        {{"enabled", s.monitoring.enabled},
         {"delta_time", json(s.monitoring.delta_time)},
         {"in_error", s.monitoring.in_error}}}};
}

void to_json(json& j, const SensorKey& k) {
  j = {{"uuid", k.uuid}, {"key", json(k.key)}, {"uses_default_key", !k.key.has_value()}};
}

std::vector<std::string> Sensors::known_sensors() {
  // Every sensor the server knows: its index (never a scan of the keyspace), plus registration sets.
  auto indexed = meta_.command({"SMEMBERS", std::string(keys::kSensorIndex)}).as_strings();
  std::set<std::string> all(indexed.begin(), indexed.end());
  for (auto& u : policy_.registered()) all.insert(u);
  for (auto& u : policy_.pending()) all.insert(u);
  return {all.begin(), all.end()};
}

SensorList Sensors::list(const SensorQuery& q, const Scope& scope) {
  auto known = known_sensors();
  auto connected = set_of(stream_.command({"SMEMBERS", keys::live(layout_, keys::kActiveConnection)}));
  std::set<std::string> all(known.begin(), known.end());
  all.insert(connected.begin(), connected.end());

  auto ids = scope.covered(std::vector<std::string>(all.begin(), all.end()));
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
  auto r = meta_.pipeline(cmds);
  std::size_t base = ids.size() * 4;
  auto registered = set_of(r[base]), pending = set_of(r[base + 1]), blocked = set_of(r[base + 2]),
       in_error = set_of(r[base + 3]);

  TextFilter filter(q.text);
  std::vector<SensorRow> rows;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& md = r[4 * i].elements;
    auto field = [&](std::size_t f) { return f < md.size() && !md[f].is_nil() ? md[f].str : std::string(); };
    auto seen = [&](std::size_t f) {
      return field(f).empty() ? std::nullopt : std::optional(to_ll(field(f)));
    };
    SensorRow row;
    row.uuid = ids[i];
    row.first_seen = seen(0);
    row.last_seen = seen(1);
    row.description = field(2);
    row.error = field(3);
    row.tags = r[4 * i + 1].as_strings();
    row.types = r[4 * i + 2].as_strings();
    auto last_ips = r[4 * i + 3].as_strings();
    if (!last_ips.empty()) row.last_ip = last_ips[0];
    row.connected = connected.count(row.uuid) == 1;
    row.registered = registered.count(row.uuid) == 1;
    row.pending = pending.count(row.uuid) == 1;
    row.blocked = blocked.count(row.uuid) == 1;
    row.monitoring_error = in_error.count(row.uuid) == 1;
    std::sort(row.tags.begin(), row.tags.end());
    std::sort(row.types.begin(), row.types.end());
    if (has_status(row, q.status) && filter.matches(row)) rows.push_back(std::move(row));
  }
  // Connected sensors first, then the most recently seen.
  std::stable_sort(rows.begin(), rows.end(), [](const SensorRow& a, const SensorRow& b) {
    if (a.connected != b.connected) return a.connected;
    return a.last_seen.value_or(0) > b.last_seen.value_or(0);
  });
  return page_of(std::move(rows), q.page, q.per_page);
}

SensorDetail Sensors::detail(const std::string& uuid) {
  auto info = policy_.info(uuid, 50);
  if (!info) throw ApiError(400, "Invalid uuid");
  const auto& u = info->uuid;
  // Types and extended types with their first/last seen.
  std::vector<std::vector<std::string>> cmds;
  for (const auto& t : info->types)
    cmds.push_back({"HMGET", keys::sensor_type_metadata(u, t), "first_seen", "last_seen"});
  auto ext = meta_.command({"SMEMBERS", keys::sensor_all_extended_types(u)}).as_strings();
  std::sort(ext.begin(), ext.end());
  for (const auto& e : ext)
    cmds.push_back({"HMGET", keys::sensor_extended_type_metadata(u, e), "first_seen", "last_seen"});
  cmds.push_back({"SISMEMBER", std::string(keys::kMonitoredSensors), u});
  cmds.push_back({"HGET", keys::monitored_sensor(u), "delta_time"});
  cmds.push_back({"SISMEMBER", std::string(keys::kSensorsInError), u});
  auto r = meta_.pipeline(cmds);
  auto active_ext =
      stream_.command({"SMEMBERS", keys::live(layout_, keys::active_extended_types(u))}).as_strings();
  auto contains = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };

  SensorDetail s;
  s.connected = !info->connected_types.empty();
  std::size_t k = 0;
  for (const auto& t : info->types) {
    auto& st = s.types.emplace_back();
    st.name = t;
    st.connected = contains(info->connected_types, t);
    read_seen(r[k++], st);
  }
  for (const auto& e : ext) {
    auto& st = s.extended_types.emplace_back();
    st.name = e;
    st.connected = contains(active_ext, e);
    read_seen(r[k++], st);
  }
  for (const auto& entry : info->last_ips) s.connection_history.push_back(connection_record(entry));
  s.monitoring.enabled = r[k].integer == 1;
  s.monitoring.delta_time = r[k + 1].as_integer();
  s.monitoring.in_error = r[k + 2].integer == 1;
  s.info = std::move(*info);
  return s;
}

SensorTraffic Sensors::traffic(const std::string& uuid, int days) {
  auto dates = last_days(std::clamp(days, 1, 90));
  std::vector<std::vector<std::string>> cmds;
  for (const auto& d : dates) {
    cmds.push_back({"ZRANGE", keys::stat_uuid_type(d, uuid), "0", "-1", "WITHSCORES"});
    cmds.push_back({"ZRANGE", keys::stat_uuid_type_bytes(d, uuid), "0", "-1", "WITHSCORES"});
  }
  auto r = meta_.pipeline(cmds);
  std::vector<const core::RedisReply*> packets, bytes;
  for (std::size_t i = 0; i < dates.size(); ++i) {
    packets.push_back(&r[2 * i]);
    bytes.push_back(&r[2 * i + 1]);
  }
  SensorTraffic t;
  static_cast<TypeSeries&>(t) = type_series(dates, packets, bytes);
  t.uuid = uuid;
  return t;
}

SensorKey Sensors::key(const std::string& uuid) {
  return {uuid, meta_.command({"HGET", keys::sensor_metadata(uuid), "hmac_key"}).as_string()};
}

std::vector<std::string> Sensors::tags(const std::string& uuid) {
  return meta_.command({"SMEMBERS", keys::sensor_tags(uuid)}).as_strings();
}

long long Sensors::pending_count() {
  return meta_.command({"SCARD", keys::kPendingRegistrations}).integer;
}

std::vector<std::string> Sensors::silent(const Scope& scope) {
  auto v = scope.covered(meta_.command({"SMEMBERS", keys::kSensorsInError}).as_strings());
  std::sort(v.begin(), v.end());
  return v;
}

// The reference's sensors manager reloads the monitored sensors only when
// sensors_monitoring:last_updated changes (d4-worker reads them at every check).
void Sensors::monitor(const std::string& u, long long delta_seconds) {
  meta_.pipeline({{"SADD", std::string(keys::kMonitoredSensors), u},
                  {"HSET", keys::monitored_sensor(u), "delta_time", std::to_string(delta_seconds)},
                  {"SET", std::string(keys::kMonitoringLastUpdated), std::to_string(std::time(nullptr))}});
}

void Sensors::stop_monitoring(const std::string& u) {
  meta_.pipeline({{"SREM", std::string(keys::kMonitoredSensors), u},
                  {"DEL", keys::monitored_sensor(u)},
                  {"SREM", std::string(keys::kSensorsInError), u},
                  {"SET", std::string(keys::kMonitoringLastUpdated), std::to_string(std::time(nullptr))}});
}

void Sensors::forget(const std::string& u) {
  auto types = meta_.command({"SMEMBERS", keys::sensor_all_types(u)}).as_strings();
  auto ext = meta_.command({"SMEMBERS", keys::sensor_all_extended_types(u)}).as_strings();
  std::vector<std::vector<std::string>> cmds = {
      {"SREM", std::string(keys::kRegisteredUuids), u},
      {"SREM", std::string(keys::kPendingRegistrations), u},
      {"SREM", std::string(keys::kSensorIndex), u},
      {"HDEL", std::string(keys::kStreamMaxSizeByUuid), u},
      {"HDEL", std::string(keys::kRateLimitByUuid), u},
      {"SREM", std::string(keys::kMonitoredSensors), u},
      {"SREM", std::string(keys::kSensorsInError), u},
      {"SET", std::string(keys::kMonitoringLastUpdated), std::to_string(std::time(nullptr))}};
  // One DEL per key: on a Redis Cluster they lie in different slots.
  for (const auto& key : {keys::sensor_metadata(u), keys::sensor_tags(u), keys::sensor_all_types(u),
                          keys::sensor_all_extended_types(u), keys::sensor_last_ips(u),
                          keys::monitored_sensor(u), keys::sensor_rejects(u), keys::sensor_errors(u),
                          keys::sensor_unauth_errors(u), keys::sensor_backpressure(u)})
    cmds.push_back({"DEL", key});
  for (const auto& t : types) cmds.push_back({"DEL", keys::sensor_type_metadata(u, t)});
  for (const auto& e : ext) cmds.push_back({"DEL", keys::sensor_extended_type_metadata(u, e)});
  cmds.push_back({"HDEL", std::string(keys::kSensorOrganisation), u});
  for (const auto& r : meta_.pipeline(cmds))
    if (r.is_error()) throw core::RedisError("delete sensor: " + r.str);
  // It may have been registered: the servers' cached policy changes.
  policy_.announce_policy_change();
}

}  // namespace d4::web::models
