#include "server/metrics.hpp"

#include <fmt/format.h>

namespace d4::server {

std::string_view reject_name(Reject r) {
  switch (r) {
    case Reject::tls_handshake:
      return "tls_handshake";
    case Reject::handshake_timeout:
      return "handshake_timeout";
    case Reject::blocked_ip:
      return "blocked_ip";
    case Reject::connection_limit:
      return "connection_limit";
    case Reject::connection_limit_ip:
      return "connection_limit_ip";
    case Reject::bad_version:
      return "bad_version";
    case Reject::invalid_uuid:
      return "invalid_uuid";
    case Reject::type_not_accepted:
      return "type_not_accepted";
    case Reject::oversize:
      return "oversize";
    case Reject::hmac_mismatch:
      return "hmac_mismatch";
    case Reject::blocked_uuid:
      return "blocked_uuid";
    case Reject::blocked_ip_by_uuid:
      return "blocked_ip_by_uuid";
    case Reject::unregistered:
      return "unregistered";
    case Reject::temp_blocked:
      return "temp_blocked";
    case Reject::first_type_254:
      return "first_type_254";
    case Reject::clock_skew:
      return "clock_skew";
    case Reject::unidentified_timeout:
      return "unidentified_timeout";
    case Reject::header_timeout:
      return "header_timeout";
    case Reject::packet_timeout:
      return "packet_timeout";
    case Reject::unauthenticated_budget:
      return "unauthenticated_budget";
    case Reject::unauthenticated_budget_ip:
      return "unauthenticated_budget_ip";
    case Reject::proxy_header_invalid:
      return "proxy_header_invalid";
    case Reject::proxy_header_timeout:
      return "proxy_header_timeout";
    case Reject::proxy_header_unexpected:
      return "proxy_header_unexpected";
    case Reject::duplicate:
      return "duplicate";
    case Reject::too_many_sessions:
      return "too_many_sessions";
    case Reject::type_change:
      return "type_change";
    case Reject::uuid_change:
      return "uuid_change";
    case Reject::meta_header_invalid:
      return "meta_header_invalid";
    case Reject::meta_header_too_large:
      return "meta_header_too_large";
    case Reject::extended_type_not_accepted:
      return "extended_type_not_accepted";
    case Reject::idle_timeout:
      return "idle_timeout";
    case Reject::truncated:
      return "truncated";
    case Reject::kicked:
      return "kicked";
    case Reject::incorrect_type:
      return "incorrect_type";
    case Reject::redis_unavailable:
      return "redis_unavailable";
    case Reject::transport_error:
      return "transport_error";
    case Reject::session_lost:
      return "session_lost";
    case Reject::kCount:
      break;
  }
  return "unknown";
}

std::string reference_error_text(Reject r, std::string_view detail) {
  switch (r) {
    case Reject::hmac_mismatch:
      return "Error: HMAC don't match";
    case Reject::temp_blocked:
      return "Error: This UUID is temporarily blacklisted";
    case Reject::first_type_254:
      return "Error: a type 2 packet must be sent, type=254";
    default:
      break;
  }
  // The reference words for duplicate/type change/uuid change are reproduced in `detail`.
  if (r == Reject::duplicate || r == Reject::type_change || r == Reject::uuid_change)
    return std::string(detail);
  std::string s = "Error: ";
  s += reject_name(r);
  if (!detail.empty()) {
    s += ": ";
    s += detail;
  }
  return s;
}

namespace {

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void histogram(std::string& out, std::string_view name, std::string_view labels,
               const core::LatencyHistogram::Snapshot& s) {
  std::uint64_t cum = 0;
  std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i < core::LatencyHistogram::kBuckets; ++i) {
    cum += s.counts[i];
    std::string le = i < std::size(core::LatencyHistogram::kBounds)
                         ? fmt::format("{}", core::LatencyHistogram::kBounds[i])
                         : "+Inf";
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cum);
  }
  std::string l = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", name, l, s.sum_seconds, name, l,
                 s.count);
}

}  // namespace

namespace {

// The sum of one counter or gauge over every worker thread.
template <typename Field>
long long workers_total(const std::vector<const WorkerMetrics*>& workers, Field field) {
  long long v = 0;
  for (const auto* w : workers) v += static_cast<long long>((w->*field).load(std::memory_order_relaxed));
  return v;
}

// The instance, its uptime and its sensor policy.
void render_server_state(std::string& out, const ServerGauges& server) {
  header(out, "d4_server_info", "gauge", "Server instance (value is always 1)");
  fmt::format_to(std::back_inserter(out), "d4_server_info{{instance=\"{}\"}} 1\n", server.instance);
  header(out, "d4_server_up", "gauge", "1 when listening with a loaded policy");
  fmt::format_to(std::back_inserter(out), "d4_server_up {}\n",
                 server.listening && server.policy_loaded ? 1 : 0);
  header(out, "d4_server_uptime_seconds", "gauge", "Seconds since start");
  fmt::format_to(std::back_inserter(out), "d4_server_uptime_seconds {}\n", server.uptime_seconds);
  header(out, "d4_server_policy_age_seconds", "gauge",
         "Seconds since the sensor policy was last loaded from Redis");
  fmt::format_to(std::back_inserter(out), "d4_server_policy_age_seconds {:.3f}\n", server.policy_age_seconds);
  // Counts loads, so that a change made in Redis can be known to be applied: two loads after it.
  header(out, "d4_server_policy_loads_total", "counter", "Successful loads of the sensor policy from Redis");
  fmt::format_to(std::back_inserter(out), "d4_server_policy_loads_total {}\n", server.policy_version);
  // The cluster layout re-reads the policy sets only when server:policy_version moved.
  header(out, "d4_server_policy_set_reads_total", "counter",
         "Reads of the policy sets (accepted types, blocklists, keys) from the metadata Redis");
  fmt::format_to(std::back_inserter(out), "d4_server_policy_set_reads_total {}\n", server.policy_set_reads);
}

// Connections, sessions and the bytes held for peers not authenticated yet.
void render_connections(std::string& out, const std::vector<const WorkerMetrics*>& workers,
                        const ServerGauges& server) {
  header(out, "d4_server_connections_total", "counter", "Accepted TCP connections");
  fmt::format_to(std::back_inserter(out), "d4_server_connections_total {}\n",
                 workers_total(workers, &WorkerMetrics::connections_total));
  header(out, "d4_server_connections", "gauge", "Open sensor connections");
  fmt::format_to(std::back_inserter(out), "d4_server_connections {}\n",
                 workers_total(workers, &WorkerMetrics::connections_open));
  header(out, "d4_server_sessions_identified", "gauge", "Open connections whose sensor authenticated");
  fmt::format_to(std::back_inserter(out), "d4_server_sessions_identified {}\n",
                 workers_total(workers, &WorkerMetrics::sessions_identified));
  header(out, "d4_server_unauthenticated_bytes", "gauge",
         "Bytes held for connections whose sensor has not authenticated yet");
  fmt::format_to(std::back_inserter(out), "d4_server_unauthenticated_bytes {}\n",
                 server.unauthenticated_bytes);
  header(out, "d4_server_unauthenticated_peers", "gauge",
         "Peer addresses (IPv6: /64) holding unauthenticated bytes");
  fmt::format_to(std::back_inserter(out), "d4_server_unauthenticated_peers {}\n",
                 server.unauthenticated_peers);
  header(out, "d4_server_memory_trims_total", "counter",
         "Times freed memory was returned to the system after many connections closed");
  fmt::format_to(std::back_inserter(out), "d4_server_memory_trims_total {}\n", server.memory_trims);
  header(out, "d4_server_read_bytes_total", "counter",
         "Stream bytes read from sensors (headers and payloads, after TLS)");
  fmt::format_to(std::back_inserter(out), "d4_server_read_bytes_total {}\n",
                 workers_total(workers, &WorkerMetrics::bytes_read));
}

// What was stored, by D4 type, and what was refused, by reason.
void render_packets_and_rejects(std::string& out, const std::vector<const WorkerMetrics*>& workers) {
  header(out, "d4_server_packets_total", "counter", "Packets stored in Redis (XADD confirmed), by type");
  for (int t = 0; t < 256; ++t) {
    std::uint64_t v = 0;
    for (const auto* w : workers)
      v += w->packets[static_cast<std::size_t>(t)].load(std::memory_order_relaxed);
    if (v) fmt::format_to(std::back_inserter(out), "d4_server_packets_total{{type=\"{}\"}} {}\n", t, v);
  }
  header(out, "d4_server_payload_bytes_total", "counter", "Payload bytes stored in Redis, by type");
  for (int t = 0; t < 256; ++t) {
    std::uint64_t v = 0;
    for (const auto* w : workers) v += w->bytes[static_cast<std::size_t>(t)].load(std::memory_order_relaxed);
    if (v) fmt::format_to(std::back_inserter(out), "d4_server_payload_bytes_total{{type=\"{}\"}} {}\n", t, v);
  }
  header(out, "d4_server_rejects_total", "counter", "Refused or abnormally closed connections, by reason");
  for (std::size_t r = 0; r < kRejectCount; ++r) {
    std::uint64_t v = 0;
    for (const auto* w : workers) v += w->rejects[r].load(std::memory_order_relaxed);
    fmt::format_to(std::back_inserter(out), "d4_server_rejects_total{{reason=\"{}\"}} {}\n",
                   reject_name(static_cast<Reject>(r)), v);
  }
}

// How connections ended, PROXY protocol traffic and the statistics flushes to the meta Redis.
void render_ends_and_flushes(std::string& out, const std::vector<const WorkerMetrics*>& workers) {
  header(out, "d4_server_disconnects_total", "counter",
         "Connections the peer ended between packets (nothing lost), by how");
  fmt::format_to(
      std::back_inserter(out),
      "d4_server_disconnects_total{{how=\"close\"}} {}\nd4_server_disconnects_total{{how=\"reset\"}} {}\n",
      workers_total(workers, &WorkerMetrics::disconnects_clean),
      workers_total(workers, &WorkerMetrics::disconnects_reset));
  header(out, "d4_server_proxied_connections_total", "counter",
         "Connections whose PROXY protocol header named the sensor's address");
  fmt::format_to(std::back_inserter(out), "d4_server_proxied_connections_total {}\n",
                 workers_total(workers, &WorkerMetrics::proxied_connections));
  header(out, "d4_server_proxy_health_checks_total", "counter",
         "Load balancer health checks (PROXY LOCAL, or closed before sending a byte), closed quietly");
  fmt::format_to(std::back_inserter(out), "d4_server_proxy_health_checks_total {}\n",
                 workers_total(workers, &WorkerMetrics::proxy_health_checks));
  header(out, "d4_server_reject_details_dropped_total", "counter",
         "Rejects before authentication counted globally only (too many source networks in one flush)");
  fmt::format_to(std::back_inserter(out), "d4_server_reject_details_dropped_total {}\n",
                 workers_total(workers, &WorkerMetrics::reject_details_dropped));
  // Completed before started: read in this order, equal values prove that no flush was in flight.
  header(out, "d4_server_meta_flushes_completed_total", "counter",
         "Statistics/metadata flushes to the meta Redis whose every call was answered");
  fmt::format_to(std::back_inserter(out), "d4_server_meta_flushes_completed_total {}\n",
                 workers_total(workers, &WorkerMetrics::flushes_completed));
  header(out, "d4_server_meta_flushes_total", "counter",
         "Statistics/metadata flushes to the meta Redis started");
  fmt::format_to(std::back_inserter(out), "d4_server_meta_flushes_total {}\n",
                 workers_total(workers, &WorkerMetrics::flushes));
  header(out, "d4_server_meta_flush_errors_total", "counter",
         "Calls of statistics/metadata flushes the meta Redis refused or that were lost (logged)");
  fmt::format_to(std::back_inserter(out), "d4_server_meta_flush_errors_total {}\n",
                 workers_total(workers, &WorkerMetrics::flush_errors));
  header(out, "d4_server_auto_blocks_refused_total", "counter",
         "Addresses not added to blacklist_ip by blacklist_ip_by_uuid (auto_blocked_ips_max reached)");
  fmt::format_to(std::back_inserter(out), "d4_server_auto_blocks_refused_total {}\n",
                 workers_total(workers, &WorkerMetrics::auto_blocks_refused));
}

// Back-pressure: paused sessions and the admission limits that paused them.
void render_backpressure(std::string& out, const std::vector<const WorkerMetrics*>& workers) {
  header(out, "d4_server_paused_sessions", "gauge", "Sessions not being read (back-pressure), by cause");
  fmt::format_to(
      std::back_inserter(out),
      "d4_server_paused_sessions{{cause=\"backlog\"}} {}\nd4_server_paused_sessions{{cause=\"redis\"}} {}\n"
      "d4_server_paused_sessions{{cause=\"pending\"}} {}\nd4_server_paused_sessions{{cause=\"rate\"}} {}\n"
      "d4_server_paused_sessions{{cause=\"session_bytes\"}} {}\n"
      "d4_server_paused_sessions{{cause=\"sensor_bytes\"}} {}\nd4_server_paused_sessions{{cause=\"memory\"}} "
      "{}\n",
      workers_total(workers, &WorkerMetrics::paused_backlog),
      workers_total(workers, &WorkerMetrics::paused_redis),
      workers_total(workers, &WorkerMetrics::paused_pending),
      workers_total(workers, &WorkerMetrics::paused_rate),
      workers_total(workers, &WorkerMetrics::paused_session_bytes),
      workers_total(workers, &WorkerMetrics::paused_sensor_bytes),
      workers_total(workers, &WorkerMetrics::paused_memory));
  header(out, "d4_server_backpressure_total", "counter",
         "Times a session stopped reading because its sensor reached an admission limit, by cause");
  for (std::size_t c = 0; c < kBackpressureCount; ++c) {
    std::uint64_t v = 0;
    for (const auto* w : workers) v += w->backpressure[c].load(std::memory_order_relaxed);
    fmt::format_to(std::back_inserter(out), "d4_server_backpressure_total{{cause=\"{}\"}} {}\n",
                   backpressure_name(static_cast<Backpressure>(c)), v);
  }
}

// The stream Redis: its memory budget and what was written to it (or could not be).
void render_storage(std::string& out, const std::vector<const WorkerMetrics*>& workers,
                    const ServerGauges& server) {
  header(out, "d4_server_stream_memory_used_bytes", "gauge", "used_memory of the stream Redis (last poll)");
  fmt::format_to(std::back_inserter(out), "d4_server_stream_memory_used_bytes {}\n", server.memory.used);
  header(out, "d4_server_stream_memory_budget_bytes", "gauge",
         "Memory the stream Redis may use for sensor data before every session waits (0: none)");
  fmt::format_to(std::back_inserter(out), "d4_server_stream_memory_budget_bytes {}\n", server.memory.budget);
  header(out, "d4_server_stream_memory_fair_share_bytes", "gauge",
         "Backlog each sensor may hold while the budget is shared (0: not sharing)");
  fmt::format_to(std::back_inserter(out), "d4_server_stream_memory_fair_share_bytes {}\n",
                 server.memory.fair_share());
  header(out, "d4_server_sensors_with_backlog", "gauge",
         "Sensors holding unprocessed data in the stream Redis");
  fmt::format_to(std::back_inserter(out), "d4_server_sensors_with_backlog {}\n", server.memory.sensors);
  header(out, "d4_server_pending_bytes", "gauge", "Payload bytes read but not yet confirmed stored");
  fmt::format_to(std::back_inserter(out), "d4_server_pending_bytes {}\n",
                 workers_total(workers, &WorkerMetrics::pending_bytes));
  header(out, "d4_server_stream_entries_total", "counter",
         "Stream entries stored (one XADD each; several packets per entry when coalescing)");
  fmt::format_to(std::back_inserter(out), "d4_server_stream_entries_total {}\n",
                 workers_total(workers, &WorkerMetrics::stream_entries));
  header(out, "d4_server_duplicate_writes_total", "counter",
         "Packets re-sent after a Redis reconnect that were already stored");
  fmt::format_to(std::back_inserter(out), "d4_server_duplicate_writes_total {}\n",
                 workers_total(workers, &WorkerMetrics::duplicate_writes));
  header(out, "d4_server_write_errors_total", "counter", "Batches refused by Redis (kept and retried)");
  fmt::format_to(std::back_inserter(out), "d4_server_write_errors_total {}\n",
                 workers_total(workers, &WorkerMetrics::write_errors));
  header(
      out, "d4_server_replica_wait_timeouts_total", "counter",
      "WAITs (wait_replicas) answered by fewer replicas than asked: the batch is not counted as stored yet");
  fmt::format_to(std::back_inserter(out), "d4_server_replica_wait_timeouts_total {}\n",
                 workers_total(workers, &WorkerMetrics::replica_wait_timeouts));
  header(out, "d4_server_batches_awaiting_replicas", "gauge",
         "Batches stored on the stream Redis that wait for wait_replicas replicas before counting as stored");
  fmt::format_to(std::back_inserter(out), "d4_server_batches_awaiting_replicas {}\n",
                 workers_total(workers, &WorkerMetrics::batches_awaiting_replicas));
  header(out, "d4_server_lost_packets_total", "counter",
         "Accepted packets that could not be stored before a forced shutdown");
  fmt::format_to(std::back_inserter(out), "d4_server_lost_packets_total {}\n",
                 workers_total(workers, &WorkerMetrics::lost_packets));
  header(out, "d4_server_discarded_packets_total", "counter",
         "Packets dropped on purpose (session flagged Error:IncorrectType)");
  fmt::format_to(std::back_inserter(out), "d4_server_discarded_packets_total {}\n",
                 workers_total(workers, &WorkerMetrics::discarded_packets));
}

// Ingest latency and the Redis connections of every worker.
void render_latency_and_redis(std::string& out, const std::vector<const WorkerMetrics*>& workers,
                              const std::vector<RedisGauge>& redis) {
  core::LatencyHistogram::Snapshot ingest;
  for (const auto* w : workers) ingest.merge(w->ingest_latency.snapshot());
  header(out, "d4_server_ingest_latency_seconds", "histogram",
         "From reading a packet's last byte to Redis confirming its XADD");
  histogram(out, "d4_server_ingest_latency_seconds", "", ingest);

  header(out, "d4_server_redis_connected", "gauge", "1 when the worker's Redis connection is up");
  for (const auto& r : redis)
    fmt::format_to(std::back_inserter(out), "d4_server_redis_connected{{redis=\"{}\",worker=\"{}\"}} {}\n",
                   r.name, r.worker, r.connected ? 1 : 0);
  header(out, "d4_server_redis_pending_requests", "gauge", "Requests queued or awaiting a reply");
  for (const auto& r : redis)
    fmt::format_to(std::back_inserter(out),
                   "d4_server_redis_pending_requests{{redis=\"{}\",worker=\"{}\"}} {}\n", r.name, r.worker,
                   r.pending);
  header(out, "d4_server_redis_latency_seconds", "histogram", "Redis request round trip, by connection");
  core::LatencyHistogram::Snapshot stream_lat, meta_lat;
  for (const auto& r : redis) (r.name == "stream" ? stream_lat : meta_lat).merge(r.latency);
  histogram(out, "d4_server_redis_latency_seconds", "redis=\"stream\"", stream_lat);
  histogram(out, "d4_server_redis_latency_seconds", "redis=\"meta\"", meta_lat);
}

}  // namespace

std::string render_prometheus(const std::vector<const WorkerMetrics*>& workers,
                              const std::vector<RedisGauge>& redis, const ServerGauges& server) {
  std::string out;
  out.reserve(16 * 1024);
  render_server_state(out, server);
  render_connections(out, workers, server);
  render_packets_and_rejects(out, workers);
  render_ends_and_flushes(out, workers);
  render_backpressure(out, workers);
  render_storage(out, workers, server);
  render_latency_and_redis(out, workers, redis);
  return out;
}

}  // namespace d4::server
