#include "server/stream_batch.hpp"

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

void StreamBatch::add(std::string_view stream_key, const std::string& id, std::string_view uuid_hex,
                      const protocol::Packet& p, Clock::time_point read_time) {
  if (commands == 0) {
    core::RespWriter(resp).command({"MULTI"});
    commands = 1;
  }
  std::string_view payload(reinterpret_cast<const char*>(p.payload.data()), p.payload.size());
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
      .arg(p.header.timestamp)
      .arg("version")
      .arg(std::uint64_t{p.header.version});
  ++commands;
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

void StreamBatch::seal(const Session& s) {
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
  packets = bytes = 0;
  types.clear();
  reads.clear();
}

namespace {

bool is_duplicate_id_error(const core::RedisReply& r) {
  return r.is_error() && r.str.find("equal or smaller than the target stream top item") != std::string::npos;
}

}  // namespace

BatchOutcome batch_outcome(const core::RedisReplies& replies, std::uint32_t commands, std::uint64_t packets) {
  // Replies: +OK (MULTI), +QUEUED per command, then EXEC's array (or an error/nil on abort).
  BatchOutcome o;
  const core::RedisReply& exec = replies.back();
  o.stored = exec.type == core::RedisReply::Type::Array && exec.elements.size() == commands - 2;
  if (!o.stored) {
    o.failure = exec.describe();
    for (const auto& r : replies)
      if (r.is_error()) {
        o.failure = r.str;
        break;
      }
    return o;
  }
  for (std::uint64_t i = 0; i < packets; ++i) {
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
  // EXEC's trailer: SADD, HSET, XLEN, HINCRBY session bytes, HINCRBY sensor bytes.
  const auto trailer = exec.elements.size();
  o.xlen = &exec.elements[trailer - 3];
  o.session_bytes = &exec.elements[trailer - 2];
  o.sensor_bytes = &exec.elements[trailer - 1];
  return o;
}

}  // namespace d4::server
