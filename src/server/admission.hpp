#pragma once
// Admission of authenticated data into the stream Redis: how much one session, one sensor and all
// sensors together may hold there before the workers processed it. Past a limit a session stops
// reading its socket (TCP back-pressure, nothing is dropped) until the workers caught up:
//
//   * packets per session   (default_backlog / stream_max_size_by_uuid, the reference's limit)
//   * bytes per session     (max_session_backlog_bytes)
//   * bytes per sensor      (max_sensor_backlog_bytes, all its sessions, ended ones included)
//   * the stream Redis's memory (used_memory against a budget from maxmemory, or a share of the
//     machine's memory): from stream_memory_share_from of the budget on, each sensor may hold at
//     most an equal share (the budget's sharing part divided by the sensors holding a backlog), so
//     the sensor that floods waits first; at the budget every session waits.
//
// The byte counts live in the stream Redis next to the streams (d4:backlog:session,
// d4:backlog:sensor): d4-server adds in the same MULTI/EXEC as the XADDs, d4-worker subtracts when
// it trims processed entries, so they are exact across servers, threads and restarts.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "server/server_config.hpp"

namespace d4::server {

// Why a session is not reading (several at once possible).
enum PauseCause : unsigned {
  kPausePending = 1,        // its own unconfirmed bytes (max_session_pending_bytes)
  kPauseRedis = 2,          // stream Redis down
  kPauseBacklog = 4,        // packets per session
  kPauseRate = 8,           // rate limit
  kPauseSessionBytes = 16,  // bytes per session
  kPauseSensorBytes = 32,   // bytes per sensor
  kPauseMemory = 64,        // stream Redis memory budget (fair share or full)
};
// The causes a sensor is held responsible for: counted per sensor when they start.
inline constexpr unsigned kSensorPauseCauses =
    kPauseBacklog | kPauseSessionBytes | kPauseSensorBytes | kPauseMemory;

// Causes counted in d4_server_backpressure_total and sensor:backpressure:<uuid>.
enum class Backpressure : std::uint8_t { backlog, session_bytes, sensor_bytes, memory, kCount };
inline constexpr std::size_t kBackpressureCount = static_cast<std::size_t>(Backpressure::kCount);
std::string_view backpressure_name(Backpressure b);
std::optional<Backpressure> backpressure_of(PauseCause single_cause);

// From INFO memory of the stream Redis.
struct RedisMemoryInfo {
  std::uint64_t used = 0, maxmemory = 0, total_system = 0;
};
std::optional<RedisMemoryInfo> parse_info_memory(std::string_view info);

struct MemoryBudget {
  std::uint64_t budget = 0;        // bytes; 0: no global budget
  std::uint64_t sharing_from = 0;  // used bytes from which sensors share the budget
  std::uint64_t used = 0;
  std::uint64_t sensors = 0;  // sensors holding a backlog
  // Derived from the above.
  bool full() const { return budget > 0 && used >= budget; }
  std::uint64_t fair_share() const;  // bytes a sensor may hold while sharing; 0: not sharing
};
MemoryBudget compute_memory_budget(const RedisMemoryInfo& info, std::uint64_t sensors_with_backlog,
                                   const RuntimeOptions& rt);
// A stream Redis of several masters (a Redis Cluster): sessions spread over them by slot, and a
// master that reaches its maxmemory refuses writes whatever the others hold, so each master gets
// its own budget (as above, from its own INFO memory; stream_memory_budget applies per master) and
// the one nearest its budget (highest used / budget) is the budget the sessions see. One master:
// the same as above. `masters` must not be empty.
MemoryBudget compute_memory_budget(const std::vector<RedisMemoryInfo>& masters,
                                   std::uint64_t sensors_with_backlog, const RuntimeOptions& rt);

// The current budget, published by the server's memory poll and read by every session. Between
// polls the bytes the sessions store are added to the polled used_memory, so that a fast sensor
// cannot overshoot the budget by what it writes during one poll interval.
class MemoryGate {
 public:
  // `stored_at_request` is stored_since_poll() read when INFO was sent. Returns true when the
  // new state lets some held sessions go on (they should be woken).
  bool publish(const MemoryBudget& b, std::uint64_t stored_at_request);
  void add_stored(std::uint64_t bytes) { stored_since_poll_.fetch_add(bytes, std::memory_order_relaxed); }
  std::uint64_t stored_since_poll() const { return stored_since_poll_.load(std::memory_order_relaxed); }
  MemoryBudget current() const;  // used = last poll + stored since
  bool full() const { return current().full(); }
  std::uint64_t fair_share() const { return current().fair_share(); }

 private:
  std::atomic<std::uint64_t> budget_{0}, sharing_from_{0}, used_{0}, sensors_{0}, stored_since_poll_{0};
};

// A session's backlog as last confirmed by Redis, plus what it has not had confirmed yet.
struct SessionBacklog {
  long long packets = 0;            // XLEN estimate (confirmed + unconfirmed packets)
  long long packet_limit = 0;       // 0: none
  std::uint64_t session_bytes = 0;  // confirmed + unconfirmed
  std::uint64_t sensor_bytes = 0;   // confirmed (all sessions of the sensor) + own unconfirmed
};

// The admission causes that hold this session now (a subset of kSensorPauseCauses).
unsigned admission_causes(const SessionBacklog& b, const RuntimeOptions& rt, const MemoryGate& gate);

}  // namespace d4::server
