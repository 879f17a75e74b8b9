#include "server/stream_batch.hpp"

#include <charconv>

#include "core/keys.hpp"

namespace d4::server {

namespace keys = core::keys;

std::string StreamIds::next(std::uint64_t now_ms) {
  if (now_ms > last_ms_) {
    last_ms_ = now_ms;
    seq_ = 0;
  } else {
    ++seq_;
  }
  return std::to_string(last_ms_) + "-" + std::to_string(seq_);
}

bool coalescable_type(std::uint8_t type) {
  switch (type) {
    case 1:  // pcap
    case 3:  // generic log lines
    case 4:  // dnscap
    case 6:  // NDJSON / JSON lines
    case 8:  // passive DNS CSV
      return true;
    default:
      return false;
  }
}

void StreamBatch::write_xadd(std::string_view stream_key, std::string_view id, std::string_view uuid_hex,
                             std::string_view payload, std::uint64_t timestamp, std::uint8_t version) {
  if (commands == 0) {
    core::RespWriter(resp).command({"MULTI"});
    commands = 1;
  }
  core::RespWriter(resp)
      .begin(11)
      .arg("XADD")
      .arg(stream_key)
      .arg(id)
      .arg("message")
      .arg(payload)
      .arg("uuid")
      .arg(uuid_hex)
      .arg("timestamp")
      .arg(timestamp)
      .arg("version")
      .arg(std::uint64_t{version});
  ++commands;
  ++entries;
}

void StreamBatch::close_open_entry(std::string_view stream_key, std::string_view uuid_hex) {
  if (!open_.active) return;
  write_xadd(stream_key, open_.id, uuid_hex, open_.payload, open_.timestamp, open_.version);
  open_.active = false;
  open_.payload.clear();  // keeps its capacity for the next entry
}

void StreamBatch::add(const Target& t, const protocol::Packet& p, std::uint64_t now_ms,
                      Clock::time_point read_time) {
  std::string_view payload(reinterpret_cast<const char*>(p.payload.data()), p.payload.size());
  const bool coalesce = t.coalesce_max_bytes > 0 && coalescable_type(p.header.type);
  const bool joins = coalesce && open_.active && open_.type == p.header.type &&
                     open_.version == p.header.version &&
                     open_.payload.size() + payload.size() <= t.coalesce_max_bytes;
  if (joins) {
    open_.payload.append(payload);
  } else {
    close_open_entry(t.stream_key, t.uuid_hex);
    if (coalesce && payload.size() < t.coalesce_max_bytes) {
      // The entry's id is taken now: it orders before every later packet's entry.
      open_.active = true;
      open_.type = p.header.type;
      open_.version = p.header.version;
      open_.timestamp = p.header.timestamp;
      open_.id = t.ids.next(now_ms);
      open_.payload.assign(payload);
    } else {
      write_xadd(t.stream_key, t.ids.next(now_ms), t.uuid_hex, payload, p.header.timestamp, p.header.version);
    }
  }
  count_packet(p, read_time);
}

void StreamBatch::count_packet(const protocol::Packet& p, Clock::time_point read_time) {
  ++packets;
  bytes += p.payload.size();
  if (types.empty() || types.back().type != p.header.type) types.push_back({p.header.type, 0, 0});
  ++types.back().packets;
  types.back().bytes += p.payload.size();
  if (!reads.empty() && reads.back().first == read_time)
    ++reads.back().second;
  else
    reads.emplace_back(read_time, 1);
}

void StreamBatch::seal(const Session& s, const ReplicaWait& wait) {
  close_open_entry(s.stream_key, s.uuid_hex);
  if (s.layout == core::keys::KeyLayout::Cluster) {
    // One slot: the stream and the outbox share the session's hash tag.
    const std::string outbox_key = keys::session_outbox(s.id);
    core::RespWriter(resp)
        .command({"HSET", outbox_key, std::to_string(s.batch_number),
                  outbox_item(bytes, s.uuid_hex, s.worker_type)})
        .command({"EXPIRE", outbox_key, std::to_string(kOutboxTtlSeconds)})
        .command({"XLEN", s.stream_key})
        .command({"EXEC"});
    commands += 4;
    outbox = true;
  } else {
    seal_reference_trailer(s);
  }
  if (wait.replicas > 0) {
    // After EXEC, not inside it: in a transaction WAIT does not wait.
    core::RespWriter(resp).command(
        {"WAIT", std::to_string(wait.replicas), std::to_string(wait.timeout.count())});
    ++commands;
    waits_for_replicas = true;
  }
}

void StreamBatch::seal_reference_trailer(const Session& s) {
  // Announce the session to its worker in every batch (idempotent): if the stream Redis lost its
  // data, the next stored batch makes the session visible again.
  core::RespWriter(resp)
      .command({"SADD", keys::sessions_of_type(s.worker_type), s.id})
      .command({"HSET", keys::server_instance_sessions(s.instance), s.id, s.live_value})
      .command({"XLEN", s.stream_key});
  // Counted with the packets, atomically: d4-worker subtracts what it trims (admission.hpp).
  std::string n = std::to_string(bytes);
  core::RespWriter(resp)
      .command({"HINCRBY", keys::kBacklogBytesBySession, s.id, n})
      .command({"HINCRBY", keys::kBacklogBytesBySensor, s.uuid_hex, n})
      .command({"EXEC"});
  commands += 6;
}

void StreamBatch::clear() {
  resp.clear();
  commands = 0;
  waits_for_replicas = false;
  outbox = false;
  packets = bytes = entries = 0;
  open_.active = false;
  open_.payload.clear();
  types.clear();
  reads.clear();
}

namespace {

bool is_duplicate_id_error(const core::RedisReply& r) {
  return r.is_error() && r.str.find("equal or smaller than the target stream top item") != std::string::npos;
}

}  // namespace

BatchOutcome batch_outcome(const core::RedisReplies& replies, std::uint32_t commands, std::uint64_t entries,
                           bool waits_for_replicas, bool outbox) {
  // Replies: +OK (MULTI), +QUEUED per command, then EXEC's array (or an error/nil on abort), then
  // WAIT's count of replicas when asked.
  BatchOutcome o;
  const std::uint32_t after_exec = waits_for_replicas ? 1 : 0;
  const core::RedisReply& exec = replies[replies.size() - 1 - after_exec];
  o.stored = exec.type == core::RedisReply::Type::Array && exec.elements.size() == commands - 2 - after_exec;
  if (o.stored && waits_for_replicas) {
    o.replicas = replies.back().as_integer();
    if (!o.replicas) {
      o.stored = false;
      o.failure = "WAIT: " + replies.back().describe();
      return o;
    }
  }
  if (!o.stored) {
    o.failure = exec.describe();
    for (const auto& r : replies)
      if (r.is_error()) {
        o.failure = r.str;
        break;
      }
    return o;
  }
  for (std::uint64_t i = 0; i < entries; ++i) {
    const auto& r = exec.elements[i];
    if (r.type == core::RedisReply::Type::String) continue;
    if (is_duplicate_id_error(r)) {
      ++o.duplicates;
      continue;
    }
    o.stored = false;
    o.failure = r.describe();
    return o;
  }
  const auto trailer = exec.elements.size();
  if (outbox) {
    // EXEC's trailer: HSET outbox, EXPIRE outbox, XLEN.
    o.xlen = &exec.elements[trailer - 1];
    return o;
  }
  // EXEC's trailer: SADD, HSET, XLEN, HINCRBY session bytes, HINCRBY sensor bytes.
  o.xlen = &exec.elements[trailer - 3];
  o.session_bytes = &exec.elements[trailer - 2];
  o.sensor_bytes = &exec.elements[trailer - 1];
  return o;
}

std::string outbox_item(std::uint64_t bytes, std::string_view uuid, std::string_view worker_type) {
  return std::to_string(bytes) + " " + std::string(uuid) + " " + std::string(worker_type);
}

std::optional<OutboxItem> parse_outbox_item(std::string_view text) {
  OutboxItem item;
  auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto [p, ec] = std::from_chars(text.data(), text.data() + space, item.bytes);
  if (ec != std::errc() || p != text.data() + space) return std::nullopt;
  text.remove_prefix(space + 1);
  space = text.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 == text.size()) return std::nullopt;
  item.uuid = std::string(text.substr(0, space));
  item.worker_type = std::string(text.substr(space + 1));
  if (item.worker_type.find(' ') != std::string::npos) return std::nullopt;
  return item;
}

}  // namespace d4::server
