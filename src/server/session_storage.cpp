// Storing a session's accepted packets: one batch (stream_batch.hpp) in flight at a time, kept
// and re-sent until Redis confirms it; the backlog counts that hold the session; the session's
// records in Redis at its end.
#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include "core/keys.hpp"
#include "protocol/clock.hpp"
#include "server/meta_batch.hpp"
#include "server/reject_record.hpp"
#include "server/scripts.hpp"
#include "server/session.hpp"
#include "server/worker.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace d4::server {

namespace keys = core::keys;

namespace {

constexpr std::size_t kMaxBatchBytes = 1 << 20;  // a session submits once its batch reaches this
constexpr std::chrono::milliseconds kBacklogPoll{200};
constexpr std::chrono::seconds kWriteRetryDelay{1};

}  // namespace

void Session::store(const protocol::Packet& p, SteadyClock::time_point read_time) {
  if (worker_type_ == "-") worker_type_ = type_text_;
  batch_.add({stream_key_, uuid_hex_, stream_ids_, worker_.config().coalesce_max_bytes}, p,
             static_cast<std::uint64_t>(clock::unix_millis()), read_time);
  worker_.metrics().pending_bytes.fetch_add(static_cast<std::int64_t>(p.payload.size()),
                                            std::memory_order_relaxed);
  pending_gauge_ += static_cast<std::int64_t>(p.payload.size());
  if (p.header.type == 2 && !switched()) {
    type2_stored_ = true;
    if (meta_header_.state() == protocol::MetaHeaderAssembler::State::Incomplete)
      meta_header_.feed(std::string_view(reinterpret_cast<const char*>(p.payload.data()), p.payload.size()));
  }
  if (batch_.request_bytes() >= kMaxBatchBytes && !batch_in_flight_) submit_batch();
}

std::string Session::live_value() const {
  return uuid_hex_ + " " + type_text_ + " " + worker_type_;
}

void Session::submit_batch() {
  if (batch_in_flight_ || batch_.packets == 0) return;
  const auto& config = worker_.config();
  batch_.seal({session_id_, uuid_hex_, stream_key_, worker_type_, worker_.instance(), live_value(), layout(),
               ++batches_sealed_},
              {config.wait_replicas, config.wait_timeout});
  in_flight_ = std::move(batch_);
  batch_ = StreamBatch{};
  batch_in_flight_ = true;
  std::string resp = std::move(in_flight_.resp);
  in_flight_.resp = std::string();
  pending_in_flight_size_ = resp.size();
  send_batch(std::move(resp));
}

// The batch in flight, kept by the client until confirmed and re-sent in order after a reconnect.
void Session::send_batch(std::string&& request) {
  worker_.stream().submit_returning_request(
      std::move(request), in_flight_.commands, /*retry_on_reconnect=*/true,
      [self = shared_from_this()](error_code ec, core::RedisReplies&& replies, std::string&& sent) {
        self->on_batch_done(ec, std::move(replies), std::move(sent));
      });
}

void Session::on_batch_done(error_code ec, core::RedisReplies&& replies, std::string&& request) {
  auto& m = worker_.metrics();
  if (ec) {
    // Only a stopped client fails a retryable request: the process is exiting.
    stop_awaiting_replicas();
    m.lost_packets.fetch_add(in_flight_.packets, std::memory_order_relaxed);
    core::log_with(log_fields().add(core::log_key::kReason, "lost_packets"), spdlog::level::err,
                   "session {}: {} accepted packets could not be stored: {}", session_id_, in_flight_.packets,
                   ec.message());
    end_batch();
    wake();
    return;
  }
  auto outcome = batch_outcome(replies, in_flight_.commands, in_flight_.entries,
                               in_flight_.waits_for_replicas, in_flight_.outbox);
  if (!outcome.stored) {
    // Redis refused the batch (out of memory, wrong key type...): keep it and try again later,
    // reading nothing more from the sensor meanwhile.
    m.write_errors.fetch_add(1, std::memory_order_relaxed);
    core::log_with(log_fields().add(core::log_key::kReason, "redis_write_error"), spdlog::level::warn,
                   "session {}: Redis refused a batch of {} packets ({}); retrying in {} s", session_id_,
                   in_flight_.packets, printable(outcome.failure), kWriteRetryDelay.count());
    retry_batch(std::move(request));
    return;
  }
  if (outcome.replicas && *outcome.replicas < worker_.config().wait_replicas) {
    hold_for_replicas(std::move(replies), std::move(request), *outcome.replicas);
    return;
  }
  finish_stored_batch(outcome, std::move(request));
}

void Session::finish_stored_batch(const BatchOutcome& outcome, std::string&& request) {
  if (stop_awaiting_replicas())
    core::log_with(log_fields(), spdlog::level::info,
                   "session {}: {} replicas acknowledged the waiting batch of {} packets: stored",
                   session_id_, worker_.config().wait_replicas, in_flight_.packets);
  confirm_batch(outcome);
  end_batch();
  if (batch_.packets > 0) submit_batch();
  reuse_request_buffer(std::move(request));
  wake();
}

// wait_replicas: the batch is on the stream Redis, but fewer replicas than asked acknowledged it
// within wait_timeout_ms. It does not count as stored (nothing is confirmed, the session stops
// reading once its pending bytes are full, as during an outage) and WAIT is asked again on the
// same connection, whose replication offset covers the batch. Should that connection be lost
// meanwhile, a WAIT on the next one would not cover it: the whole batch is sent again instead
// (its entries' explicit ids make the re-sent XADDs no-ops if the data survived, and store it
// again if the Redis that answered lost it in a failover).
void Session::hold_for_replicas(core::RedisReplies&& replies, std::string&& request, long long replicas) {
  auto& m = worker_.metrics();
  m.replica_wait_timeouts.fetch_add(1, std::memory_order_relaxed);
  if (!awaiting_replicas_) {
    awaiting_replicas_ = true;
    m.batches_awaiting_replicas.fetch_add(1, std::memory_order_relaxed);
    core::log_with(
        log_fields().add(core::log_key::kReason, "replica_wait"), spdlog::level::warn,
        "session {}: a batch of {} packets is on the stream Redis but {} of {} replicas acknowledged "
        "it within {} ms: not counted as stored, waiting",
        session_id_, in_flight_.packets, replicas, worker_.config().wait_replicas,
        worker_.config().wait_timeout.count());
  }
  unreplicated_replies_ = std::move(replies);
  unreplicated_request_ = std::move(request);
  ask_replicas();
}

// True if the batch in flight was waiting for replicas.
bool Session::stop_awaiting_replicas() {
  if (!awaiting_replicas_) return false;
  awaiting_replicas_ = false;
  worker_.metrics().batches_awaiting_replicas.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void Session::ask_replicas() {
  if (layout() == keys::KeyLayout::Cluster) {
    // A WAIT alone has no key: a cluster client would send it to any master, which measures its
    // own replicas; and after a failover the batch's slot may be on another node than the one that
    // ran it. So the whole batch goes again with its WAIT, to the slot's current owner: its XADDs
    // are no-ops where the data already is and store it where a failover lost it, its outbox item
    // is the same, and the WAIT then covers it on that connection.
    unreplicated_replies_.clear();
    resent_for_replicas_ = true;
    send_batch(std::move(unreplicated_request_));
    return;
  }
  const auto& config = worker_.config();
  std::string req;
  core::RespWriter(req).command(
      {"WAIT", std::to_string(config.wait_replicas), std::to_string(config.wait_timeout.count())});
  worker_.stream().submit(std::move(req), 1, /*retry_on_reconnect=*/false,
                          [self = shared_from_this()](error_code ec, core::RedisReplies&& rs) {
                            self->on_replicas_answer(ec, rs);
                          });
}

void Session::on_replicas_answer(error_code ec, const core::RedisReplies& replies) {
  std::optional<long long> replicas;
  if (!ec && replies.size() == 1) replicas = replies[0].as_integer();
  if (!replicas) {
    // Connection lost (or the process is stopping: the batch is then counted as lost): the whole
    // batch again, queued until the client is connected.
    unreplicated_replies_.clear();
    send_batch(std::move(unreplicated_request_));
    return;
  }
  if (*replicas < worker_.config().wait_replicas) {
    worker_.metrics().replica_wait_timeouts.fetch_add(1, std::memory_order_relaxed);
    ask_replicas();
    return;
  }
  auto outcome = batch_outcome(unreplicated_replies_, in_flight_.commands, in_flight_.entries,
                               in_flight_.waits_for_replicas, in_flight_.outbox);
  outcome.replicas = replicas;
  finish_stored_batch(outcome, std::move(unreplicated_request_));
  unreplicated_replies_.clear();
}

// The confirmed request's buffer becomes the next batch's (the batch built meanwhile has just
// been submitted, so the next one starts empty): while a sensor sends, its session alternates two
// buffers instead of growing a new one from nothing per batch, which, past the allocator's mmap
// threshold, cost a fresh mapping, its page faults and the copies of every doubling, and an
// munmap. Only while the sensor is sending: an idle session must not keep a batch-sized buffer.
void Session::reuse_request_buffer(std::string&& request) {
  if (batch_.resp.empty() && request.capacity() > batch_.resp.capacity() &&
      SteadyClock::now() - last_activity_ < std::chrono::milliseconds(100)) {
    request.clear();
    batch_.resp.swap(request);
  }
}

void Session::retry_batch(std::string&& request) {
  if (!retry_timer_) retry_timer_ = std::make_unique<asio::steady_timer>(worker_.ioc());
  retry_timer_->expires_after(kWriteRetryDelay);
  retry_timer_->async_wait([self = shared_from_this(), req = std::move(request)](error_code) mutable {
    self->send_batch(std::move(req));
  });
}

// The batch in flight is stored: count it everywhere (metrics, the sensor's statistics, the
// memory budget) and learn the backlog the trailer reported.
void Session::confirm_batch(const BatchOutcome& outcome) {
  auto& m = worker_.metrics();
  const std::uint64_t packets = in_flight_.packets;
  if (auto v = outcome.xlen->as_integer()) xlen_ = *v;
  if (outcome.session_bytes && outcome.sensor_bytes)
    learn_backlog_bytes(*outcome.session_bytes, *outcome.sensor_bytes);
  if (outcome.duplicates) {
    // Counted in packets and bytes; an entry may hold several packets (EXEC is atomic: a re-sent
    // batch is stored whole or not at all, so the share is exact).
    const std::uint64_t entries = std::max<std::uint64_t>(1, in_flight_.entries);
    if (!resent_for_replicas_)
      m.duplicate_writes.fetch_add(packets * outcome.duplicates / entries, std::memory_order_relaxed);
    // The cluster layout's relay counts each batch once, whatever executed it twice.
    if (!in_flight_.outbox) uncount_duplicates(in_flight_.bytes * outcome.duplicates / entries);
  }
  if (in_flight_.outbox) relay_batch(batches_sealed_, in_flight_.bytes);
  m.stream_entries.fetch_add(in_flight_.entries - outcome.duplicates, std::memory_order_relaxed);
  auto now = SteadyClock::now();
  for (const auto& [t, n] : in_flight_.reads) m.ingest_latency.observe(now - t, n);
  // Confirmed after this session was refused: read before the reject, so they must not clear the
  // Error the reject recorded (it may already be in Redis, and this flush would delete it).
  const bool clears_error = state_.ending() != SessionState::Ending::Refused;
  for (const auto& tc : in_flight_.types) {
    m.packets[tc.type].fetch_add(tc.packets, std::memory_order_relaxed);
    m.bytes[tc.type].fetch_add(tc.bytes, std::memory_order_relaxed);
    worker_.meta_batch().count_stored(uuid_hex_, peer_.ip, tc.type, tc.packets, tc.bytes, clears_error);
  }
  worker_.memory_gate().add_stored(in_flight_.bytes);
  const bool first = packets_stored_ == 0;
  packets_stored_ += packets;
  bytes_stored_ += in_flight_.bytes;
  if (first) {
    // Reference: last 16 connections of the sensor, newest first, "<ip>-<YYYYmmddHHMMSS>".
    worker_.meta_batch().push_capped(keys::sensor_last_ips(uuid_hex_),
                                     peer_.ip + "-" + local_compact_time(clock::unix_seconds()), 16);
  }
}

// The batch in flight is done with (stored, or lost at exit): no longer pending.
void Session::end_batch() {
  worker_.metrics().pending_bytes.fetch_sub(static_cast<std::int64_t>(in_flight_.bytes),
                                            std::memory_order_relaxed);
  pending_gauge_ -= static_cast<std::int64_t>(in_flight_.bytes);
  batch_in_flight_ = false;
  resent_for_replicas_ = false;
  pending_in_flight_size_ = 0;
  in_flight_.clear();
}

long long Session::backlog_estimate() const {
  // xlen_ is the stream length confirmed with the last batch (it includes that batch); the limit
  // counts stream entries, as the reference's XLEN check (one per packet unless coalescing).
  return xlen_ + static_cast<long long>((batch_in_flight_ ? in_flight_.entries : 0) + batch_.entry_count());
}

SessionBacklog Session::backlog_view() const {
  std::uint64_t unconfirmed = (batch_in_flight_ ? in_flight_.bytes : 0) + batch_.bytes;
  SessionBacklog b;
  b.packets = backlog_estimate();
  b.packet_limit = backlog_limit_;
  b.session_bytes = session_backlog_bytes_ + unconfirmed;
  b.sensor_bytes = sensor_backlog_bytes_ + unconfirmed;
  return b;
}

void Session::poll_backlog() {
  // Held by a limit that the workers' progress lifts: re-read the counts. A full memory budget
  // is lifted by the server's memory poll, which wakes the sessions itself.
  unsigned polled = kPauseBacklog | kPauseSessionBytes | kPauseSensorBytes;
  if (!worker_.memory_gate().full()) polled |= kPauseMemory;  // sharing: the sensor's count matters
  if (backlog_poll_in_flight_ || !(paused_ & polled) || stream_key_.empty()) return;
  auto now = SteadyClock::now();
  if (now - last_backlog_poll_ < kBacklogPoll) return;
  last_backlog_poll_ = now;
  backlog_poll_in_flight_ = true;
  std::string req;
  core::RespWriter w(req);
  w.command({"XLEN", stream_key_})
      .command({"HGET", keys::live(layout(), keys::kBacklogBytesBySession), session_id_})
      .command({"HGET", keys::live(layout(), keys::kBacklogBytesBySensor), uuid_hex_});
  worker_.stream().submit(std::move(req), w.commands(), false,
                          [self = shared_from_this()](error_code ec, core::RedisReplies&& rs) {
                            self->backlog_poll_in_flight_ = false;
                            if (!ec && rs.size() == 3) {
                              if (auto v = rs[0].as_integer()) self->xlen_ = *v;
                              self->learn_backlog_bytes(rs[1], rs[2]);
                            }
                            self->wake();
                          });
}

void Session::learn_backlog_bytes(const core::RedisReply& session, const core::RedisReply& sensor) {
  // A missing field is 0 (the workers delete a count that reaches 0).
  auto bytes = [](const core::RedisReply& r) {
    return static_cast<std::uint64_t>(std::max(0LL, r.as_integer().value_or(0)));
  };
  if (!session.is_error()) session_backlog_bytes_ = bytes(session);
  if (!sensor.is_error()) sensor_backlog_bytes_ = bytes(sensor);
}

core::keys::KeyLayout Session::layout() const {
  return worker_.config().common.redis.layout;
}

// Cluster layout: the stored batch's bookkeeping in the live slot (kRelayScript: announced to its
// worker, counted in the backlog, recorded for the instance), applied once by batch number; sent
// in order with the session's other live-slot requests and re-sent after a reconnect or a
// failover. Then the outbox item goes. A relay never confirmed (the process died) is applied by the
// reaper of the instance from the outbox (Server::relay_outbox).
void Session::relay_batch(std::uint64_t number, std::uint64_t bytes) {
  const auto l = layout();
  std::string req = scripts::eval(
      scripts::kRelayScript, scripts::key_sets::relay(l, uuid_hex_, worker_type_, worker_.instance()),
      {session_id_, std::to_string(number), std::to_string(bytes), uuid_hex_, live_value()});
  ++relays_in_flight_;
  worker_.stream().submit(
      std::move(req), 1, /*retry_on_reconnect=*/true,
      [self = shared_from_this(), number](error_code ec, core::RedisReplies&& rs) {
        --self->relays_in_flight_;
        if (!ec && rs.size() == 1 && rs[0].type == core::RedisReply::Type::Array &&
            rs[0].elements.size() == 3) {
          self->learn_backlog_bytes(rs[0].elements[1], rs[0].elements[2]);
          std::string del;
          core::RespWriter(del).command(
              {"HDEL", keys::session_outbox(self->session_id_), std::to_string(number)});
          self->worker_.stream().submit(std::move(del), 1, false, [](error_code, core::RedisReplies&&) {});
        } else if (!ec) {
          core::log_with(self->log_fields(), spdlog::level::warn,
                         "session {}: relay of batch {} refused: {} (the outbox keeps it)", self->session_id_,
                         number, rs.empty() ? std::string() : rs[0].describe());
        }
        self->wake();
      });
}

void Session::uncount_duplicates(std::uint64_t bytes) {
  // A batch re-sent after a reconnect: its first execution stored and counted these packets.
  if (bytes == 0) return;
  std::string minus = "-" + std::to_string(bytes);
  std::string req;
  core::RespWriter w(req);
  w.command({"HINCRBY", keys::kBacklogBytesBySession, session_id_, minus})
      .command({"HINCRBY", keys::kBacklogBytesBySensor, uuid_hex_, minus});
  worker_.stream().submit(std::move(req), w.commands(), false, [](error_code, core::RedisReplies&&) {});
}

// Stores everything that was accepted before the session ends.
asio::awaitable<void> Session::store_remaining() {
  if (!batch_in_flight_ && batch_.packets > 0) submit_batch();
  while (batch_in_flight_ || batch_.packets > 0 || relays_in_flight_ > 0) {
    wake_timer_.expires_after(std::chrono::seconds(1));
    error_code ec;
    co_await wake_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!batch_in_flight_ && batch_.packets > 0) submit_batch();
  }
}

void Session::drop_incorrect_session_data() {
  std::string req;
  core::RespWriter w(req);
  w.command({"DEL", keys::stream(layout(), type_text_, session_id_)});
  if (switched()) w.command({"DEL", keys::stream(layout(), "2", session_id_)});
  w.command({"SREM", keys::live(layout(), keys::kIncorrectTypeSessions), session_id_});
  worker_.stream().submit(std::move(req), w.commands(), true, [](error_code, core::RedisReplies&&) {});
}

// Ends the session in Redis (ended_session for its worker, live-connection sets, the slot). Sent
// after the session's batches on the same connection, so it applies after them.
asio::awaitable<void> Session::release_slot() {
  if (!state_.slot_claimed) co_return;
  const auto l = layout();
  std::string req = scripts::eval(
      scripts::close_script(),
      scripts::key_sets::close(l, session_id_, uuid_hex_, type_text_, worker_type_, worker_.instance()),
      {session_id_, uuid_hex_, type_text_, worker_type_, worker_.instance()});
  std::uint32_t n = 1;
  if (l == keys::KeyLayout::Cluster) {
    // Every relay of the session is confirmed (store_remaining): its numbers are no longer needed.
    core::RespWriter(req).command({"HDEL", keys::live(l, keys::kRelayedBatches), session_id_});
    ++n;
  }
  error_code ec;
  co_await worker_.stream().async_exec(std::move(req), n, true,
                                       asio::redirect_error(asio::use_awaitable, ec));
  if (l == keys::KeyLayout::Cluster && !ec) {
    std::string del;
    core::RespWriter(del).command({"DEL", keys::session_outbox(session_id_)});
    co_await worker_.stream().async_exec(std::move(del), 1, true,
                                         asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace d4::server
