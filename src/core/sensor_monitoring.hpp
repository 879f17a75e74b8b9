#pragma once
// Sensor monitoring the reference way (its §2.7): an operator gives a sensor an expected interval
// (to_monitor:sensor:<uuid> delta_time, seconds, >= 1) and the sensor is silent when it has not
// been seen (metadata_uuid:<uuid> last_seen) for longer than that. d4-worker keeps the reference's
// error set from it (workers/tasks.hpp) and d4-alerts alerts on it (alerts/observe.hpp): both read
// and judge through these functions, so they never disagree.
#include <optional>
#include <string>
#include <vector>

#include "core/redis_client.hpp"

namespace d4::core {

struct MonitoredSensor {
  std::string uuid;                     // dashless, as stored in to_monitor:sensors
  std::optional<long long> delta_time;  // expected interval in seconds (unset or < 1: not configured)
  std::optional<long long> last_seen;   // epoch seconds
  bool configured() const { return delta_time && *delta_time >= 1; }
};

// Every member of to_monitor:sensors with its interval and last_seen (two reads per sensor, one
// round trip).
std::vector<MonitoredSensor> read_monitored_sensors(RedisClient& meta);

// Silent: never seen, or last seen more than `interval` seconds before `now`.
inline bool silent_longer_than(const std::optional<long long>& last_seen, long long interval, long long now) {
  return !last_seen || now - *last_seen > interval;
}

}  // namespace d4::core
