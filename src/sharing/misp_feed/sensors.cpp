#include "sharing/misp_feed/sensors.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "core/sensors.hpp"
#include "protocol/uuid.hpp"

namespace d4::sharing::misp {
namespace {

namespace keys = core::keys;
constexpr std::size_t kPipelineSensors = 200;
constexpr std::string_view kMetadataPrefix = "metadata_uuid:";

// TLP levels from the least to the most restrictive (tlp:white is the older name of tlp:clear).
int tlp_rank(std::string_view tag) {
  if (tag == "tlp:clear" || tag == "tlp:white") return 0;
  if (tag == "tlp:green") return 1;
  if (tag == "tlp:amber") return 2;
  if (tag == "tlp:amber+strict") return 3;
  if (tag == "tlp:red") return 4;
  return -1;
}

std::vector<std::string> members(const core::RedisReply& r) {
  std::vector<std::string> out;
  for (const auto& e : r.elements) out.push_back(e.str);
  return out;
}

// SCAN steps ask for this many keys: the bound on keys examined is counted in steps of it.
constexpr std::uint64_t kScanStep = 1000;

// Adds the sensors of metadata_uuid:<id> keys that `ids` does not hold yet, while it holds fewer
// than `max` (the others are only counted); stops after about `max_keys` keys examined. False when
// the bound stopped it before the end of the keyspace.
bool scan_unindexed_sensors(core::RedisClient& meta, std::set<std::string>& ids, std::size_t max,
                            std::uint64_t max_keys, std::uint64_t& not_read) {
  const std::string pattern = std::string(kMetadataPrefix) + "*";
  std::string cursor = "0";
  for (std::uint64_t examined = 0; examined < max_keys; examined += kScanStep) {
    auto r = meta.command({"SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(kScanStep)});
    if (r.is_error() || r.elements.size() != 2) throw core::RedisError("SCAN " + pattern + ": " + r.str);
    cursor = r.elements[0].str;
    for (const auto& k : r.elements[1].elements) {
      auto id = protocol::normalize_uuid(std::string_view(k.str).substr(kMetadataPrefix.size()));
      if (!id || ids.count(*id)) continue;
      if (ids.size() < max)
        ids.insert(std::move(*id));
      else
        ++not_read;
    }
    if (cursor == "0") return true;
  }
  return false;
}

// The sensors to read, sorted: the sensor index, and in the reference layout the unindexed ones a
// bounded scan finds (none when the index alone reached max_sensors).
std::vector<std::string> sensor_ids(core::RedisClient& meta, const SensorLimits& limits,
                                    SensorCounters& counters) {
  bool truncated = false;
  auto indexed = core::read_sensor_index(meta, limits.max_sensors, truncated);
  std::set<std::string> ids;
  for (const auto& u : indexed)
    if (auto id = protocol::normalize_uuid(u)) ids.insert(std::move(*id));
  if (truncated) {
    auto total = meta.command({"SCARD", keys::kSensorIndex});
    if (total.is_error()) throw core::RedisError("SCARD sensor:index: " + total.str);
    if (total.integer > static_cast<long long>(ids.size()))
      counters.sensors_not_read += static_cast<std::uint64_t>(total.integer) - ids.size();
    return {ids.begin(), ids.end()};
  }
  if (limits.layout == core::keys::KeyLayout::Reference && limits.scan_max_keys > 0 &&
      !scan_unindexed_sensors(meta, ids, limits.max_sensors, limits.scan_max_keys, counters.sensors_not_read))
    ++counters.sensor_scans_incomplete;
  return {ids.begin(), ids.end()};
}

// The server's own assignments (d4:sensor:org, set in the web interface), each with its
// organisation's name (d4:org:<uuid>): sensor (dashless) -> organisation.
std::map<std::string, Organisation> server_assignments(core::RedisClient& meta) {
  auto r = meta.command({"HGETALL", keys::kSensorOrganisation});
  if (r.is_error()) throw core::RedisError("HGETALL d4:sensor:org: " + r.str);
  std::map<std::string, std::string> by_sensor;
  std::map<std::string, Organisation> orgs;  // dashless organisation uuid -> organisation
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    auto sensor = protocol::normalize_uuid(r.elements[i].str);
    auto org = protocol::Uuid::parse(r.elements[i + 1].str);
    if (!sensor || !org || org->is_nil()) continue;
    by_sensor[*sensor] = org->dashless();
    orgs[org->dashless()] = Organisation{org->dashed(), org->dashed()};
  }
  std::vector<std::vector<std::string>> cmds;
  for (const auto& [uuid, o] : orgs) cmds.push_back({"HGET", keys::organisation(uuid), "name"});
  auto names = cmds.empty() ? std::vector<core::RedisReply>{} : meta.pipeline(cmds);
  std::size_t i = 0;
  for (auto& [uuid, o] : orgs) {
    const auto& n = names[i++];
    // MISP limits organisation names to 255 characters; without one, the uuid names it.
    if (!n.is_error() && !n.is_nil() && !n.str.empty()) o.name = n.str.substr(0, 255);
  }
  std::map<std::string, Organisation> out;
  for (const auto& [sensor, org] : by_sensor) out[sensor] = orgs[org];
  return out;
}

}  // namespace

bool is_machine_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 255) return false;
  auto colon = tag.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 == tag.size()) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    char c = tag[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  for (char c : tag)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}

std::optional<Organisation> declared_organisation(std::string_view meta_header_json, bool* invalid) {
  auto j = nlohmann::json::parse(meta_header_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("misp:org")) return std::nullopt;
  const auto& org = j["misp:org"];
  std::string uuid, name;
  if (org.is_string()) {
    uuid = org.get<std::string>();
  } else if (org.is_object()) {
    if (org.contains("uuid") && org["uuid"].is_string()) uuid = org["uuid"].get<std::string>();
    if (org.contains("name") && org["name"].is_string()) name = org["name"].get<std::string>();
  }
  auto parsed = protocol::Uuid::parse(uuid);
  if (!parsed || parsed->is_nil()) {
    if (invalid) *invalid = true;
    return std::nullopt;
  }
  Organisation o;
  o.uuid = parsed->dashed();
  // MISP limits organisation names to 255 characters; without one, the uuid names it.
  o.name = name.empty() ? o.uuid : name.substr(0, 255);
  return o;
}

std::vector<std::string> meta_header_tags(std::string_view meta_header_json) {
  std::vector<std::string> out;
  auto j = nlohmann::json::parse(meta_header_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("tags") || !j["tags"].is_array()) return out;
  for (const auto& t : j["tags"])
    if (t.is_string()) out.push_back(t.get<std::string>());
  return out;
}

std::vector<std::string> event_tags(const std::vector<std::string>& configured,
                                    const std::vector<std::string>& from_sensors, std::size_t max,
                                    std::uint64_t& dropped) {
  std::vector<std::string> all;
  int strictest = -1;
  for (const auto* list : {&configured, &from_sensors})
    for (const auto& raw : *list) {
      std::string t = valid_utf8(raw);
      if (!is_machine_tag(t)) continue;
      strictest = std::max(strictest, tlp_rank(t));
      if (std::find(all.begin(), all.end(), t) == all.end()) all.push_back(t);
    }
  std::vector<std::string> out;
  for (auto& t : all) {
    int rank = tlp_rank(t);
    if (rank >= 0 && rank < strictest) continue;  // a laxer TLP than another contributor's
    if (out.size() >= max) {
      ++dropped;
      continue;
    }
    out.push_back(std::move(t));
  }
  return out;
}

void SensorDirectory::add(SensorRecord sensor, const SensorLimits& limits, SensorCounters& counters) {
  if (sensor.declared && sensor.declared->uuid == default_.uuid) sensor.declared.reset();
  if (sensor.declared && !declared_.count(sensor.declared->uuid)) {
    if (declared_.size() >= limits.max_organisations) {
      ++counters.organisations_refused;
      refused_.insert(sensor.id);
    } else {
      declared_.emplace(sensor.declared->uuid, *sensor.declared);
    }
  }
  sensors_[sensor.id] = std::move(sensor);
}

void SensorDirectory::load(core::RedisClient& meta, const SensorLimits& limits, SensorCounters& counters) {
  const auto ids = sensor_ids(meta, limits, counters);
  const auto assigned = server_assignments(meta);
  for (std::size_t i = 0; i < ids.size(); i += kPipelineSensors) {
    std::size_t n = std::min(kPipelineSensors, ids.size() - i);
    std::vector<std::vector<std::string>> cmds;
    for (std::size_t j = 0; j < n; ++j) {
      const auto& id = ids[i + j];
      cmds.push_back({"SMEMBERS", keys::sensor_tags(id)});
      cmds.push_back({"HGETALL", keys::sensor_meta_header(id)});
      cmds.push_back({"SMEMBERS", keys::sensor_all_types(id)});
      cmds.push_back({"SMEMBERS", keys::sensor_all_extended_types(id)});
    }
    auto replies = meta.pipeline(cmds);
    for (const auto& r : replies)
      if (r.is_error()) throw core::RedisError("reading sensors: " + r.str);
    for (std::size_t j = 0; j < n; ++j) {
      SensorRecord s;
      s.id = ids[i + j];
      s.tags = members(replies[4 * j]);
      std::sort(s.tags.begin(), s.tags.end());  // set members come in no order
      // By extended type name: the first header declaring an organisation wins, the same one on
      // every run.
      std::map<std::string, std::string> headers;
      const auto& fields = replies[4 * j + 1].elements;
      for (std::size_t h = 0; h + 1 < fields.size(); h += 2) headers[fields[h].str] = fields[h + 1].str;
      for (const auto& [ext, json] : headers) {
        bool invalid = false;
        auto org = declared_organisation(json, &invalid);
        if (invalid) ++counters.invalid_organisations;
        if (org && !s.declared) s.declared = org;
        for (auto& t : meta_header_tags(json)) s.tags.push_back(std::move(t));
      }
      // The server's assignment wins; a sensor's own declaration counts only without one.
      if (auto it = assigned.find(s.id); it != assigned.end()) s.declared = it->second;
      for (auto& t : members(replies[4 * j + 2])) s.types.insert(std::move(t));
      for (auto& t : members(replies[4 * j + 3])) s.extended_types.insert(std::move(t));
      add(std::move(s), limits, counters);
    }
  }
}

std::vector<Organisation> SensorDirectory::organisations() const {
  std::vector<Organisation> out{default_};
  for (const auto& [uuid, org] : declared_) out.push_back(org);
  return out;
}

const Organisation* SensorDirectory::organisation_of(std::string_view sensor) const {
  auto it = sensors_.find(std::string(sensor));
  if (it == sensors_.end() || !it->second.declared) return &default_;
  if (refused_.count(it->second.id)) return nullptr;
  return &declared_.at(it->second.declared->uuid);
}

const SensorRecord* SensorDirectory::find(std::string_view sensor) const {
  auto it = sensors_.find(std::string(sensor));
  return it == sensors_.end() ? nullptr : &it->second;
}

}  // namespace d4::sharing::misp
