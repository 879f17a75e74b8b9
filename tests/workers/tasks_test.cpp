// Sensor monitoring and retention.
#include <gtest/gtest.h>

#include <ctime>

#include "core/keys.hpp"
#include "workers/tasks.hpp"
#include "workers/worker_fixture.hpp"

namespace d4::test {
namespace {
namespace fs = std::filesystem;
namespace keys = core::keys;

TEST_F(WorkerTest, MonitoringMarksSilentOrDisconnectedSensors) {
  const std::string quiet = "0a0b0c0d0e0f40008000000000000001";
  const std::string live = "0a0b0c0d0e0f40008000000000000002";
  const std::string offline = "0a0b0c0d0e0f40008000000000000003";
  std::time_t now = 1'700'000'000;
  for (const auto& u : {quiet, live, offline}) {
    meta.command_ok({"SADD", keys::kMonitoredSensors, u});
    meta.command_ok({"HSET", keys::monitored_sensor(u), "delta_time", "60"});
  }
  meta.command_ok({"HSET", keys::sensor_metadata(quiet), "last_seen", std::to_string(now - 61)});
  meta.command_ok({"HSET", keys::sensor_metadata(live), "last_seen", std::to_string(now - 5)});
  meta.command_ok({"HSET", keys::sensor_metadata(offline), "last_seen", std::to_string(now - 5)});
  stream.command_ok({"SADD", keys::kActiveConnection, quiet, live});
  auto r = workers::check_sensor_monitoring(meta, stream, now);
  EXPECT_EQ(r.monitored, 3u);
  EXPECT_EQ(r.in_error, 2u);
  EXPECT_EQ(meta.command({"SISMEMBER", keys::kSensorsInError, quiet}).integer, 1);
  EXPECT_EQ(meta.command({"SISMEMBER", keys::kSensorsInError, live}).integer, 0);
  EXPECT_EQ(meta.command({"SISMEMBER", keys::kSensorsInError, offline}).integer, 1);
  // Recovery and unmonitoring clear the state.
  stream.command_ok({"SADD", keys::kActiveConnection, offline});
  meta.command_ok({"SREM", keys::kMonitoredSensors, quiet});
  workers::check_sensor_monitoring(meta, stream, now);
  EXPECT_EQ(meta.command({"SCARD", keys::kSensorsInError}).integer, 0);
}

void touch(const fs::path& p, std::size_t size, std::time_t mtime) {
  fs::create_directories(p.parent_path());
  write_text(p, std::string(size, 'x'));
  auto sys = std::chrono::system_clock::from_time_t(mtime);
  fs::last_write_time(p, std::chrono::file_clock::from_sys(sys));
}

TEST(Retention, AgeAndSizeLimitsPerType) {
  TempDir dir;
  std::time_t now = 1'700'000'000;
  auto day = [&](const std::string& type, const std::string& name) {
    return dir / "sensor" / type / "2023" / "11" / "14" / name;
  };
  touch(day("1", "old.cap.gz"), 100, now - 10 * 86400);
  touch(day("1", "new.cap.gz"), 100, now - 3600);
  touch(day("8", "a.txt.gz"), 100, now - 300);
  touch(day("8", "b.txt.gz"), 100, now - 200);
  touch(day("8", "c.txt.gz"), 100, now - 100);
  touch(day("8", "open.txt"), 100, now - 50);  // being written: never removed for size
  touch(day("3", "keep.gz"), 100, now - 100 * 86400);
  workers::RetentionPolicy p;
  p.per_type["1"] = {7 * 86400, 0};
  p.per_type["8"] = {0, 250};
  auto r = workers::enforce_retention(dir.path(), p, now);
  EXPECT_FALSE(fs::exists(day("1", "old.cap.gz")));
  EXPECT_TRUE(fs::exists(day("1", "new.cap.gz")));
  EXPECT_FALSE(fs::exists(day("8", "a.txt.gz")));
  EXPECT_FALSE(fs::exists(day("8", "b.txt.gz")));
  EXPECT_TRUE(fs::exists(day("8", "c.txt.gz")));
  EXPECT_TRUE(fs::exists(day("8", "open.txt")));
  EXPECT_TRUE(fs::exists(day("3", "keep.gz")));  // no rule for type 3
  EXPECT_EQ(r.files_removed, 3u);
}

}  // namespace
}  // namespace d4::test
