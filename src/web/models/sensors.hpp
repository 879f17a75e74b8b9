#pragma once
// Read model of the sensors (/sensors, /sensors/{uuid}, /api/v1/sensors...): the list with its
// search and status filter, one sensor's detail, its daily traffic and its key.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/redis_client.hpp"
#include "core/sensors.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"
#include "web/models/dashboard.hpp"

namespace d4::web::models {

// One row of the sensor list.
struct SensorRow {
  std::string uuid;
  std::optional<long long> first_seen, last_seen;
  std::string description;
  std::string error;                     // the metadata's Error field
  std::vector<std::string> tags, types;  // sorted
  std::string last_ip;
  bool connected = false;
  bool registered = false;
  bool pending = false;
  bool blocked = false;
  bool monitoring_error = false;  // silent for longer than its monitoring delay
};
D4_VIEW_TO_JSON(SensorRow, uuid, first_seen, last_seen, description, error, tags, types, last_ip, connected,
                registered, pending, blocked, monitoring_error)
using SensorList = Page<SensorRow>;

struct SensorQuery {
  std::string text;    // part of the UUID (dashed or not), description, tags or last IP
  std::string status;  // "", "all", "connected", "pending", "registered", "blocked" or "error"
  long long page = 1;
  long long per_page = 50;
};

// When a sensor sent a type (or an extended type) first and last.
struct SensorType {
  std::string name;  // the type number, or the extended type's name
  bool connected = false;
  std::optional<long long> first_seen, last_seen;
};

struct ConnectionRecord {
  std::string ip;
  std::string time;  // "YYYY-MM-DD HH:MM:SS" when recorded so, else as stored
};

struct SensorMonitoring {
  bool enabled = false;
  std::optional<long long> delta_time;  // seconds of silence before an alert
  bool in_error = false;
};

struct SensorDetail {
  core::SensorInfo info;   // registration, blocking, metadata, limits, rejects and errors
  bool connected = false;  // at least one type is connected now
  std::vector<SensorType> types, extended_types;  // with their first and last seen
  std::vector<ConnectionRecord> connection_history;
  SensorMonitoring monitoring;
};

// A sensor's daily packets and bytes per type.
struct SensorTraffic : TypeSeries {
  std::string uuid;
};
D4_VIEW_TO_JSON(SensorTraffic, uuid, dates, packets_by_type, bytes_by_type)

struct SensorKey {
  std::string uuid;
  std::optional<std::string> key;  // empty: the server's default key
};

void to_json(json& j, const SensorDetail& s);
void to_json(json& j, const SensorKey& k);

class Sensors {
 public:
  // The stream Redis's keys are named in the configured key layout (db.layout), and the policy
  // acts through db.policy, which announces its changes like d4-admin.
  explicit Sensors(Db& db) : meta_(db.meta), stream_(db.stream), policy_(db.policy), layout_(db.layout) {}

  // The sensors of `scope` matching `q`.
  SensorList list(const SensorQuery& q, const Scope& scope);
  SensorDetail detail(const std::string& uuid);              // ApiError 400 for an invalid UUID
  SensorTraffic traffic(const std::string& uuid, int days);  // days clamped to 1..90
  SensorKey key(const std::string& uuid);
  std::vector<std::string> tags(const std::string& uuid);
  long long pending_count();
  // The monitored sensors of `scope` silent for longer than their delay (sorted).
  std::vector<std::string> silent(const Scope& scope);
  // Alerts when the sensor is silent for more than `delta_seconds`, or no longer.
  void monitor(const std::string& uuid, long long delta_seconds);
  void stop_monitoring(const std::string& uuid);
  // Forgets the sensor: registration, key, descriptive data, limits, monitoring, errors and its
  // per-type metadata. Statistics of past days and archives stay (they are history).
  void forget(const std::string& uuid);

 private:
  std::vector<std::string> known_sensors();

  core::RedisClient& meta_;
  core::RedisClient& stream_;
  core::SensorPolicy& policy_;
  core::keys::KeyLayout layout_;
};

}  // namespace d4::web::models
