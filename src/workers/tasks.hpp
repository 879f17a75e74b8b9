#pragma once
// Periodic tasks of d4-worker: sensor monitoring and archive retention. Each runs in one worker
// process at a time (a short Redis lock), whichever gets there first.
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>

#include "core/keys.hpp"
#include "core/redis_client.hpp"

namespace d4::workers {

// Reference §2.7: a monitored sensor (to_monitor:sensors, delay in to_monitor:sensor:<uuid>
// delta_time) is in error when it has not been seen for longer than its delay or has no live
// connection; such sensors are members of sensors_monitoring:sensors_error (read by the web UI
// and metrics). Returns the number of sensors in error.
struct MonitorResult {
  std::size_t monitored = 0, in_error = 0;
};
// `layout` names the stream Redis's live connections (keys::live).
MonitorResult check_sensor_monitoring(core::RedisClient& meta, core::RedisClient& stream, std::time_t now,
                                      core::keys::KeyLayout layout = core::keys::KeyLayout::Reference);

struct RetentionRule {
  std::int64_t max_age_seconds = 0;  // 0: no age limit
  std::uint64_t max_bytes = 0;       // 0: no size limit (per type, all sensors together)
  bool active() const { return max_age_seconds > 0 || max_bytes > 0; }
};
struct RetentionPolicy {
  RetentionRule all_types;
  std::map<std::string, RetentionRule> per_type;  // "1", "3", "254"... overrides all_types
  const RetentionRule& rule(const std::string& type) const {
    auto it = per_type.find(type);
    return it == per_type.end() ? all_types : it->second;
  }
};
struct RetentionResult {
  std::uint64_t files_removed = 0, bytes_removed = 0;
};
// Applies the policy to <root>/<sensor>/<type>/...: files older than the age limit are removed;
// then, while a type's total exceeds its size limit, its oldest compressed files. Files being
// written (not compressed yet) are only removed by the age limit, and only when their last
// modification is older than it. Empty directories are removed.
RetentionResult enforce_retention(const std::filesystem::path& root, const RetentionPolicy& policy,
                                  std::time_t now);

// A lock held for `ttl`; true when this caller got it.
bool try_task_lock(core::RedisClient& redis, const std::string& task, const std::string& owner,
                   std::chrono::milliseconds ttl);

}  // namespace d4::workers
