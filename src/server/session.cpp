// The session's read loop, its pauses and timeouts, and its end. Admission is in
// session_admission.cpp, storing in session_storage.cpp.
#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include "core/keys.hpp"
#include "protocol/clock.hpp"
#include "server/reject_record.hpp"
#include "server/session.hpp"
#include "server/worker.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace d4::server {

namespace keys = core::keys;

namespace {

constexpr std::chrono::milliseconds kIdleBufferRelease{1000};
constexpr std::chrono::milliseconds kLongestPause{1000};

Reject reject_of(protocol::FrameError e) {
  switch (e) {
    case protocol::FrameError::BadVersion:
      return Reject::bad_version;
    case protocol::FrameError::UnknownType:
      return Reject::type_not_accepted;
    case protocol::FrameError::InvalidUuid:
      return Reject::invalid_uuid;
    case protocol::FrameError::Oversized:
      return Reject::oversize;
    case protocol::FrameError::HmacMismatch:
      return Reject::hmac_mismatch;
    case protocol::FrameError::Truncated:
      return Reject::truncated;
    case protocol::FrameError::None:
      break;
  }
  return Reject::transport_error;
}

}  // namespace

Session::Session(Worker& worker, asio::ip::tcp::socket socket, TlsContext tls, Peer peer)
    : worker_(worker),
      transport_(std::move(socket), std::move(tls)),
      peer_(std::move(peer)),
      limiter_ip_(peer_.ip),
      session_id_(protocol::Uuid::generate_v4().dashed()),
      start_ms_(clock::unix_millis()),
      wake_timer_(worker.ioc()),
      meta_header_(protocol::kMaxMetaHeaderSize) {
  accepted_at_ = last_activity_ = SteadyClock::now();
  unauth_hold_ = worker_.unauthenticated_budget().hold(peer_.address);
  update_framer_options();
  worker_.metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
  worker_.metrics().connections_open.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() {
  worker_.metrics().connections_open.fetch_sub(1, std::memory_order_relaxed);
  if (state_.identified()) worker_.metrics().sessions_identified.fetch_sub(1, std::memory_order_relaxed);
  if (pending_gauge_) worker_.metrics().pending_bytes.fetch_sub(pending_gauge_, std::memory_order_relaxed);
  set_paused(0);
  worker_.limiter().release(limiter_ip_);
}

void Session::update_framer_options() {
  const auto& rt = worker_.runtime();
  auto& o = framer_.options();
  o.max_payload = rt.max_payload;
  o.accepted_versions = rt.accept_any_version ? protocol::FramerOptions::any_version()
                                              : std::bitset<256>().set(protocol::kProtocolVersion);
  o.require_v4_uuid = true;
  const Policy& p = worker_.policy();
  o.accepted_types = p.accepted_types;
  // Type 0 is reserved and never valid on the wire, whatever the accepted set says.
  o.accepted_types.reset(0);
}

core::LogFields Session::log_fields() const {
  core::LogFields f;
  f.add(core::log_key::kSession, session_id_).add(core::log_key::kSource, peer_.ip);
  f.add(core::log_key::kSourcePort, peer_.port);
  if (!peer_.proxy_ip.empty()) f.add("proxy", peer_.proxy_ip);
  if (!uuid_hex_.empty())
    f.add(state_.verified() ? core::log_key::kSensorUuid : std::string_view("claimed_sensor_uuid"),
          uuid_hex_);
  if (type_ != 0) f.add(core::log_key::kType, static_cast<int>(type_));
  return f;
}

asio::awaitable<void> Session::run(std::shared_ptr<Session> self) {
  self->worker_entry_ = self->worker_.add_session(self.get());
  try {
    co_await self->main();
  } catch (const std::exception& e) {
    core::log_with(self->log_fields().add(core::log_key::kDetail, e.what()), spdlog::level::err,
                   "session {} from {}: unexpected error: {}", self->session_id_, self->peer_.ip, e.what());
    self->abort(Reject::transport_error, e.what());
  }
  try {
    co_await self->finish();
  } catch (const std::exception& e) {
    core::log_with(self->log_fields().add(core::log_key::kDetail, e.what()), spdlog::level::err,
                   "session {}: error while ending: {}", self->session_id_, e.what());
  }
  self->worker_.remove_session(self->worker_entry_);
}

asio::awaitable<void> Session::main() {
  if (peer_.expects_proxy_header && !co_await accept_proxy_header()) co_return;
  if (!co_await transport_.handshake()) {
    if (state_.closing()) co_return;
    if (transport_.began_with_proxy_header())
      refuse_unexpected_proxy_header();
    else
      abort(Reject::tls_handshake, transport_.error());
    co_return;
  }
  state_.reach(SessionState::Stage::Connected);
  ready_at_ = last_activity_ = SteadyClock::now();
  if (!transport_.peer_certificate().empty())
    spdlog::debug("session {} from {}: client certificate {}", session_id_, peer_.ip,
                  printable(transport_.peer_certificate()));
  const std::size_t read_size = worker_.config().read_size;
  bool first_read = true;
  while (!state_.closing()) {
    unsigned causes = pause_causes(SteadyClock::now());
    set_paused(causes);
    if (causes) {
      // Woken by confirmations, reconnects, backlog polls, or after at most a second.
      wake_timer_.expires_after(pause_wait(causes));
      error_code ec;
      co_await wake_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      // Time spent paused does not count towards idle or slowloris timeouts.
      last_activity_ = SteadyClock::now();
      if (partial_) partial_since_ = last_activity_;
      continue;
    }
    if (hold_) {
      // Packets left in the buffer when the backlog limit was reached come first.
      hold_ = false;
      co_await process();
      continue;
    }
    if (framer_.buffered() == 0) {
      // Wait for data before taking a read buffer; a session idle for a while gives its buffer
      // back, so thousands of quiet sensors cost a few KB each.
      auto w = co_await transport_.wait_readable(kIdleBufferRelease);
      if (state_.closing()) break;
      if (w == Transport::Wait::Timeout) {
        framer_ = protocol::Framer(framer_.options());
        if (batch_.packets == 0) std::string().swap(batch_.resp);  // the spare batch buffer too
        w = co_await transport_.wait_readable();
        if (state_.closing()) break;
      }
    }
    const bool identified = state_.identified();
    std::size_t want = identified ? read_size : unauthenticated_read_size(read_size);
    if (state_.closing()) break;
    auto buf = framer_.prepare(want);
    if (!identified) buf = buf.first(std::min(buf.size(), want));
    std::size_t n = co_await transport_.read_some(buf);
    if (state_.closing()) break;
    if (n == 0) {
      on_end_of_stream();
      break;
    }
    framer_.commit(n);
    if (std::exchange(first_read, false) && refuse_stray_proxy_header(buf.first(n))) break;
    account_unauthenticated_bytes();
    auto now = SteadyClock::now();
    last_activity_ = now;
    worker_.metrics().bytes_read.fetch_add(n, std::memory_order_relaxed);
    rate_.consume(n, now);
    co_await process();
    account_unauthenticated_bytes();
  }
}

// Unidentified connections read little at a time, and only what the budgets of unauthenticated
// bytes leave them: a connection that would go over is closed (0 returned) with the limit that bit.
std::size_t Session::unauthenticated_read_size(std::size_t read_size) {
  const auto& rt = worker_.runtime();
  UnauthenticatedBudget::Bite bite = UnauthenticatedBudget::Bite::None;
  std::size_t room =
      unauth_hold_.room({rt.unauthenticated_bytes_max, rt.unauthenticated_bytes_per_ip}, &bite);
  if (room > 0) return std::min<std::size_t>({read_size, 4096, room});
  if (bite == UnauthenticatedBudget::Bite::PerIp)
    abort(Reject::unauthenticated_budget_ip, "peer holds unauthenticated_bytes_per_ip (" +
                                                 std::to_string(rt.unauthenticated_bytes_per_ip) +
                                                 " bytes) in connections that have not authenticated");
  else
    abort(Reject::unauthenticated_budget, "unauthenticated connections hold unauthenticated_bytes_max (" +
                                              std::to_string(rt.unauthenticated_bytes_max) + " bytes)");
  return 0;
}

// What an unidentified connection holds counts against the budgets until it authenticates.
void Session::account_unauthenticated_bytes() {
  if (state_.identified())
    unauth_hold_.reset();
  else
    unauth_hold_.set(framer_.buffered());
}

unsigned Session::pause_causes(SteadyClock::time_point now) {
  unsigned c = 0;
  std::size_t pending = batch_.request_bytes() + pending_in_flight_size_;
  if (pending >= worker_.config().max_session_pending_bytes) c |= kPausePending;
  if (!worker_.stream().connected()) c |= kPauseRedis;
  c |= held_by_admission();
  if (rate_.delay(now).count() > 0) c |= kPauseRate;
  return c;
}

// How long a paused session sleeps unless woken: a second, or until the rate limit lets it read.
std::chrono::milliseconds Session::pause_wait(unsigned causes) {
  if (!(causes & kPauseRate)) return kLongestPause;
  auto until_tokens = std::chrono::ceil<std::chrono::milliseconds>(rate_.delay(SteadyClock::now()));
  return std::min(kLongestPause, until_tokens + std::chrono::milliseconds(1));
}

void Session::set_paused(unsigned causes) {
  auto& m = worker_.metrics();
  auto flip = [&](unsigned bit, std::atomic<std::int64_t>& gauge) {
    bool was = paused_ & bit, is = causes & bit;
    if (was != is) gauge.fetch_add(is ? 1 : -1, std::memory_order_relaxed);
  };
  flip(kPauseBacklog, m.paused_backlog);
  flip(kPauseRedis, m.paused_redis);
  flip(kPausePending, m.paused_pending);
  flip(kPauseRate, m.paused_rate);
  flip(kPauseSessionBytes, m.paused_session_bytes);
  flip(kPauseSensorBytes, m.paused_sensor_bytes);
  flip(kPauseMemory, m.paused_memory);
  count_backpressure(causes & ~paused_ & kSensorPauseCauses);
  paused_ = causes;
}

void Session::count_backpressure(unsigned started) {
  if (!started) return;
  auto& b = worker_.meta_batch();
  for (unsigned bit = 1; bit <= started; bit <<= 1) {
    auto cause = (started & bit) ? backpressure_of(static_cast<PauseCause>(bit)) : std::nullopt;
    if (!cause) continue;
    worker_.metrics().backpressure[static_cast<std::size_t>(*cause)].fetch_add(1, std::memory_order_relaxed);
    std::string name(backpressure_name(*cause));
    b.incr(keys::sensor_backpressure(uuid_hex_), name);
    b.incr(keys::kServerBackpressure, name);
  }
}

void Session::wake() {
  wake_timer_.cancel();
}

unsigned Session::held_by_admission() const {
  if (!state_.identified()) return 0;
  return admission_causes(backlog_view(), worker_.runtime(), worker_.memory_gate());
}

// Takes every complete packet out of the buffer: header checks as soon as a header is complete
// (before its payload is buffered), then HMAC, identity and storage per packet.
asio::awaitable<void> Session::process() {
  std::uint32_t completed = 0;
  const auto read_time = SteadyClock::now();
  for (;;) {
    if (state_.closing()) co_return;
    if (held_by_admission()) {
      // The session's, its sensor's or the global backlog is full: leave further packets in the
      // buffer (and stop reading) until the workers consumed some, instead of refusing them.
      hold_ = framer_.buffered() > 0;
      break;
    }
    protocol::Packet pkt;
    auto st = framer_.next(pkt);
    if (st == protocol::Framer::Status::Error) {
      abort(reject_of(framer_.error()), framer_.error_detail());
      co_return;
    }
    const protocol::Header* h =
        st == protocol::Framer::Status::Ready ? &pkt.header : framer_.pending_header();
    if (!h) break;  // fewer than 62 bytes of the next header
    if (!header_checked_) {
      // The first header is checked against the policy and the sensor's records (the framer's
      // buffer may move while that waits on Redis: a copy), later ones against the first.
      protocol::Header copy = *h;
      // No co_await inside a conditional expression: GCC 12 miscompiles that.
      bool ok = false;
      if (state_.header_seen())
        ok = check_next_header(copy);
      else
        ok = co_await check_first_header(copy);
      if (!ok || state_.closing()) co_return;
      header_checked_ = true;
    }
    if (st != protocol::Framer::Status::Ready) break;  // payload still incomplete
    header_checked_ = false;
    ++completed;
    if (!verify_and_admit(pkt)) co_return;
    if (!state_.identified()) {
      if (!co_await identify(pkt.header) || state_.closing()) co_return;
    }
    if (!admit_meta_header_bytes(pkt)) co_return;
    store(pkt, read_time);
  }
  if (framer_.buffered() == 0) {
    partial_ = false;
  } else if (completed > 0 || !partial_) {
    partial_ = true;
    partial_since_ = read_time;
  }
  if (!batch_in_flight_ && batch_.packets > 0) submit_batch();
}

// The HMAC of a complete packet; a peer whose UUID is in blacklist_ip_by_uuid is blocked now that
// it proved it holds the key.
bool Session::verify_and_admit(const protocol::Packet& pkt) {
  auto hdr = pkt.raw.first<protocol::kHeaderSize>();
  if (!key_ || !key_->verify(hdr, pkt.payload)) {
    abort(Reject::hmac_mismatch, "packet " + std::to_string(framer_.packets()) + " does not verify");
    return false;
  }
  state_.reach(SessionState::Stage::Verified);
  if (state_.block_peer_once_verified) {
    block_peer_of_uuid();
    return false;
  }
  return true;
}

void Session::check_timeouts(SteadyClock::time_point now) {
  if (!state_.open()) return;
  const auto& rt = worker_.runtime();
  auto over = [&](SteadyClock::time_point since, std::chrono::seconds limit) {
    return limit.count() > 0 && now - since > limit;
  };
  if (state_.stage() == SessionState::Stage::Handshake) {
    if (!over(accepted_at_, rt.handshake_timeout)) return;
    const std::string limit = std::to_string(rt.handshake_timeout.count()) + " s";
    if (awaiting_proxy_header_)
      abort(Reject::proxy_header_timeout, "no complete PROXY protocol header in " + limit);
    else
      abort(Reject::handshake_timeout, "TLS handshake not completed in " + limit);
    return;
  }
  if (paused_) return;  // not reading: idle and slowloris timers do not run
  if (!state_.identified() && over(ready_at_, rt.unidentified_timeout)) {
    abort(Reject::unidentified_timeout,
          "no authenticated packet within " + std::to_string(rt.unidentified_timeout.count()) + " s");
    return;
  }
  if (partial_) {
    bool header_done = framer_.pending_header() != nullptr;
    auto limit = header_done ? rt.packet_timeout : rt.header_timeout;
    if (over(partial_since_, limit)) {
      abort(header_done ? Reject::packet_timeout : Reject::header_timeout,
            std::string(header_done ? "payload" : "header") + " not completed within " +
                std::to_string(limit.count()) + " s (" + std::to_string(framer_.buffered()) +
                " bytes received)");
      return;
    }
  }
  if (state_.identified() && over(last_activity_, rt.idle_timeout))
    abort(Reject::idle_timeout, "no data for " + std::to_string(rt.idle_timeout.count()) + " s");
}

void Session::abort(Reject reason, std::string detail) {
  if (!state_.open()) return;
  state_.end(SessionState::Ending::Refused);
  reason_ = reason;
  reason_detail_ = std::move(detail);
  record_reject(reason, reason_detail_);
  transport_.close();
  wake();
}

void Session::shutdown() {
  if (state_.closing()) return;
  state_.end(SessionState::Ending::ShutDown);
  transport_.close();
  wake();
}

void Session::record_reject(Reject reason, const std::string& detail) {
  // The sensor's own record only once the peer proved it holds the sensor's key.
  const bool verified = state_.verified();
  std::string_view sensor = verified ? std::string_view(uuid_hex_) : std::string_view();
  std::string_view claimed = state_.header_seen() ? std::string_view(uuid_hex_) : std::string_view();
  server::record_reject(worker_, reason, {peer_.address, peer_.ip, session_id_, sensor, claimed}, detail);
  std::string name(reject_name(reason));
  auto fields = log_fields();
  fields.add(core::log_key::kReason, name).add(core::log_key::kDetail, printable(detail));
  if (verified) {
    core::log_with(fields, spdlog::level::warn, "session {}: sensor {} from {} closed: {} ({})", session_id_,
                   uuid_hex_, peer_.ip, name, printable(detail));
    return;
  }
  auto level = (reason == Reject::tls_handshake || reason == Reject::handshake_timeout) ? spdlog::level::debug
                                                                                        : spdlog::level::info;
  core::log_with(fields, level, "session {}: connection from {} refused: {} ({})", session_id_, peer_.ip,
                 name, printable(detail));
}

// The stream ended (n == 0 from the transport). Between packets, a close_notify, FIN or reset is
// the sensor going away (a finished `d4-client | socat` run, a restarted sensor): a disconnect,
// counted, never a fault in the sensor's record. A partial packet or a TLS error is a reject.
void Session::on_end_of_stream() {
  bool reset = transport_.peer_reset();
  if (!transport_.error().empty() && !reset) {
    abort(Reject::transport_error, transport_.error());
  } else if (framer_.buffered() > 0) {
    abort(Reject::truncated, std::to_string(framer_.buffered()) + " bytes of an unfinished packet at " +
                                 (reset ? "a connection reset" : "end of stream"));
  } else {
    auto& m = worker_.metrics();
    (reset ? m.disconnects_reset : m.disconnects_clean).fetch_add(1, std::memory_order_relaxed);
  }
}

asio::awaitable<void> Session::finish() {
  // A peer that ended the stream itself may wait for our close (socat does): it gets it once its
  // data is stored and its slot released, so that its next run is never refused as a duplicate.
  if (!transport_.peer_ended() || state_.closing()) transport_.close();
  // No timeout or outage reject once the stream is over.
  if (state_.open()) state_.end(SessionState::Ending::StreamOver);
  set_paused(0);
  // A partial packet is never completed now: give its memory and its budget share back.
  framer_ = protocol::Framer(framer_.options());
  unauth_hold_.reset();
  if (reason_ == Reject::incorrect_type) {
    // The worker declared this data unusable; the reference drops the stream.
    auto& m = worker_.metrics();
    m.discarded_packets.fetch_add(batch_.packets, std::memory_order_relaxed);
    m.pending_bytes.fetch_sub(static_cast<std::int64_t>(batch_.bytes), std::memory_order_relaxed);
    pending_gauge_ -= static_cast<std::int64_t>(batch_.bytes);
    batch_.clear();
  }
  co_await store_remaining();
  if (reason_ == Reject::incorrect_type) drop_incorrect_session_data();
  co_await release_slot();
  transport_.close_after_peer_end();
  if (state_.identified() || packets_stored_) {
    const bool shut_down = state_.ending() == SessionState::Ending::ShutDown;
    auto fields = log_fields();
    if (reason_) fields.add(core::log_key::kReason, reject_name(*reason_));
    fields.add("packets", packets_stored_).add("bytes", bytes_stored_);
    core::log_with(fields, spdlog::level::info,
                   "session {}: sensor {} type {} ended{}: {} packets, {} bytes stored", session_id_,
                   uuid_hex_, type_,
                   reason_ ? std::string(" (") + std::string(reject_name(*reason_)) + ")"
                           : std::string(shut_down ? " (shutdown)" : ""),
                   packets_stored_, bytes_stored_);
  }
}

}  // namespace d4::server
