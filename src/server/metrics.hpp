#pragma once
// Reject reasons and the server's counters. Counters are written by their worker thread and read
// by the metrics endpoint's thread (relaxed atomics: each value is independent).
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/redis_async.hpp"
#include "server/admission.hpp"

namespace d4::server {

// Why a connection was refused or closed abnormally. The names are the `reason` written to Redis
// (sensor:rejects:<uuid>, ip:rejects:<ip>, server:rejects) and the Prometheus label.
enum class Reject : std::uint8_t {
  // before or without authentication
  tls_handshake,              // TLS handshake failed (scanner, wrong protocol, client certificate refused)
  handshake_timeout,          // TLS handshake not completed in time
  blocked_ip,                 // peer address in blacklist_ip (address or CIDR)
  connection_limit,           // max_connections reached
  connection_limit_ip,        // max_connections_per_ip reached
  bad_version,                // version byte refused (only with accept_any_version = false)
  invalid_uuid,               // UUID not RFC 4122 version 4
  type_not_accepted,          // type not in server:accepted_type
  oversize,                   // payload size above max_payload
  hmac_mismatch,              // HMAC does not verify with the sensor's (or the default) key
  blocked_uuid,               // UUID in blacklist_uuid
  blocked_ip_by_uuid,         // UUID in blacklist_ip_by_uuid: the peer IP is now blocked too
  unregistered,               // registration mode and UUID not in registered_uuid
  temp_blocked,               // UUID kicked recently (temp_blacklist_uuid:<uuid>)
  first_type_254,             // a connection must start with type 2 before 254
  clock_skew,                 // header timestamp too far from the server clock (max_clock_skew)
  unidentified_timeout,       // no authenticated packet within unidentified_timeout
  header_timeout,             // a started header not completed within header_timeout (slowloris)
  packet_timeout,             // a started payload not completed within packet_timeout
  unauthenticated_budget,     // unauthenticated_bytes_max reached (all unauthenticated connections)
  unauthenticated_budget_ip,  // unauthenticated_bytes_per_ip reached by this peer
  proxy_header_invalid,       // from a proxy_protocol_from source: no valid PROXY v2 header
  proxy_header_timeout,       // from a proxy_protocol_from source: no PROXY header within handshake_timeout
  proxy_header_unexpected,    // a PROXY header from a source not in proxy_protocol_from (TLS fails)
  // authenticated connections
  duplicate,                   // (uuid, type) already connected (types other than 2/254)
  too_many_sessions,           // the sensor has max_meta_sessions_per_sensor type 2/254 sessions
  type_change,                 // illegal type change (only 2 -> 254 is allowed)
  uuid_change,                 // another UUID on the same connection
  meta_header_invalid,         // 2 -> 254 switch without a complete, valid meta header
  meta_header_too_large,       // more than 100,000 type-2 bytes in a session (every byte counts)
  extended_type_not_accepted,  // meta header type not in server:accepted_extended_type
  idle_timeout,                // identified connection without data for idle_timeout
  truncated,                   // connection ended in the middle of a packet
  kicked,                      // operator kick (sensor or type)
  incorrect_type,              // a worker flagged the session's data (Error:IncorrectType)
  redis_unavailable,           // Redis down for longer than redis_outage_close_after, or at setup
  transport_error,             // socket/TLS error while reading
  session_lost,                // this server's Redis state was cleaned by another instance
  kCount
};

inline constexpr std::size_t kRejectCount = static_cast<std::size_t>(Reject::kCount);
std::string_view reject_name(Reject r);
// The text the reference server writes into metadata_uuid:<uuid> field Error for this reason
// (so the reference web UI shows it), or our own "Error: <reason>..." wording.
std::string reference_error_text(Reject r, std::string_view detail);

struct WorkerMetrics {
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::int64_t> sessions_identified{0};
  std::atomic<std::uint64_t> bytes_read{0};               // raw stream bytes read from sensors (after TLS)
  std::array<std::atomic<std::uint64_t>, 256> packets{};  // stored (XADD confirmed), by type
  std::array<std::atomic<std::uint64_t>, 256> bytes{};    // stored payload bytes, by type
  std::atomic<std::uint64_t> stream_entries{0};  // stored stream entries (XADDs; packets when not coalescing)
  std::array<std::atomic<std::uint64_t>, kRejectCount> rejects{};
  std::atomic<std::int64_t> paused_backlog{0}, paused_redis{0}, paused_pending{0}, paused_rate{0};
  std::atomic<std::int64_t> paused_session_bytes{0}, paused_sensor_bytes{0}, paused_memory{0};
  std::array<std::atomic<std::uint64_t>, kBackpressureCount> backpressure{};  // pauses started, by cause
  std::atomic<std::int64_t> pending_bytes{0};       // read but not yet confirmed by Redis
  std::atomic<std::uint64_t> duplicate_writes{0};   // XADD re-sent after a reconnect, already stored
  std::atomic<std::uint64_t> write_errors{0};       // batches Redis refused (retried)
  std::atomic<std::uint64_t> lost_packets{0};       // accepted but never stored (forced shutdown)
  std::atomic<std::uint64_t> discarded_packets{0};  // dropped on purpose (session flagged incorrect)
  // Statistics/metadata flushes to the meta Redis: started, and completed (every call of the flush
  // answered); started - completed is the flush in flight. Errors: calls refused or lost.
  std::atomic<std::uint64_t> flushes{0};
  std::atomic<std::uint64_t> flushes_completed{0};
  std::atomic<std::uint64_t> flush_errors{0};
  // Rejects of unauthenticated peers whose details (per source network) were not kept because the
  // flush interval already held MetaBatch::Limits::max_sources networks (still counted globally).
  std::atomic<std::uint64_t> reject_details_dropped{0};
  // Addresses not added to blacklist_ip (blacklist_ip_by_uuid) because it held auto_blocked_ips_max.
  std::atomic<std::uint64_t> auto_blocks_refused{0};
  // Connections the peer ended between packets (nothing lost): not rejects, not sensor faults.
  std::atomic<std::uint64_t> disconnects_clean{0};  // close_notify or FIN
  std::atomic<std::uint64_t> disconnects_reset{0};  // TCP reset
  // PROXY protocol (proxy_protocol_from): connections whose header named the sensor's address, and
  // balancer health checks (a LOCAL header, or a connection closed before its first byte).
  std::atomic<std::uint64_t> proxied_connections{0};
  std::atomic<std::uint64_t> proxy_health_checks{0};
  // wait_replicas: WAITs answered with fewer replicas than asked (the batch is not counted as
  // stored yet and is waited for again), and batches waiting for replicas now.
  std::atomic<std::uint64_t> replica_wait_timeouts{0};
  std::atomic<std::int64_t> batches_awaiting_replicas{0};
  core::LatencyHistogram ingest_latency;  // from the read that completed a packet to its XADD confirmation
};

struct RedisGauge {
  std::string name;  // "stream" / "meta"
  unsigned worker = 0;
  bool connected = false;
  std::size_t pending = 0;
  core::LatencyHistogram::Snapshot latency;
};

struct ServerGauges {
  std::string instance;
  std::uint64_t policy_version = 0;
  std::uint64_t policy_set_reads = 0;
  double policy_age_seconds = 0;
  bool policy_loaded = false;
  bool listening = false;
  std::int64_t uptime_seconds = 0;
  std::size_t unauthenticated_bytes = 0;  // held for connections not yet authenticated
  std::size_t unauthenticated_peers = 0;
  MemoryBudget memory;           // stream Redis memory budget, last poll
  std::size_t memory_trims = 0;  // freed memory returned to the system after connections closed
};

// Prometheus text exposition (version 0.0.4) of all workers' counters.
std::string render_prometheus(const std::vector<const WorkerMetrics*>& workers,
                              const std::vector<RedisGauge>& redis, const ServerGauges& server);

}  // namespace d4::server
