#pragma once
// What the alert rules watch, read from Redis once per evaluation and only for the kinds the rules
// use: sensors (metadata, the reference monitoring interval, error lists), analyzer queues (length,
// bound, drops, consumer activity), d4-worker statistics hashes and analyzer consumer heartbeats.
// Each rule turns that snapshot into one Observation per watched object (sensor, queue, worker,
// consumer): whether its condition holds now.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "alerts/rule.hpp"
#include "core/keys.hpp"
#include "core/metrics.hpp"
#include "core/organisations.hpp"
#include "core/redis_client.hpp"

namespace d4::alerts {

struct Observation {
  std::string instance;          // "sensor:<uuid>", "queue:<id>", "worker:<name>", "consumer:<name>"
  core::metrics::Labels labels;  // e.g. {"sensor", uuid}; exported on d4_alerts_firing
  bool active = false;           // the condition holds now...
  double hold = 0;               // ...and fires once it has held this long (seconds)...
  std::optional<double> since;   // ...counted from here when later than the first evaluation that saw it
  std::string summary;           // for people: what is wrong, with figures
};

struct ObserverSources {
  core::RedisClient* meta = nullptr;      // sensors, monitoring, queue definitions
  core::RedisClient* analyzer = nullptr;  // queue lists and statistics, workers, consumers
  long long default_queue_max_size = 0;   // [queues] default_max_size
  std::size_t max_sensors = 100000;       // sensors read per evaluation (SCAN budget)
  core::keys::KeyLayout layout = core::keys::KeyLayout::Reference;  // [redis] key_layout
};

class Observer {
 public:
  explicit Observer(ObserverSources sources) : src_(sources) {}
  // Starts an evaluation at `now` (epoch seconds): what was read for the previous one is dropped.
  void begin(double now);
  std::vector<Observation> observe(const Rule& rule);
  // Sensors left out of this evaluation because there were more than max_sensors.
  bool sensors_truncated() const { return sensors_truncated_; }

  struct Sensor {
    std::string uuid;
    std::optional<long long> first_seen, last_seen, monitoring_interval;
    std::string error;  // metadata_uuid:<uuid> Error
  };
  struct Queue {
    std::string id, type;  // type: "8" or the extended type name
    long long length = 0, max_size = 0, dropped = 0;
    double last_consumer_activity = 0;
    std::optional<double> last_drop;   // when this daemon last saw `dropped` grow
    std::vector<std::string> sensors;  // group queues: the sensors feeding it
  };
  struct Process {
    std::string name;
    bool registered = false;           // member of the registry set
    std::optional<long long> updated;  // heartbeat time; nullopt: no hash
    std::string detail;                // types served (workers) or queue (consumers)
  };

 private:
  const std::vector<Sensor>& sensors();
  Sensor read_sensor(const std::string& uuid);
  std::vector<Sensor> sensors_in(const Scope& scope);
  // Who owns which sensor (organisation rules), read once per evaluation.
  const core::SensorOwnership& ownership();
  bool queue_in_scope(const Rule& rule, const Queue& q);
  const std::vector<Queue>& queues();
  const std::vector<Process>& processes(bool workers);
  std::vector<Observation> observe_silent(const Rule& rule);
  std::vector<Observation> observe_errors(const Rule& rule);
  std::vector<Observation> observe_queues(const Rule& rule);
  std::vector<Observation> observe_down(const Rule& rule);

  ObserverSources src_;
  double now_ = 0;
  std::optional<std::vector<Sensor>> sensors_;
  std::optional<core::SensorOwnership> ownership_;
  bool sensors_truncated_ = false;
  std::optional<std::vector<Queue>> queues_;
  std::optional<std::vector<Process>> workers_, consumers_;
  // Drop counters of the previous evaluations, to see them grow: queue id -> (dropped, last growth).
  struct DropMemory {
    long long dropped = 0;
    std::optional<double> last_growth;
  };
  std::map<std::string, DropMemory> drops_;
};

// "3m12s", "2h05m", "41s": durations in summaries.
std::string human_duration(double seconds);

}  // namespace d4::alerts
