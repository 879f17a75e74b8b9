#pragma once
// Sessions that cannot be processed. A handler that throws on a session's data is retried a
// bounded number of times; after that the session is quarantined: its streams are moved aside
// into dead letters (within a budget, the oldest dropped with a count), the sensor is marked in
// error and the server closes its connection, and whatever still arrives is drained and counted
// instead of being processed. Errors of the environment (disk full, permissions: a
// std::system_error) are not the sensor's fault and are retried without limit.
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "core/keys.hpp"
#include "core/redis_client.hpp"

namespace d4::workers {

struct DeadLetterBudget {
  std::uint64_t max_bytes = 256ull << 20;  // Redis memory of the streams held (MEMORY USAGE)
  std::size_t max_sessions = 100;
};

struct DeadLetterResult {
  long long entries = 0, bytes = 0;  // moved aside
  bool kept = false;                 // false: dropped at once (larger than the whole budget)
  long long evicted_sessions = 0, evicted_entries = 0;  // older dead letters dropped to make room
};

// True for failures of the machine rather than of the data (I/O errors).
bool is_environment_error(const std::exception& e);

// Moves stream:<t>:<session> for each t in `stream_types` to the dead letters. Reference layout:
// one script, atomically. Cluster layout (a script runs in one slot): the move in the session's
// slot, then the index, the counts and the budget in the live slot, each step safe to repeat
// (quarantine.cpp); a repetition after the move returns what the first call moved.
DeadLetterResult move_to_dead_letter(core::RedisClient& stream, const std::string& session,
                                     const std::vector<int>& stream_types, const std::string& type,
                                     const std::string& sensor, const std::string& reason,
                                     const DeadLetterBudget& budget,
                                     core::keys::KeyLayout layout = core::keys::KeyLayout::Reference);

// The sensor-facing description of what happened to the data.
std::string describe_dead_letter(const DeadLetterResult& r, const std::string& session,
                                 core::keys::KeyLayout layout = core::keys::KeyLayout::Reference);

}  // namespace d4::workers
