#pragma once
// Passive DNS storage in Redis or kvrocks with the key schema of analyzer-d4-passivedns, so that
// existing databases and their query tools keep working (<q> rrname, <v> rdata, <t> numeric type):
//
//   r:<q>:<t>      set     rdata values of a name          (forward lookup)
//   v:<v>:<t>      set     names having this rdata         (reverse lookup)
//   s:<q>:<v>:<t>  string  first seen (epoch seconds)
//   l:<q>:<v>:<t>  string  last seen
//   o:<q>:<v>:<t>  string  occurrences
//   dist:ttl, dist:class, dist:type   hashes   value -> records seen
//   stats:processed                   string   records processed
//   stats:sensors (zset), sensors:seen (set)  sensor ids of imported/attributed records
// Added by this implementation (ignored by the reference tools):
//   sid:<q>:<v>:<t>   set     sensor ids that saw the record (when known)
//   stats:rejected    hash    reason -> input lines/records rejected (malformed, unknown type...)
//   stats:excluded    string  records skipped by the name exclusions
//   stats:rejected:samples    list   last rejected inputs, "<reason> <input>" (newest first, capped)
//   stats:rejected:sensor:<sensor>  hash  reason -> rejects attributed to a sensor (when known)
//
// Differences from the reference, on purpose: first seen is lowered by older observations and last
// seen raised by newer ones (min/max, also for imports); the per-type expiry applies to the l: key
// too (the reference re-expired r: instead, leaving l: keys forever); records are aggregated per
// batch and written in one pipelined script call.
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "analyzers/pdns/record.hpp"
#include "core/redis_client.hpp"

namespace d4::analyzers::pdns {

namespace keys {
std::string forward(std::string_view rrname, std::uint16_t type);                              // r:
std::string reverse(std::string_view rdata, std::uint16_t type);                               // v:
std::string first_seen(std::string_view rrname, std::string_view rdata, std::uint16_t type);   // s:
std::string last_seen(std::string_view rrname, std::string_view rdata, std::uint16_t type);    // l:
std::string occurrences(std::string_view rrname, std::string_view rdata, std::uint16_t type);  // o:
std::string sensors_of(std::string_view rrname, std::string_view rdata, std::uint16_t type);   // sid:
inline constexpr std::string_view kDistTtl = "dist:ttl";
inline constexpr std::string_view kDistClass = "dist:class";
inline constexpr std::string_view kDistType = "dist:type";
inline constexpr std::string_view kProcessed = "stats:processed";
inline constexpr std::string_view kSensors = "stats:sensors";
inline constexpr std::string_view kSensorsSeen = "sensors:seen";
inline constexpr std::string_view kRejected = "stats:rejected";
inline constexpr std::string_view kRejectedSamples = "stats:rejected:samples";
inline constexpr std::string_view kExcluded = "stats:excluded";
inline std::string rejected_by_sensor(std::string_view sensor) {
  return "stats:rejected:sensor:" + std::string(sensor);
}
}  // namespace keys

struct StoreOptions {
  std::map<std::uint16_t, std::int64_t> expiry_seconds;  // per rrtype
  std::vector<std::string> exclude_substrings;           // skip names containing any of these
  std::size_t batch_records = 2000;                      // distinct records per write
  std::size_t rejected_samples = 1000;                   // cap of stats:rejected:samples
  // "pipeline" (plain pipelined commands, Redis >= 7) or "script" (one Lua call per slice of
  // records); servers without SET ... NX GET always use a script.
  std::string write_mode = "pipeline";
  // Write full batches from a background thread while the next batch is parsed.
  bool async_writes = false;
};

struct StoreStats {
  std::uint64_t records = 0;  // accepted observations
  std::uint64_t excluded = 0;
  std::uint64_t rejected = 0;
  std::uint64_t writes = 0;  // batches written
  std::uint64_t distinct_written = 0;
};

class PdnsStore {
 public:
  PdnsStore(core::RedisClient& redis, StoreOptions options);
  ~PdnsStore();
  PdnsStore(const PdnsStore&) = delete;
  PdnsStore& operator=(const PdnsStore&) = delete;

  // Queues one observation; returns false when excluded. When a batch is full it is handed to a
  // background writer (its own connection), so parsing the next batch overlaps Redis executing
  // this one; at most one batch is in flight. Throws core::RedisError when the previous batch
  // failed: the record was then not added, and the failed batch is written again by flush().
  bool add(const PdnsRecord& record);
  // Counts a rejected input (and keeps a sample of it); written with the next flush.
  void reject(std::string_view reason, std::string_view input, std::string_view sensor_id = {});
  // Writes everything pending and waits for it. Throws core::RedisError when Redis is
  // unavailable; nothing is lost then, the next flush() retries.
  void flush();
  // Drops everything pending (a queue batch about to be delivered again after a failed write).
  void discard();
  // Observations and rejects not yet written.
  std::size_t pending() const;
  const StoreStats& stats() const { return stats_; }
  bool excluded(std::string_view rrname) const;

 private:
  struct Aggregate {
    std::int64_t first = 0, last = 0;
    std::uint64_t count = 0;
    std::vector<std::string> sensors;
  };
  struct KeyHash {
    std::size_t operator()(const std::pair<std::string, std::string>& k) const noexcept;
  };

  struct Check {
    std::size_t first_reply, last_reply;
    std::string first_key, last_key;
    std::int64_t first, last;
  };
  struct Batch {
    std::vector<std::vector<std::string>> cmds;
    std::vector<Check> checks;
    std::size_t distinct = 0;
    std::size_t observations = 0;
  };
  Batch build_batch();  // moves everything pending into a batch of commands
  static void write_batch(core::RedisClient& client, const Batch& batch);
  void submit();
  void wait_inflight();
  void account(const Batch& b);
  void clear_pending();

  core::RedisClient& redis_;
  std::unique_ptr<core::RedisClient> writer_;  // used only by the background write
  std::future<void> inflight_;
  std::shared_ptr<Batch> inflight_batch_, failed_;
  StoreOptions options_;
  StoreStats stats_;
  // (rrname, rdata) per type, aggregated until written.
  std::unordered_map<std::uint16_t,
                     std::unordered_map<std::pair<std::string, std::string>, Aggregate, KeyHash>>
      by_type_;
  std::size_t distinct_pending_ = 0;
  std::unordered_map<std::string, std::uint64_t> dist_ttl_, dist_class_, dist_type_, sensors_;
  std::uint64_t processed_ = 0, excluded_pending_ = 0;
  struct Reject {
    std::string reason, input, sensor;
  };
  std::vector<Reject> rejects_;
  enum class WriteMode { Unknown, Pipeline, Script };
  WriteMode mode_ = WriteMode::Unknown;  // chosen at the first write (see store.cpp)
  std::string_view script_;
  std::string script_sha_;
};

}  // namespace d4::analyzers::pdns
