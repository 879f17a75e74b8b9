#pragma once
// What the feed needs to know about sensors: the organisation each belongs to and the tags it
// carries. A sensor's organisation is the one the server assigned it (d4:sensor:org, as the web
// interface sets it; named by d4:org:<uuid>), else the "misp:org" of its meta headers (a UUID, or
// an object with "uuid" and "name"), else the configured default organisation. Its tags are the operator's
// tags (sensor:tags:<uuid>) and the "tags" of its meta headers (sensor:metaheader:<uuid>), of which only
// machine tags ("namespace:predicate[=value]", as MISP taxonomies write them: tlp:amber,
// misp-galaxy:sector="Finance") travel into events; free-form labels stay on the server.
//
// The sensors are those of the sensor index (sensor:index, which d4-server's statistics flush,
// SensorPolicy and d4-web maintain): no keyspace scan, and on a Redis Cluster one key in one slot
// where a SCAN would reach one master only. Every per-sensor read names one key, so a pipeline of
// them is split per master by the cluster client. In the reference layout the reference server and
// web interface may register sensors in the same Redis without indexing them, so a SCAN of
// metadata_uuid:* adds those, bounded by the keys it may examine.
//
// Everything here comes from sensors or operators: bounded (sensors read, organisations declared,
// tags per event, keys scanned), each bound counted when it bites.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "sharing/misp_feed/event.hpp"

namespace d4::sharing::misp {

struct SensorLimits {
  std::size_t max_sensors = 100000;
  std::size_t max_organisations = 100;  // declared by meta headers, besides the default one
  // Where the sensor list comes from. The cluster layout: the sensor index alone. The reference
  // layout: the index, then a SCAN of metadata_uuid:* for the sensors that only the reference
  // server or web interface registered (they do not maintain the index), stopped after about
  // `scan_max_keys` keys examined (0: no scan).
  core::keys::KeyLayout layout = core::keys::KeyLayout::Reference;
  std::uint64_t scan_max_keys = 10000000;
};

struct SensorCounters {
  std::uint64_t sensors_not_read = 0;         // beyond max_sensors
  std::uint64_t sensor_scans_incomplete = 0;  // scans of metadata_uuid:* stopped by scan_max_keys
  std::uint64_t organisations_refused = 0;    // sensors whose declared organisation was over budget
  std::uint64_t invalid_organisations = 0;    // "misp:org" that names no valid UUID
};

struct SensorRecord {
  std::string id;  // dashless
  std::vector<std::string> tags;
  std::optional<Organisation> declared;  // the server's assignment, else misp:org
  std::set<std::string> types, extended_types;
};

class SensorDirectory {
 public:
  SensorDirectory(Organisation default_org) : default_(std::move(default_org)) {}
  // Reads the sensors of the metadata Redis (see SensorLimits: the sensor index, and in the
  // reference layout a bounded scan of metadata_uuid:<uuid>) with the server's organisation
  // assignments. Throws core::RedisError.
  void load(core::RedisClient& meta, const SensorLimits& limits, SensorCounters& counters);
  // Adds a sensor (what load() does for each one; tests and callers with their own sources).
  void add(SensorRecord sensor, const SensorLimits& limits, SensorCounters& counters);

  const Organisation& default_organisation() const { return default_; }
  // The default organisation first, then the declared ones by uuid.
  std::vector<Organisation> organisations() const;
  // The organisation of a sensor; nullptr for a sensor whose declared organisation was refused
  // (its data is published nowhere rather than under another organisation's name).
  const Organisation* organisation_of(std::string_view sensor) const;
  const SensorRecord* find(std::string_view sensor) const;
  const std::map<std::string, SensorRecord>& sensors() const { return sensors_; }

 private:
  Organisation default_;
  std::map<std::string, Organisation> declared_;  // uuid -> organisation
  std::map<std::string, SensorRecord> sensors_;
  std::set<std::string> refused_;  // sensors whose organisation was over budget
};

// The organisation a meta header declares with "misp:org"; nullopt when absent. `invalid` is set
// when the member is there but names no UUID.
std::optional<Organisation> declared_organisation(std::string_view meta_header_json, bool* invalid = nullptr);
// The "tags" array of a meta header (strings only).
std::vector<std::string> meta_header_tags(std::string_view meta_header_json);

// "namespace:predicate" or "namespace:predicate=value" with a namespace of letters, digits, '-',
// '_' and '.', at most 255 bytes and no control character (MISP's tag name limit).
bool is_machine_tag(std::string_view tag);

// The tags of an event: the configured ones, then the machine tags of its sensors, deduplicated
// and in order; of several TLP levels only the most restrictive stays (data mixed from a tlp:green
// and a tlp:amber sensor is tlp:amber). At most `max` tags; `dropped` counts the others.
std::vector<std::string> event_tags(const std::vector<std::string>& configured,
                                    const std::vector<std::string>& from_sensors, std::size_t max,
                                    std::uint64_t& dropped);

}  // namespace d4::sharing::misp
