#pragma once
// A session's batch of accepted packets for the stream Redis: one MULTI/XADD.../EXEC
// transaction with explicit, increasing stream ids, closed by a trailer that announces the
// session to its worker and counts the batch's bytes in the backlog (admission.hpp). A batch is
// "stored" only when EXEC's reply confirms every XADD; an XADD refused as "equal or smaller id"
// was stored by an earlier execution of the same batch (re-sent after a reconnect).
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/redis_async.hpp"
#include "protocol/framer.hpp"

namespace d4::server {

// Explicit stream ids, millisecond-based like Redis's own: a batch re-sent after a reconnect
// gets "id equal or smaller" for entries that were stored, instead of storing them twice.
class StreamIds {
 public:
  std::string next(std::uint64_t now_ms);

 private:
  std::uint64_t last_ms_ = 0, seq_ = 0;
};

struct StreamBatch {
  using Clock = std::chrono::steady_clock;
  struct TypeCount {
    std::uint8_t type;
    std::uint64_t packets, bytes;
  };
  // What the trailer needs to know about the session.
  struct Session {
    std::string_view id, uuid_hex, stream_key, worker_type, instance, live_value;
  };

  std::string resp;
  std::uint32_t commands = 0;  // MULTI and EXEC included
  std::uint64_t packets = 0, bytes = 0;
  std::vector<TypeCount> types;                                    // runs of one type, in order
  std::vector<std::pair<Clock::time_point, std::uint32_t>> reads;  // read time, packets

  // Appends the XADD of one accepted packet (the MULTI first).
  void add(std::string_view stream_key, const std::string& id, std::string_view uuid_hex,
           const protocol::Packet& p, Clock::time_point read_time);
  // Closes the transaction: SADD, HSET, XLEN, the two backlog HINCRBYs, EXEC.
  void seal(const Session& s);
  void clear();
};

// EXEC's verdict on a sealed batch of `packets` XADDs and `commands` commands.
struct BatchOutcome {
  bool stored = false;
  std::uint64_t duplicates = 0;  // XADDs an earlier execution had stored
  std::string failure;           // Redis's refusal when not stored
  // From the trailer when stored: XLEN and the backlog byte counts (HINCRBY replies).
  const core::RedisReply* xlen = nullptr;
  const core::RedisReply* session_bytes = nullptr;
  const core::RedisReply* sensor_bytes = nullptr;
};
BatchOutcome batch_outcome(const core::RedisReplies& replies, std::uint32_t commands, std::uint64_t packets);

}  // namespace d4::server
