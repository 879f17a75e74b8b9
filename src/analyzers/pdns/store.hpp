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
// batch and written as one pipelined request per batch, several batches in flight.
#include <atomic>
#include <chrono>
#include <cstdint>
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
  // Written batches whose replies may still be outstanding: Redis executes them while the next
  // ones are parsed and encoded. 1 = wait for each batch before aggregating the next.
  std::size_t inflight_batches = 4;
  // Accepted for configuration compatibility; writes always overlap parsing now.
  bool async_writes = false;
  // No reply for this long: the connection is taken as dead and the batches in flight failed.
  std::chrono::milliseconds reply_timeout{10000};
  // When set, kept equal to the number of batches in flight (read by the metrics endpoint).
  std::atomic<std::int64_t>* inflight_gauge = nullptr;
};

struct StoreStats {
  std::uint64_t records = 0;  // accepted observations
  std::uint64_t excluded = 0;
  std::uint64_t rejected = 0;
  // Per reason (the parsers' own names: a bounded set).
  std::map<std::string, std::uint64_t, std::less<>> rejected_by_reason;
  std::uint64_t writes = 0;  // batches written
  std::uint64_t distinct_written = 0;
};

// Aggregates observations per batch and writes each batch as one pipelined request on its own
// connection (RESP encoded directly, no per-argument allocations). Up to `inflight_batches`
// requests are outstanding, so Redis executes one batch while the caller parses the next. The
// connection's I/O runs on the caller's thread, inside add(), reject(), flush() and discard():
// no thread competes with Redis for a core. Not thread-safe.
class PdnsStore {
 public:
  PdnsStore(core::RedisClient& redis, StoreOptions options);
  ~PdnsStore();
  PdnsStore(const PdnsStore&) = delete;
  PdnsStore& operator=(const PdnsStore&) = delete;

  // Queues one observation; returns false when excluded. A full batch is sent without waiting for
  // its replies. Throws core::RedisError when Redis is unavailable (a batch failed and cannot be
  // sent again now, or the connection is down): the record was then not added; the failed
  // batches are kept and written again by a later add() or flush().
  bool add(const PdnsRecord& record);
  // Counts a rejected input (and keeps a sample of it); written with the next flush.
  void reject(std::string_view reason, std::string_view input, std::string_view sensor_id = {});
  // Writes everything pending and waits for every reply. Throws core::RedisError when Redis is
  // unavailable; nothing is lost then, the next flush() retries.
  void flush();
  // Drops everything pending (a queue batch about to be delivered again after a failed write).
  void discard();
  // Observations and rejects not yet written (pending, in flight or failed).
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
  using RecordMap = std::unordered_map<std::pair<std::string, std::string>, Aggregate, KeyHash>;
  using RecordsByType = std::unordered_map<std::uint16_t, RecordMap>;

  // First/last seen to verify in the replies of SET ... NX GET / SET ... GET (pipeline mode).
  struct Check {
    std::size_t first_reply;  // index of the SET s: reply; SET l: follows
    std::uint16_t type;
    const std::string* rrname;  // owned by Batch::records
    const std::string* rdata;
    std::int64_t first, last;
  };
  struct Batch {
    RecordsByType records;  // keeps the names the checks point to
    std::string resp;       // the request; after a successful write, the corrections (if any)
    std::uint32_t commands = 0;
    std::vector<Check> checks;
    bool corrections = false;  // resp holds the out-of-order corrections (idempotent)
    std::size_t distinct = 0;
    std::size_t observations = 0;
  };
  class Writer;

  std::shared_ptr<Batch> build_batch();  // moves everything pending into a batch
  void choose_write_mode();
  void send(std::shared_ptr<Batch> batch);    // connects if needed, then submit()
  void submit(std::shared_ptr<Batch> batch);  // queues the request; completion via on_reply
  void on_reply(const std::shared_ptr<Batch>& batch, const std::string& error,
                std::vector<core::RedisReply>& replies);
  void resend_failed();  // throws RedisError when not connected
  void wait_inflight(std::size_t at_most);
  void throw_if_failed();
  void poll();
  void clear_pending();

  core::RedisClient& redis_;  // probes the server's SET options
  std::unique_ptr<Writer> writer_;
  StoreOptions options_;
  StoreStats stats_;
  RecordsByType by_type_;  // (rrname, rdata) per type, aggregated until written
  std::size_t distinct_pending_ = 0;
  std::unordered_map<std::string, std::uint64_t> dist_ttl_, dist_class_, dist_type_, sensors_;
  std::uint64_t processed_ = 0, excluded_pending_ = 0;
  struct Reject {
    std::string reason, input, sensor;
  };
  std::vector<Reject> rejects_;
  std::vector<std::shared_ptr<Batch>> failed_;
  std::size_t inflight_ = 0, inflight_observations_ = 0, failed_observations_ = 0;
  std::string last_error_;
  unsigned polls_skipped_ = 0;
  std::string key_;  // scratch for key names while encoding
  enum class WriteMode { Unknown, Pipeline, Script };
  WriteMode mode_ = WriteMode::Unknown;  // chosen at the first write (see store.cpp)
  std::string_view script_;
  std::string script_sha_;
};

}  // namespace d4::analyzers::pdns
