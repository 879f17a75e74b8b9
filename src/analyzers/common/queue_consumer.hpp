#pragma once
// Consumes a D4 analyzer queue (Redis list `analyzer:<type>:<queue>` on the analyzer database,
// LPUSHed by the server) without losing elements:
//   * elements are moved atomically (Lua, or BRPOPLPUSH when waiting) from the queue into a
//     per-consumer processing list `d4:analyzer:processing:<consumer>`, oldest first (FIFO; the
//     reference passive SSL analyzer used LPOP, i.e. newest first);
//   * the processing list is deleted only after the handler returned, so elements of a batch
//     interrupted by a crash or a Redis outage are handled again at the next start (at-least-once);
//   * when the queue is empty the consumer blocks (BRPOPLPUSH with a timeout) instead of exiting;
//   * Redis errors (queue or storage) are logged once per outage and retried with exponential
//     backoff; the loop ends only when the stop flag is set (or, optionally, when the queue is empty);
//   * the running consumer announces itself every 2 s (d4:analyzer:consumers and
//     d4:analyzer:consumer:<consumer>, see core/keys.hpp) and withdraws at a clean stop, so that a
//     consumer that died or hangs shows as down (d4-alerts' analyzer_down rule, docs/alerts.md).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "core/redis_endpoint.hpp"

namespace d4::analyzers {

// d4:analyzer:processing:<consumer>, on the analyzer database next to the queue (reference
// layout); d4:analyzer:processing:{<list key>}:<consumer> in the cluster layout, in the queue's slot.
std::string processing_list_key(std::string_view consumer);
std::string processing_list_key(std::string_view consumer, std::string_view list_key,
                                core::keys::KeyLayout layout);
// d4:analyzer:failed:<consumer>: elements of batches whose handler failed for a reason other than
// Redis (newest first, capped at 10,000), kept for inspection instead of being dropped.
std::string failed_list_key(std::string_view consumer);

struct QueueConsumerOptions {
  core::RedisEndpoint endpoint;  // the D4 server's analyzer database (reference: 127.0.0.1:6380/2)
  std::string list_key;          // analyzer:<type-or-ext>:<queue>
  std::string consumer_name;     // names the processing list; unique per running consumer
  std::size_t batch_size = 256;  // elements moved per round trip when the queue has a backlog
  std::chrono::seconds block_timeout{1};
  bool exit_when_empty = false;  // batch mode: return once the queue is drained
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{10000};
  core::keys::KeyLayout layout = core::keys::KeyLayout::Reference;  // names the processing list
};

// A snapshot of the consumer's counters (QueueConsumer::stats(); readable from any thread).
struct QueueConsumerStats {
  std::uint64_t elements = 0;  // elements of batches the handler has finished (re-deliveries included)
  std::uint64_t batches = 0;
  std::uint64_t redeliveries = 0;  // elements found in the processing list at (re)start
  std::uint64_t redis_errors = 0;
  std::uint64_t failed_batches = 0;
};

// Handles a batch, oldest element first. Throwing core::RedisError means "retry this batch later"
// (storage unavailable); any other exception is a permanent failure of the batch: it is logged and
// its elements are kept in the failed list.
using BatchHandler = std::function<void(const std::vector<std::string>& elements)>;

class QueueConsumer {
 public:
  explicit QueueConsumer(QueueConsumerOptions options);
  // Runs until `stop` is set (or the queue is empty with exit_when_empty). Returns the number of
  // elements handled.
  std::uint64_t run(const BatchHandler& handler, const std::atomic<bool>& stop);
  QueueConsumerStats stats() const;
  const QueueConsumerOptions& options() const { return options_; }
  const std::string& processing_key() const { return processing_key_; }
  // For health checks from another thread: wall-clock seconds of the last successful round trip
  // to the queue (0: none yet), and whether Redis (queue or storage) is failing right now.
  long long last_progress() const { return last_progress_.load(std::memory_order_relaxed); }
  bool in_outage() const { return in_outage_.load(std::memory_order_relaxed); }

 private:
  bool drain_processing_list(const BatchHandler& handler);
  std::vector<std::string> take_batch();
  void finish_batch();
  // Refreshes the heartbeat when it is due (every 2 s); never throws (a heartbeat that cannot be
  // written must not stop the consumption: the alert shows it).
  void heartbeat();
  void withdraw();
  void handle(const BatchHandler& handler, const std::vector<std::string>& batch);

  QueueConsumerOptions options_;
  std::string processing_key_;
  std::string failed_key_;
  std::string heartbeat_key_;
  core::RedisClient redis_;
  void mark_progress();

  struct Counters {
    std::atomic<std::uint64_t> elements{0}, batches{0}, redeliveries{0}, redis_errors{0}, failed_batches{0};
  };
  Counters stats_;
  std::atomic<long long> last_progress_{0};
  std::atomic<bool> in_outage_{false};
  long long started_ = 0;
  std::chrono::steady_clock::time_point next_heartbeat_{};
};

}  // namespace d4::analyzers
