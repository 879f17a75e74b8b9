#pragma once
// Test fixture for d4-worker: two real redis-servers laid out like a D4 server (stream buffer;
// metadata with the analyzer queues in db 2), helpers that write session streams exactly as the
// ingest server does, and a d4-worker subprocess.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/redis_client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

namespace d4::test {

inline const std::string kSensor = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";  // sensor of the vectors

// Payloads of a D4 stream file (HMAC verified with the vectors' key).
std::vector<std::string> payloads_of_d4_file(const std::string& path);
// Splits data into payloads of `size` bytes.
std::vector<std::string> chunk(std::string_view data, std::size_t size);
std::string gunzip_file(const std::filesystem::path& p);
std::string unzstd_file(const std::filesystem::path& p);
std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir,
                                               std::string_view suffix = {});
std::string read_all(const std::filesystem::path& p);

class WorkerTest : public ::testing::Test {
 protected:
  WorkerTest();
  ~WorkerTest() override;

  std::string stream_ep() const { return stream_redis.endpoint(0); }
  std::string meta_ep() const { return meta_redis.endpoint(0); }
  std::string analyzer_ep() const { return meta_redis.endpoint(2); }
  std::filesystem::path archive() const { return dir / "archive"; }

  // XADDs payloads like d4-server (explicit increasing ids) and registers the session.
  void add_packets(int type, const std::string& session, const std::vector<std::string>& payloads,
                   const std::string& sensor = kSensor);
  void end_session(const std::string& session);
  std::string create_queue(const std::string& target, std::vector<std::string> sensors = {},
                           std::optional<long long> max_size = std::nullopt);
  // Oldest first, i.e. the order an RPOP consumer sees.
  std::vector<std::string> queue_items(const std::string& target, const std::string& queue);
  bool session_cleaned(int type, const std::string& session);
  bool wait_cleaned(int type, const std::string& session,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // Writes the [workers] section and starts d4-worker.
  Process start_worker(const std::string& workers_toml = "", const std::vector<std::string>& extra = {});
  std::filesystem::path config_path(const std::string& workers_toml);

  TempDir dir;
  RedisServer stream_redis;
  RedisServer meta_redis{true};
  core::RedisClient stream, meta, analyzer;
  std::uint64_t next_id_ = 1000;
  int config_counter_ = 0;
};

}  // namespace d4::test
