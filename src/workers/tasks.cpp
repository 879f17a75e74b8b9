#include "workers/tasks.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/keys.hpp"
#include "core/lease.hpp"
#include "core/sensor_monitoring.hpp"

namespace d4::workers {
namespace keys = core::keys;
namespace fs = std::filesystem;

MonitorResult check_sensor_monitoring(core::RedisClient& meta, core::RedisClient& stream, std::time_t now,
                                      keys::KeyLayout layout) {
  MonitorResult res;
  auto active_list = stream.command({"SMEMBERS", keys::live(layout, keys::kActiveConnection)}).as_strings();
  std::set<std::string> active(active_list.begin(), active_list.end());
  std::vector<std::vector<std::string>> writes;
  std::set<std::string> monitored_set;
  for (const auto& m : core::read_monitored_sensors(meta)) {
    monitored_set.insert(m.uuid);
    if (!m.configured()) continue;  // the reference requires delta_time >= 1
    ++res.monitored;
    bool error = core::silent_longer_than(m.last_seen, *m.delta_time, now) || !active.count(m.uuid);
    if (error) ++res.in_error;
    writes.push_back({error ? "SADD" : "SREM", std::string(keys::kSensorsInError), m.uuid});
  }
  // Sensors no longer monitored leave the error set.
  for (const auto& u : meta.command({"SMEMBERS", keys::kSensorsInError}).as_strings())
    if (!monitored_set.count(u)) writes.push_back({"SREM", std::string(keys::kSensorsInError), u});
  if (!writes.empty()) meta.pipeline(writes);
  return res;
}

namespace {

bool is_compressed(const fs::path& p) {
  auto e = p.extension();
  return e == ".gz" || e == ".zst";
}

}  // namespace

RetentionResult enforce_retention(const fs::path& root, const RetentionPolicy& policy, std::time_t now) {
  RetentionResult res;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return res;
  struct File {
    fs::path path;
    std::time_t mtime;
    std::uint64_t size;
  };
  std::map<std::string, std::vector<File>> by_type;
  for (const auto& sensor : fs::directory_iterator(root, ec)) {
    if (!sensor.is_directory() || sensor.path().filename() == "datas") continue;
    for (const auto& type_dir : fs::directory_iterator(sensor.path(), ec)) {
      if (!type_dir.is_directory()) continue;
      std::string type = type_dir.path().filename().string();
      if (!policy.rule(type).active()) continue;
      for (auto it = fs::recursive_directory_iterator(type_dir.path(), ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (!it->is_regular_file(ec)) continue;
        auto mtime = fs::last_write_time(it->path(), ec);
        auto sys = std::chrono::file_clock::to_sys(mtime);
        by_type[type].push_back({it->path(), std::chrono::system_clock::to_time_t(sys), it->file_size(ec)});
      }
    }
  }
  auto remove = [&](const File& f) {
    std::error_code rec;
    if (fs::remove(f.path, rec)) {
      ++res.files_removed;
      res.bytes_removed += f.size;
    }
  };
  for (auto& [type, files] : by_type) {
    const auto& rule = policy.rule(type);
    std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.mtime < b.mtime; });
    std::vector<File> kept;
    std::uint64_t total = 0;
    for (const auto& f : files) {
      if (rule.max_age_seconds > 0 && now - f.mtime > rule.max_age_seconds)
        remove(f);
      else {
        kept.push_back(f);
        total += f.size;
      }
    }
    if (rule.max_bytes > 0)
      for (const auto& f : kept) {
        if (total <= rule.max_bytes) break;
        if (!is_compressed(f.path)) continue;  // possibly still being written
        remove(f);
        total -= f.size;
      }
  }
  // Remove empty day/month/year directories (deepest first).
  std::vector<fs::path> dirs;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    // Only year/month/day levels and below, and not freshly created ones, so a worker that just
    // created a directory for a new file does not lose it.
    if (it->is_directory(ec) && it.depth() >= 2) {
      auto sys = std::chrono::file_clock::to_sys(fs::last_write_time(it->path(), ec));
      if (now - std::chrono::system_clock::to_time_t(sys) > 600) dirs.push_back(it->path());
    }
  }
  std::sort(dirs.begin(), dirs.end(),
            [](const fs::path& a, const fs::path& b) { return a.string().size() > b.string().size(); });
  for (const auto& d : dirs)
    if (fs::is_empty(d, ec)) fs::remove(d, ec);
  if (res.files_removed > 0)
    spdlog::info("retention: removed {} files ({} bytes) under {}", res.files_removed, res.bytes_removed,
                 root.string());
  return res;
}

bool try_task_lock(core::RedisClient& redis, const std::string& task, const std::string& owner,
                   std::chrono::milliseconds ttl) {
  return core::lease::acquire(redis, keys::worker_task_lock(task), owner, ttl);
}

}  // namespace d4::workers
