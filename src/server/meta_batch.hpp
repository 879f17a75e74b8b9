#pragma once
// Metadata and statistics writes of one worker thread, aggregated in memory and flushed
// periodically as one exactly-once Lua call (scripts::kFlushScript). The reference made ~15
// synchronous round trips per packet for these; here a flush carries every counter increment of
// an interval as one ZINCRBY/HINCRBY per key and member.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace d4::server {

class MetaBatch {
 public:
  // Free-form ops in the flush script's vocabulary (see scripts.hpp).
  void op(std::initializer_list<std::string_view> args);
  // Packets confirmed stored for one (sensor, peer IP, type): feeds the seven reference daily
  // zsets (packet counts), our byte counters and the first_seen/last_seen metadata.
  void count_stored(const std::string& uuid, const std::string& ip, std::uint8_t type, std::uint64_t packets,
                    std::uint64_t bytes);
  bool empty() const { return ops_.empty() && stored_.empty(); }
  std::size_t pending_ops() const { return ops_.size(); }

  // Builds the EVAL request (RESP) for everything collected, with `marker` as the idempotency
  // key, and clears the batch. `date` is YYYYMMDD (local time), `now` epoch seconds.
  std::string take_request(const std::string& marker, const std::string& date, long long now);

 private:
  struct Counts {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
  };
  std::vector<std::string> ops_;
  std::map<std::tuple<std::string, std::string, std::uint8_t>, Counts> stored_;
};

// Local date YYYYMMDD and time YYYYmmddHHMMSS as the reference writes them.
std::string local_date(long long epoch_seconds);
std::string local_compact_time(long long epoch_seconds);

}  // namespace d4::server
