#include "core/sensor_monitoring.hpp"

#include "core/keys.hpp"

namespace d4::core {

std::vector<MonitoredSensor> read_monitored_sensors(RedisClient& meta) {
  auto members = meta.command({"SMEMBERS", keys::kMonitoredSensors}).as_strings();
  std::vector<std::vector<std::string>> reads;
  for (const auto& u : members) {
    reads.push_back({"HGET", keys::monitored_sensor(u), "delta_time"});
    reads.push_back({"HGET", keys::sensor_metadata(u), "last_seen"});
  }
  std::vector<RedisReply> replies;
  if (!reads.empty()) replies = meta.pipeline(reads);
  std::vector<MonitoredSensor> out;
  out.reserve(members.size());
  for (std::size_t i = 0; i < members.size(); ++i)
    out.push_back({members[i], replies[2 * i].as_integer(), replies[2 * i + 1].as_integer()});
  return out;
}

}  // namespace d4::core
