#pragma once
// A session's batch of accepted packets for the stream Redis: one MULTI/XADD.../EXEC
// transaction with explicit, increasing stream ids, closed by a trailer that announces the
// session to its worker and counts the batch's bytes in the backlog (admission.hpp). A batch is
// "stored" only when EXEC's reply confirms every XADD; an XADD refused as "equal or smaller id"
// was stored by an earlier execution of the same batch (re-sent after a reconnect).
//
// Entry coalescing: consecutive packets of a byte-stream type (pcap and line types, whose readers
// concatenate payloads) may share one stream entry, their payloads concatenated up to a byte
// bound, so that Redis runs one XADD for many packets. The entry keeps the first packet's header
// fields (uuid, timestamp, version): the readers use only `message` and `uuid` (docs/redis-keys.md).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/keys.hpp"
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

// Types whose payloads are one byte stream split anywhere (pcap, log lines, dnscap, passive DNS
// CSV...): their readers rebuild the same data from concatenated payloads. Never the meta header
// (2) and extended types (254), whose payloads are documents handed over one by one.
bool coalescable_type(std::uint8_t type);

// Replicas of the stream Redis that must hold a batch before it counts as stored
// ([server] wait_replicas): a WAIT follows EXEC in the same request, one per batch.
struct ReplicaWait {
  int replicas = 0;  // 0: no WAIT
  std::chrono::milliseconds timeout{0};
};

struct StreamBatch {
  using Clock = std::chrono::steady_clock;
  struct TypeCount {
    std::uint8_t type;
    std::uint64_t packets, bytes;
  };
  // What the trailer needs to know about the session. `batch_number` numbers the session's
  // batches from 1 (cluster layout: the outbox item's name).
  struct Session {
    std::string_view id, uuid_hex, stream_key, worker_type, instance, live_value;
    core::keys::KeyLayout layout = core::keys::KeyLayout::Reference;
    std::uint64_t batch_number = 0;
  };

  // Where a session's packets go.
  struct Target {
    std::string_view stream_key, uuid_hex;
    StreamIds& ids;
    std::uint64_t coalesce_max_bytes = 0;  // 0: one entry per packet
  };

  std::string resp;
  std::uint32_t commands = 0;       // MULTI and EXEC included (and WAIT)
  bool waits_for_replicas = false;  // sealed with a WAIT after EXEC
  bool outbox = false;              // sealed in the cluster layout (an outbox item, no counts)
  std::uint64_t packets = 0, bytes = 0;
  std::uint64_t entries = 0;     // XADDs written to resp (the open entry is not one yet)
  std::vector<TypeCount> types;  // runs of one type, in order
  std::vector<std::pair<Clock::time_point, std::uint32_t>> reads;  // read time, packets

  // Stores one accepted packet: appended to the open coalesced entry when it fits there, else in
  // an entry of its own (the MULTI first); `now_ms` names a new entry.
  void add(const Target& t, const protocol::Packet& p, std::uint64_t now_ms, Clock::time_point read_time);
  // Closes the transaction, then WAIT when replicas are asked for. Reference layout: the open
  // entry's XADD, SADD session_uuid:<type>, HSET of the instance's sessions, XLEN, the two backlog
  // HINCRBYs, EXEC. Cluster layout, where those sets live in another slot than the stream: the open
  // entry's XADD, the outbox item (HSET d4:outbox:{<session>} <batch number> <item>, EXPIRE), XLEN,
  // EXEC; the session relays the item to the live slot once the batch is stored (kRelayScript).
  void seal(const Session& s, const ReplicaWait& wait = {});
  void clear();
  // Request bytes so far, the open entry's payload included.
  std::size_t request_bytes() const { return resp.size() + open_.payload.size(); }
  // Stream entries this batch adds, the open one included.
  std::uint64_t entry_count() const { return entries + (open_.active ? 1 : 0); }

 private:
  // The entry that following packets may still join: written to resp when it is closed.
  struct OpenEntry {
    bool active = false;
    std::uint8_t type = 0, version = 0;
    std::uint64_t timestamp = 0;
    std::string id, payload;
  };
  void write_xadd(std::string_view stream_key, std::string_view id, std::string_view uuid_hex,
                  std::string_view payload, std::uint64_t timestamp, std::uint8_t version);
  void close_open_entry(std::string_view stream_key, std::string_view uuid_hex);
  void seal_reference_trailer(const Session& s);
  void count_packet(const protocol::Packet& p, Clock::time_point read_time);
  OpenEntry open_;
};

// EXEC's verdict on a sealed batch of `entries` XADDs and `commands` commands.
struct BatchOutcome {
  bool stored = false;
  std::uint64_t duplicates = 0;  // XADDs (entries) an earlier execution had stored
  std::string failure;           // Redis's refusal when not stored
  // From the trailer when stored: XLEN and the backlog byte counts (HINCRBY replies; null in the
  // cluster layout, where the relay returns them).
  const core::RedisReply* xlen = nullptr;
  const core::RedisReply* session_bytes = nullptr;
  const core::RedisReply* sensor_bytes = nullptr;
  // WAIT's answer when the batch asked for replicas: how many acknowledged it in time.
  std::optional<long long> replicas;
};
BatchOutcome batch_outcome(const core::RedisReplies& replies, std::uint32_t commands, std::uint64_t entries,
                           bool waits_for_replicas = false, bool outbox = false);

// Cluster layout: an outbox item, "<bytes> <uuid> <worker type>" (the batch's payload bytes, the
// sensor, the session_uuid:<type> set that announces the session).
struct OutboxItem {
  std::uint64_t bytes = 0;
  std::string uuid, worker_type;
};
std::string outbox_item(std::uint64_t bytes, std::string_view uuid, std::string_view worker_type);
std::optional<OutboxItem> parse_outbox_item(std::string_view text);
// How long an outbox keeps its items when nobody relays them (a session of an instance that
// died and was never reaped): long past any reaper.
inline constexpr int kOutboxTtlSeconds = 7 * 24 * 3600;

}  // namespace d4::server
