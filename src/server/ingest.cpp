#include "server/ingest.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/keys.hpp"
#include "core/logging.hpp"
#include "core/sensors.hpp"
#include "protocol/types.hpp"
#include "server/reject_record.hpp"
#include "server/scripts.hpp"
#include "server/server.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace d4::server {

namespace keys = core::keys;

namespace {

constexpr std::size_t kMaxBatchBytes = 1 << 20;  // a session submits once its batch reaches this
constexpr std::chrono::milliseconds kBacklogPoll{200};
constexpr std::chrono::seconds kWriteRetryDelay{1};
constexpr std::chrono::milliseconds kIdleBufferRelease{1000};

long long wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

long long wall_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What is logged about sensor-chosen text: JSON logs embed messages unescaped.
std::string printable(std::string_view s) {
  return core::json_escape(s.substr(0, 200));
}

bool is_duplicate_id_error(const core::RedisReply& r) {
  return r.is_error() && r.str.find("equal or smaller than the target stream top item") != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
std::optional<Reject> ConnectionLimiter::try_acquire(const std::string& ip, std::size_t max_total,
                                                     std::size_t max_per_ip) {
  std::lock_guard lock(mutex_);
  if (total_ >= max_total) return Reject::connection_limit;
  auto& n = per_ip_[ip];
  if (max_per_ip && n >= max_per_ip) {
    if (n == 0) per_ip_.erase(ip);
    return Reject::connection_limit_ip;
  }
  ++n;
  ++total_;
  return std::nullopt;
}

void ConnectionLimiter::release(const std::string& ip) {
  std::lock_guard lock(mutex_);
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  if (total_) --total_;
  ++released_;
}

std::uint64_t ConnectionLimiter::released() const {
  std::lock_guard lock(mutex_);
  return released_;
}

std::size_t ConnectionLimiter::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

// ---------------------------------------------------------------------------------------------
Session::Session(Worker& worker, asio::ip::tcp::socket socket, TlsContext tls, Peer peer)
    : worker_(worker),
      transport_(std::move(socket), std::move(tls)),
      peer_(std::move(peer)),
      session_id_(protocol::Uuid::generate_v4().dashed()),
      start_ms_(wall_ms()),
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
  if (counted_identified_) worker_.metrics().sessions_identified.fetch_sub(1, std::memory_order_relaxed);
  if (pending_gauge_) worker_.metrics().pending_bytes.fetch_sub(pending_gauge_, std::memory_order_relaxed);
  set_paused(0);
  worker_.limiter().release(peer_.ip);
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

asio::awaitable<void> Session::run(std::shared_ptr<Session> self) {
  self->worker_.add_session(self.get());
  try {
    co_await self->main();
  } catch (const std::exception& e) {
    spdlog::error("session {} from {}: unexpected error: {}", self->session_id_, self->peer_.ip, e.what());
    self->abort(Reject::transport_error, e.what());
  }
  try {
    co_await self->finish();
  } catch (const std::exception& e) {
    spdlog::error("session {}: error while ending: {}", self->session_id_, e.what());
  }
  self->worker_.remove_session(self.get());
}

asio::awaitable<void> Session::main() {
  if (!co_await transport_.handshake()) {
    if (!closing_) {
      abort(Reject::tls_handshake, transport_.error());
    }
    co_return;
  }
  phase_ = Phase::Reading;
  ready_at_ = last_activity_ = SteadyClock::now();
  if (!transport_.peer_certificate().empty())
    spdlog::debug("session {} from {}: client certificate {}", session_id_, peer_.ip,
                  printable(transport_.peer_certificate()));
  rate_last_ = SteadyClock::now();
  const std::size_t read_size = worker_.config().read_size;
  while (!closing_) {
    auto now = SteadyClock::now();
    unsigned causes = pause_causes(now);
    set_paused(causes);
    if (causes) {
      // Woken by confirmations, reconnects, backlog polls, or after at most a second.
      auto wait = std::chrono::milliseconds(1000);
      if ((causes & kPauseRate) && rate_limit_ > 0) {
        double secs = -rate_tokens_ / static_cast<double>(rate_limit_);
        wait =
            std::min(wait, std::chrono::milliseconds(static_cast<long long>(std::ceil(secs * 1000.0)) + 1));
      }
      wake_timer_.expires_after(wait);
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
      if (closing_) break;
      if (w == Transport::Wait::Timeout) {
        framer_ = protocol::Framer(framer_.options());
        w = co_await transport_.wait_readable();
        if (closing_) break;
      }
    }
    std::size_t want = identified_ ? read_size : unauthenticated_read_size(read_size);
    if (closing_) break;
    auto buf = framer_.prepare(want);
    if (!identified_) buf = buf.first(std::min(buf.size(), want));
    std::size_t n = co_await transport_.read_some(buf);
    if (closing_) break;
    if (n == 0) {
      on_end_of_stream();
      break;
    }
    framer_.commit(n);
    account_unauthenticated_bytes();
    now = SteadyClock::now();
    last_activity_ = now;
    worker_.metrics().bytes_read.fetch_add(n, std::memory_order_relaxed);
    if (rate_limit_ > 0) {
      double dt = std::chrono::duration<double>(now - rate_last_).count();
      rate_last_ = now;
      const auto& rt = worker_.runtime();
      double burst = static_cast<double>(rt.rate_limit_burst ? rt.rate_limit_burst : rate_limit_);
      rate_tokens_ =
          std::min(burst, rate_tokens_ + dt * static_cast<double>(rate_limit_)) - static_cast<double>(n);
    }
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
  if (identified_)
    unauth_hold_.reset();
  else
    unauth_hold_.set(framer_.buffered());
}

unsigned Session::pause_causes(SteadyClock::time_point now) {
  unsigned c = 0;
  std::size_t pending = batch_.resp.size() + pending_in_flight_size_;
  if (pending >= worker_.config().max_session_pending_bytes) c |= kPausePending;
  if (!worker_.stream().connected()) c |= kPauseRedis;
  c |= held_by_admission();
  if (rate_limit_ > 0 && rate_tokens_ < 0) {
    double dt = std::chrono::duration<double>(now - rate_last_).count();
    const auto& rt = worker_.runtime();
    double burst = static_cast<double>(rt.rate_limit_burst ? rt.rate_limit_burst : rate_limit_);
    rate_tokens_ = std::min(burst, rate_tokens_ + dt * static_cast<double>(rate_limit_));
    rate_last_ = now;
    if (rate_tokens_ < 0) c |= kPauseRate;
  }
  return c;
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

long long Session::backlog_estimate() const {
  // xlen_ is the stream length confirmed with the last batch (it includes that batch).
  return xlen_ + static_cast<long long>((batch_in_flight_ ? in_flight_.packets : 0) + batch_.packets);
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

unsigned Session::held_by_admission() const {
  if (!identified_) return 0;
  return admission_causes(backlog_view(), worker_.runtime(), worker_.memory_gate());
}

asio::awaitable<void> Session::process() {
  std::uint32_t completed = 0;
  const auto read_time = SteadyClock::now();
  for (;;) {
    if (closing_) co_return;
    if (held_by_admission()) {
      // The session's, its sensor's or the global backlog is full: leave further packets in the
      // buffer (and stop reading) until the workers consumed some, instead of refusing them.
      hold_ = framer_.buffered() > 0;
      break;
    }
    protocol::Packet pkt;
    auto st = framer_.next(pkt);
    if (st == protocol::Framer::Status::Error) {
      Reject r = Reject::transport_error;
      switch (framer_.error()) {
        case protocol::FrameError::BadVersion:
          r = Reject::bad_version;
          break;
        case protocol::FrameError::UnknownType:
          r = Reject::type_not_accepted;
          break;
        case protocol::FrameError::InvalidUuid:
          r = Reject::invalid_uuid;
          break;
        case protocol::FrameError::Oversized:
          r = Reject::oversize;
          break;
        case protocol::FrameError::HmacMismatch:
          r = Reject::hmac_mismatch;
          break;
        case protocol::FrameError::Truncated:
          r = Reject::truncated;
          break;
        case protocol::FrameError::None:
          break;
      }
      abort(r, framer_.error_detail());
      co_return;
    }
    const protocol::Header* h =
        st == protocol::Framer::Status::Ready ? &pkt.header : framer_.pending_header();
    if (!h) break;  // fewer than 62 bytes of the next header
    if (!header_checked_) {
      protocol::Header copy = *h;
      // No co_await inside a conditional expression: GCC 12 miscompiles that.
      bool ok = false;
      if (have_first_header_)
        ok = check_next_header(copy);
      else
        ok = co_await check_first_header(copy);
      if (!ok || closing_) co_return;
      header_checked_ = true;
    }
    if (st != protocol::Framer::Status::Ready) break;  // payload still incomplete
    header_checked_ = false;
    ++completed;
    auto hdr = pkt.raw.first<protocol::kHeaderSize>();
    if (!key_ || !key_->verify(hdr, pkt.payload)) {
      abort(Reject::hmac_mismatch, "packet " + std::to_string(framer_.packets()) + " does not verify");
      co_return;
    }
    hmac_verified_ = true;
    if (block_ip_after_auth_) {
      block_peer_of_uuid();
      co_return;
    }
    if (!identified_) {
      if (!co_await identify(pkt.header) || closing_) co_return;
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

bool Session::check_clock_skew(const protocol::Header& h) {
  auto skew = worker_.runtime().max_clock_skew;
  if (skew.count() <= 0) return true;
  long long diff = static_cast<long long>(h.timestamp) - wall_s();
  if (std::llabs(diff) > skew.count()) {
    abort(Reject::clock_skew, "header timestamp " + std::to_string(h.timestamp) + " is " +
                                  std::to_string(diff) + " s from the server clock (limit " +
                                  std::to_string(skew.count()) + " s)");
    return false;
  }
  return true;
}

asio::awaitable<bool> Session::check_first_header(const protocol::Header& h) {
  have_first_header_ = true;
  uuid_ = h.uuid;
  uuid_hex_ = h.uuid.dashless();
  type_ = h.type;
  type_text_ = std::to_string(h.type);
  const Policy& p = worker_.policy();  // valid until the first co_await below
  if (h.type == 254) {
    abort(Reject::first_type_254, "a type 2 packet must be sent before type 254");
    co_return false;
  }
  // Every address presenting this UUID is to be blocked: decided once the first packet verifies.
  if (p.uuid_ips_blocked(uuid_hex_)) block_ip_after_auth_ = true;
  if (p.uuid_blocked(uuid_hex_)) {
    abort(Reject::blocked_uuid, "uuid " + uuid_hex_ + " is blocked");
    co_return false;
  }
  if (!p.is_registered(uuid_hex_)) {
    abort(Reject::unregistered, "uuid " + uuid_hex_ + " is not registered (registration mode)");
    co_return false;
  }
  if (!check_clock_skew(h)) co_return false;
  // The sensor's key and limits: one round trip to each Redis, once per connection.
  std::string meta_req, stream_req;
  core::RespWriter(meta_req)
      .command({"HGET", keys::sensor_metadata(uuid_hex_), "hmac_key"})
      .command({"HGET", keys::kStreamMaxSizeByUuid, uuid_hex_})
      .command({"HGET", keys::kRateLimitByUuid, uuid_hex_});
  core::RespWriter(stream_req)
      .command({"EXISTS", keys::temp_blocklist_uuid(uuid_hex_)})
      .command({"HGET", keys::kBacklogBytesBySensor, uuid_hex_});
  error_code ec1, ec2;
  auto meta_replies = co_await worker_.meta().async_exec(std::move(meta_req), 3, false,
                                                         asio::redirect_error(asio::use_awaitable, ec1));
  if (closing_) co_return false;
  auto stream_replies = co_await worker_.stream().async_exec(std::move(stream_req), 2, false,
                                                             asio::redirect_error(asio::use_awaitable, ec2));
  if (closing_) co_return false;
  if (ec1 || ec2 || meta_replies.size() != 3 || stream_replies.size() != 2) {
    abort(Reject::redis_unavailable, "cannot look up the sensor: " + (ec1 ? ec1 : ec2).message());
    co_return false;
  }
  if (stream_replies[0].integer == 1) {
    abort(Reject::temp_blocked, "uuid " + uuid_hex_ + " was kicked and is blocked for a while");
    co_return false;
  }
  auto key = meta_replies[0].as_string();
  // The policy snapshot may have been replaced during the lookups: use the current one (a
  // reference taken before a co_await must never be used after it).
  if (key && !key->empty())
    key_.emplace(*key);
  else
    key_.emplace(worker_.policy().default_key);
  sensor_backlog_bytes_ =
      static_cast<std::uint64_t>(std::max(0LL, stream_replies[1].as_integer().value_or(0)));
  backlog_limit_ = meta_replies[1].as_integer().value_or(0);
  if (backlog_limit_ <= 0) backlog_limit_ = worker_.runtime().default_backlog;
  auto rate = meta_replies[2].as_integer();
  rate_limit_ = rate && *rate > 0 ? static_cast<std::uint64_t>(*rate) : worker_.runtime().rate_limit;
  if (rate_limit_ > 0) {
    const auto& rt = worker_.runtime();
    rate_tokens_ = static_cast<double>(rt.rate_limit_burst ? rt.rate_limit_burst : rate_limit_);
    rate_last_ = SteadyClock::now();
  }
  co_return true;
}

bool Session::check_next_header(const protocol::Header& h) {
  if (h.uuid != uuid_) {
    abort(Reject::uuid_change, "Error: The uuid change, new_uuid=" + h.uuid.dashless());
    return false;
  }
  if (h.type != type_) {
    if (type_ == 2 && h.type == 254 && type2_stored_) {
      if (meta_header_.state() != protocol::MetaHeaderAssembler::State::Complete) {
        std::string why = meta_header_.state() == protocol::MetaHeaderAssembler::State::Error
                              ? meta_header_.error()
                              : std::string("the meta header (type 2) is incomplete");
        abort(Reject::meta_header_invalid, why);
        return false;
      }
      const std::string& ext = meta_header_.result().type;
      if (!worker_.policy().accepted_extended_types.count(ext)) {
        abort(Reject::extended_type_not_accepted, "extended type \"" + printable(ext) + "\" is not accepted");
        return false;
      }
      switch_to_254();
    } else {
      abort(Reject::type_change, "Error: Unexpected type change type=" + std::to_string(type_) +
                                     ", new type=" + std::to_string(h.type));
      return false;
    }
  }
  return check_clock_skew(h);
}

asio::awaitable<bool> Session::identify(const protocol::Header& h) {
  std::string req;
  core::RespWriter(req)
      .begin(8)
      .arg("EVAL")
      .arg(scripts::kClaimScript)
      .arg(std::uint64_t{0})
      .arg(session_id_)
      .arg(uuid_hex_)
      .arg(type_text_)
      .arg(worker_.instance())
      .arg(std::uint64_t{worker_.runtime().max_meta_sessions_per_sensor});
  error_code ec;
  auto replies = co_await worker_.stream().async_exec(std::move(req), 1, false,
                                                      asio::redirect_error(asio::use_awaitable, ec));
  if (!ec && replies.size() == 1 && replies[0].integer == 1) claimed_ = true;
  if (closing_) co_return false;
  if (ec || replies.size() != 1 || replies[0].is_error()) {
    abort(Reject::redis_unavailable, "cannot record the connection: " + (ec                ? ec.message()
                                                                         : replies.empty() ? ""
                                                                                           : replies[0].str));
    co_return false;
  }
  // The HMAC verified: from here on rejects are attributed to the sensor.
  identified_ = true;
  counted_identified_ = true;
  worker_.metrics().sessions_identified.fetch_add(1, std::memory_order_relaxed);
  if (!claimed_ && replies[0].integer == 2) {
    abort(Reject::too_many_sessions, "the sensor already has " +
                                         std::to_string(worker_.runtime().max_meta_sessions_per_sensor) +
                                         " type 2/254 sessions (max_meta_sessions_per_sensor)");
    co_return false;
  }
  if (!claimed_) {
    abort(Reject::duplicate,
          "Error: This UUID is using the same UUID for one type=" + std::to_string(h.type));
    co_return false;
  }
  stream_key_ = keys::stream(type_text_, session_id_);
  worker_.meta_batch().add_member(keys::sensor_all_types(uuid_hex_), type_text_);
  spdlog::info("session {}: sensor {} type {} from {} port {}{}", session_id_, uuid_hex_, type_, peer_.ip,
               peer_.port,
               transport_.is_tls() ? " (" + transport_.tls_version() + ")" : std::string(" (plain TCP)"));
  co_return true;
}

void Session::switch_to_254() {
  switched_ = true;
  type_ = 254;
  type_text_ = "254";
  stream_key_ = keys::stream("254", session_id_);
  std::string req;
  core::RespWriter(req)
      .begin(6)
      .arg("EVAL")
      .arg(scripts::kSwitchTo254Script)
      .arg(std::uint64_t{0})
      .arg(session_id_)
      .arg(uuid_hex_)
      .arg(worker_.instance());
  worker_.stream().submit(std::move(req), 1, true, [](error_code, core::RedisReplies&&) {});
  worker_.meta_batch().add_member(keys::sensor_all_types(uuid_hex_), "254");
  spdlog::info("session {}: sensor {} switches to type 254 ({})", session_id_, uuid_hex_,
               printable(meta_header_.result().type));
}

std::string Session::next_stream_id() {
  // Explicit ids: a batch re-sent after a reconnect gets "id equal or smaller" for entries that
  // were stored, instead of storing them twice. Millisecond-based like Redis's own ids.
  auto ms = static_cast<std::uint64_t>(wall_ms());
  if (ms > last_id_ms_) {
    last_id_ms_ = ms;
    id_seq_ = 0;
  } else {
    ++id_seq_;
  }
  return std::to_string(last_id_ms_) + "-" + std::to_string(id_seq_);
}

bool Session::admit_meta_header_bytes(const protocol::Packet& p) {
  // Type 2 carries only the meta header (at most 100,000 bytes, the Go client's limit). Every
  // byte counts, blanks and bytes after the header's end included: the worker replays a session's
  // type-2 data after a restart, so what is stored here must stay small.
  if (p.header.type != 2) return true;
  type2_bytes_ += p.payload.size();
  if (type2_bytes_ <= protocol::kMaxMetaHeaderSize) return true;
  abort(Reject::meta_header_too_large, "type-2 data exceeds " + std::to_string(protocol::kMaxMetaHeaderSize) +
                                           " bytes (every byte counts, whitespace included)");
  return false;
}

void Session::store(const protocol::Packet& p, SteadyClock::time_point read_time) {
  if (batch_.commands == 0) {
    core::RespWriter(batch_.resp).command({"MULTI"});
    batch_.commands = 1;
  }
  if (worker_type_ == "-") worker_type_ = type_text_;
  std::string id = next_stream_id();
  std::string_view payload(reinterpret_cast<const char*>(p.payload.data()), p.payload.size());
  core::RespWriter(batch_.resp)
      .begin(11)
      .arg("XADD")
      .arg(stream_key_)
      .arg(id)
      .arg("message")
      .arg(payload)
      .arg("uuid")
      .arg(uuid_hex_)
      .arg("timestamp")
      .arg(p.header.timestamp)
      .arg("version")
      .arg(std::uint64_t{p.header.version});
  ++batch_.commands;
  ++batch_.packets;
  batch_.bytes += p.payload.size();
  if (batch_.types.empty() || batch_.types.back().type != p.header.type)
    batch_.types.push_back({p.header.type, 0, 0});
  ++batch_.types.back().packets;
  batch_.types.back().bytes += p.payload.size();
  if (!batch_.reads.empty() && batch_.reads.back().first == read_time)
    ++batch_.reads.back().second;
  else
    batch_.reads.emplace_back(read_time, 1);
  worker_.metrics().pending_bytes.fetch_add(static_cast<std::int64_t>(p.payload.size()),
                                            std::memory_order_relaxed);
  pending_gauge_ += static_cast<std::int64_t>(p.payload.size());
  if (p.header.type == 2 && !switched_) {
    type2_stored_ = true;
    if (meta_header_.state() == protocol::MetaHeaderAssembler::State::Incomplete)
      meta_header_.feed(std::string_view(reinterpret_cast<const char*>(p.payload.data()), p.payload.size()));
  }
  if (batch_.resp.size() >= kMaxBatchBytes && !batch_in_flight_) submit_batch();
}

std::string Session::live_value() const {
  return uuid_hex_ + " " + type_text_ + " " + worker_type_;
}

void Session::submit_batch() {
  if (batch_in_flight_ || batch_.packets == 0) return;
  // Announce the session to its worker in every batch (idempotent): if the stream Redis lost its
  // data, the next stored batch makes the session visible again.
  core::RespWriter(batch_.resp)
      .command({"SADD", keys::sessions_of_type(worker_type_), session_id_})
      .command({"HSET", keys::server_instance_sessions(worker_.instance()), session_id_, live_value()})
      .command({"XLEN", stream_key_});
  // Counted with the packets, atomically: d4-worker subtracts what it trims (admission.hpp).
  std::string bytes = std::to_string(batch_.bytes);
  core::RespWriter(batch_.resp)
      .command({"HINCRBY", keys::kBacklogBytesBySession, session_id_, bytes})
      .command({"HINCRBY", keys::kBacklogBytesBySensor, uuid_hex_, bytes})
      .command({"EXEC"});
  batch_.commands += 6;
  in_flight_ = std::move(batch_);
  batch_ = Batch{};
  batch_in_flight_ = true;
  std::string resp = std::move(in_flight_.resp);
  in_flight_.resp = std::string();
  pending_in_flight_size_ = resp.size();
  worker_.stream().submit_returning_request(
      std::move(resp), in_flight_.commands, /*retry_on_reconnect=*/true,
      [self = shared_from_this()](error_code ec, core::RedisReplies&& replies, std::string&& request) {
        self->on_batch_done(ec, std::move(replies), std::move(request));
      });
}

void Session::on_batch_done(error_code ec, core::RedisReplies&& replies, std::string&& request) {
  auto& m = worker_.metrics();
  if (ec) {
    // Only a stopped client fails a retryable request: the process is exiting.
    m.lost_packets.fetch_add(in_flight_.packets, std::memory_order_relaxed);
    spdlog::error("session {}: {} accepted packets could not be stored: {}", session_id_, in_flight_.packets,
                  ec.message());
    m.pending_bytes.fetch_sub(static_cast<std::int64_t>(in_flight_.bytes), std::memory_order_relaxed);
    pending_gauge_ -= static_cast<std::int64_t>(in_flight_.bytes);
    batch_in_flight_ = false;
    pending_in_flight_size_ = 0;
    in_flight_.clear();
    wake();
    return;
  }
  // Replies: +OK (MULTI), +QUEUED per command, then EXEC's array (or an error/nil on abort).
  const core::RedisReply& exec = replies.back();
  std::uint64_t packets = in_flight_.packets;
  bool ok = exec.type == core::RedisReply::Type::Array && exec.elements.size() == in_flight_.commands - 2;
  std::uint64_t duplicates = 0;
  std::string failure;
  if (ok) {
    for (std::uint64_t i = 0; i < packets; ++i) {
      const auto& r = exec.elements[i];
      if (r.type == core::RedisReply::Type::String) continue;
      if (is_duplicate_id_error(r)) {
        ++duplicates;
        continue;
      }
      ok = false;
      failure = r.describe();
      break;
    }
  } else {
    failure = exec.describe();
    for (const auto& r : replies)
      if (r.is_error()) {
        failure = r.str;
        break;
      }
  }
  if (!ok) {
    // Redis refused the batch (out of memory, wrong key type...): keep it and try again later,
    // reading nothing more from the sensor meanwhile.
    m.write_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("session {}: Redis refused a batch of {} packets ({}); retrying in {} s", session_id_,
                 packets, printable(failure), kWriteRetryDelay.count());
    if (!retry_timer_) retry_timer_ = std::make_unique<asio::steady_timer>(worker_.ioc());
    retry_timer_->expires_after(kWriteRetryDelay);
    retry_timer_->async_wait([self = shared_from_this(), req = std::move(request)](error_code) mutable {
      std::uint32_t n = self->in_flight_.commands;
      self->worker_.stream().submit_returning_request(
          std::move(req), n, true, [self](error_code e, core::RedisReplies&& rs, std::string&& rq) {
            self->on_batch_done(e, std::move(rs), std::move(rq));
          });
    });
    return;
  }
  // EXEC's trailer: SADD, HSET, XLEN, HINCRBY session bytes, HINCRBY sensor bytes.
  const auto trailer = exec.elements.size();
  if (auto v = exec.elements[trailer - 3].as_integer()) xlen_ = *v;
  learn_backlog_bytes(exec.elements[trailer - 2], exec.elements[trailer - 1]);
  if (duplicates) {
    m.duplicate_writes.fetch_add(duplicates, std::memory_order_relaxed);
    uncount_duplicates(in_flight_.bytes * duplicates / std::max<std::uint64_t>(1, packets));
  }
  auto now = SteadyClock::now();
  for (const auto& [t, n] : in_flight_.reads) m.ingest_latency.observe(now - t, n);
  for (const auto& tc : in_flight_.types) {
    m.packets[tc.type].fetch_add(tc.packets, std::memory_order_relaxed);
    m.bytes[tc.type].fetch_add(tc.bytes, std::memory_order_relaxed);
    worker_.meta_batch().count_stored(uuid_hex_, peer_.ip, tc.type, tc.packets, tc.bytes);
  }
  m.pending_bytes.fetch_sub(static_cast<std::int64_t>(in_flight_.bytes), std::memory_order_relaxed);
  pending_gauge_ -= static_cast<std::int64_t>(in_flight_.bytes);
  worker_.memory_gate().add_stored(in_flight_.bytes);
  packets_stored_ += packets;
  bytes_stored_ += in_flight_.bytes;
  if (!first_confirmed_) {
    first_confirmed_ = true;
    // Reference: last 16 connections of the sensor, newest first, "<ip>-<YYYYmmddHHMMSS>".
    worker_.meta_batch().push_capped(keys::sensor_last_ips(uuid_hex_),
                                     peer_.ip + "-" + local_compact_time(wall_s()), 16);
  }
  batch_in_flight_ = false;
  pending_in_flight_size_ = 0;
  in_flight_.clear();
  // Reuse the request buffer's capacity for the next batch, but only while the sensor is sending:
  // an idle session must not keep a batch-sized buffer.
  if (batch_.resp.empty() && request.capacity() > batch_.resp.capacity() &&
      SteadyClock::now() - last_activity_ < std::chrono::milliseconds(100)) {
    request.clear();
    batch_.resp.swap(request);
  }
  if (batch_.packets > 0) submit_batch();
  wake();
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
  core::RespWriter(req)
      .command({"XLEN", stream_key_})
      .command({"HGET", keys::kBacklogBytesBySession, session_id_})
      .command({"HGET", keys::kBacklogBytesBySensor, uuid_hex_});
  worker_.stream().submit(std::move(req), 3, false,
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

void Session::uncount_duplicates(std::uint64_t bytes) {
  // A batch re-sent after a reconnect: its first execution stored and counted these packets.
  if (bytes == 0) return;
  std::string minus = "-" + std::to_string(bytes);
  std::string req;
  core::RespWriter(req)
      .command({"HINCRBY", keys::kBacklogBytesBySession, session_id_, minus})
      .command({"HINCRBY", keys::kBacklogBytesBySensor, uuid_hex_, minus});
  worker_.stream().submit(std::move(req), 2, false, [](error_code, core::RedisReplies&&) {});
}

void Session::check_timeouts(SteadyClock::time_point now) {
  if (closing_ || phase_ == Phase::Closing) return;
  const auto& rt = worker_.runtime();
  auto over = [&](SteadyClock::time_point since, std::chrono::seconds limit) {
    return limit.count() > 0 && now - since > limit;
  };
  if (phase_ == Phase::Handshake) {
    if (over(accepted_at_, rt.handshake_timeout))
      abort(Reject::handshake_timeout,
            "TLS handshake not completed in " + std::to_string(rt.handshake_timeout.count()) + " s");
    return;
  }
  if (paused_) return;  // not reading: idle and slowloris timers do not run
  if (!identified_ && over(ready_at_, rt.unidentified_timeout)) {
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
  if (identified_ && over(last_activity_, rt.idle_timeout))
    abort(Reject::idle_timeout, "no data for " + std::to_string(rt.idle_timeout.count()) + " s");
}

void Session::apply_policy(const Policy& p) {
  if (closing_) return;
  update_framer_options();
  if (auto m = p.blocked_ips.match(peer_.address)) {
    abort(Reject::blocked_ip, peer_.ip + " matches blacklist_ip entry " + *m);
    return;
  }
  if (!have_first_header_) return;
  if (p.uuid_ips_blocked(uuid_hex_)) {
    if (hmac_verified_) return block_peer_of_uuid();
    block_ip_after_auth_ = true;
  }
  if (p.uuid_blocked(uuid_hex_)) return abort(Reject::blocked_uuid, "uuid " + uuid_hex_ + " is blocked");
  if (!p.is_registered(uuid_hex_))
    return abort(Reject::unregistered, "uuid " + uuid_hex_ + " is no longer registered");
  if (auto it = p.uuid_kicks.find(uuid_hex_); it != p.uuid_kicks.end() && it->second >= start_ms_)
    return abort(Reject::kicked, "sensor kicked by an operator");
  if (auto it = p.type_kicks.find(type_); it != p.type_kicks.end() && it->second >= start_ms_)
    return abort(Reject::kicked, "every sensor of type " + type_text_ + " kicked by an operator");
  if (!identified_) return;
  if (!p.accepted_types.test(type_))
    return abort(Reject::type_not_accepted, "type " + type_text_ + " is no longer accepted");
  if (switched_ && !p.accepted_extended_types.count(meta_header_.result().type))
    return abort(Reject::extended_type_not_accepted,
                 "extended type \"" + printable(meta_header_.result().type) + "\" is no longer accepted");
  if (p.incorrect_sessions.count(session_id_))
    return abort(Reject::incorrect_type,
                 "a worker could not parse this session's data (Error:IncorrectType)");
}

void Session::abort(Reject reason, std::string detail) {
  if (closing_ || phase_ == Phase::Closing) return;
  closing_ = true;
  phase_ = Phase::Closing;
  reason_ = reason;
  reason_detail_ = std::move(detail);
  record_reject(reason, reason_detail_);
  transport_.close();
  wake();
}

void Session::shutdown() {
  if (closing_) return;
  closing_ = true;
  shutdown_ = true;
  phase_ = Phase::Closing;
  transport_.close();
  wake();
}

void Session::record_reject(Reject reason, const std::string& detail) {
  // The sensor's own record only once the peer proved it holds the sensor's key.
  std::string_view sensor = hmac_verified_ ? std::string_view(uuid_hex_) : std::string_view();
  std::string_view claimed = have_first_header_ ? std::string_view(uuid_hex_) : std::string_view();
  server::record_reject(worker_, reason, {peer_.address, peer_.ip, session_id_, sensor, claimed}, detail);
  std::string name(reject_name(reason));
  if (hmac_verified_) {
    spdlog::warn("session {}: sensor {} from {} closed: {} ({})", session_id_, uuid_hex_, peer_.ip, name,
                 printable(detail));
    return;
  }
  auto level = (reason == Reject::tls_handshake || reason == Reject::handshake_timeout) ? spdlog::level::debug
                                                                                        : spdlog::level::info;
  spdlog::log(level, "session {}: connection from {} refused: {} ({})", session_id_, peer_.ip, name,
              printable(detail));
}

// blacklist_ip_by_uuid (reference semantics: block every address the sensor comes from), applied
// once the peer proved it holds the sensor's key, so that nobody can grow blacklist_ip by naming
// the UUID from many addresses. The address (IPv6: its /64) joins blacklist_ip while the set holds
// fewer than auto_blocked_ips_max entries; the connection is refused either way.
void Session::block_peer_of_uuid() {
  std::string entry = peer_.address.is_v4() ? peer_.ip : core::source_network(peer_.address).to_string();
  worker_.meta_batch().add_member_capped(keys::kBlocklistIp, entry, worker_.runtime().auto_blocked_ips_max);
  worker_.flush_meta_soon();
  abort(Reject::blocked_ip_by_uuid,
        "uuid " + uuid_hex_ + " is in blacklist_ip_by_uuid; " + entry + " blocked");
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
  if (!transport_.peer_ended() || closing_) transport_.close();
  phase_ = Phase::Closing;  // no timeout or outage reject once the stream is over
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
  if (identified_ || packets_stored_) {
    spdlog::info("session {}: sensor {} type {} ended{}: {} packets, {} bytes stored", session_id_, uuid_hex_,
                 type_,
                 reason_ ? std::string(" (") + std::string(reject_name(*reason_)) + ")"
                         : std::string(shutdown_ ? " (shutdown)" : ""),
                 packets_stored_, bytes_stored_);
  }
}

// Stores everything that was accepted before the session ends.
asio::awaitable<void> Session::store_remaining() {
  if (!batch_in_flight_ && batch_.packets > 0) submit_batch();
  while (batch_in_flight_ || batch_.packets > 0) {
    wake_timer_.expires_after(std::chrono::seconds(1));
    error_code ec;
    co_await wake_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!batch_in_flight_ && batch_.packets > 0) submit_batch();
  }
}

void Session::drop_incorrect_session_data() {
  std::string req;
  core::RespWriter w(req);
  w.command({"DEL", keys::stream(type_text_, session_id_)});
  if (switched_) w.command({"DEL", keys::stream("2", session_id_)});
  w.command({"SREM", keys::kIncorrectTypeSessions, session_id_});
  worker_.stream().submit(std::move(req), switched_ ? 3 : 2, true, [](error_code, core::RedisReplies&&) {});
}

// Ends the session in Redis (ended_session for its worker, live-connection sets, the slot). Sent
// after the session's batches on the same connection, so it applies after them.
asio::awaitable<void> Session::release_slot() {
  if (!claimed_) co_return;
  std::string req;
  core::RespWriter(req)
      .begin(8)
      .arg("EVAL")
      .arg(scripts::close_script())
      .arg(std::uint64_t{0})
      .arg(session_id_)
      .arg(uuid_hex_)
      .arg(type_text_)
      .arg(worker_type_)
      .arg(worker_.instance());
  error_code ec;
  co_await worker_.stream().async_exec(std::move(req), 1, true,
                                       asio::redirect_error(asio::use_awaitable, ec));
}

// ---------------------------------------------------------------------------------------------
Worker::Worker(Server& server, unsigned index)
    : server_(server),
      index_(index),
      stream_(
          ioc_, server.config().common.redis.stream,
          core::AsyncRedis::Options{"stream-redis[" + std::to_string(index) + "]",
                                    std::chrono::milliseconds(2000), server.config().redis_reply_timeout,
                                    std::chrono::milliseconds(50), std::chrono::milliseconds(2000), 1 << 20}),
      meta_(
          ioc_, server.config().common.redis.meta,
          core::AsyncRedis::Options{"meta-redis[" + std::to_string(index) + "]",
                                    std::chrono::milliseconds(2000), server.config().redis_reply_timeout,
                                    std::chrono::milliseconds(50), std::chrono::milliseconds(2000), 1 << 20}),
      policy_(std::make_shared<Policy>()),
      runtime_(std::make_shared<RuntimeOptions>(server.config().runtime)),
      sweep_timer_(ioc_),
      flush_timer_(ioc_) {
  update_clock();
  apply_meta_limits();
}

Worker::~Worker() = default;

const ServerConfig& Worker::config() const {
  return server_.config();
}
const std::string& Worker::instance() const {
  return server_.instance();
}
ConnectionLimiter& Worker::limiter() {
  return server_.limiter();
}
UnauthenticatedBudget& Worker::unauthenticated_budget() {
  return server_.unauthenticated_budget();
}
MemoryGate& Worker::memory_gate() const {
  return server_.memory_gate();
}

void Worker::post_wake_held() {
  asio::post(ioc_, [this] {
    for (auto* s : sessions_) s->wake();
  });
}

void Worker::start() {
  stream_.on_state_change([this](bool up) {
    stream_up_ = up;
    if (up) ever_connected_ = true;
    stream_down_since_ = SteadyClock::now();
    if (up)
      for (auto* s : sessions_) s->wake();
  });
  meta_.on_state_change([this](bool up) { meta_up_ = up; });
  stream_.start();
  meta_.start();
  sweep();
  flush_timer_.expires_after(config().flush_interval);
  flush_timer_.async_wait([this](error_code ec) {
    if (!ec) flush_meta();
  });
}

void Worker::run() {
  auto guard = asio::make_work_guard(ioc_);
  for (;;) {
    try {
      ioc_.run();
      break;
    } catch (const std::exception& e) {
      spdlog::critical("worker {}: unhandled error: {}", index_, e.what());
    }
  }
}

void Worker::stop_loop() {
  ioc_.stop();
}

void Worker::post_session(asio::ip::tcp::socket socket, TlsContext tls, Peer peer) {
  session_count_.fetch_add(1, std::memory_order_relaxed);
  drained_ = false;
  asio::post(ioc_, [this, s = std::move(socket), tls = std::move(tls), peer = std::move(peer)]() mutable {
    auto session = std::make_shared<Session>(*this, std::move(s), std::move(tls), std::move(peer));
    if (shutting_down_) session->shutdown();
    asio::co_spawn(ioc_, Session::run(session), asio::detached);
  });
}

void Worker::remove_session(Session* s) {
  sessions_.remove(s);
  session_count_.fetch_sub(1, std::memory_order_relaxed);
  update_drained();
}

void Worker::post_policy(std::shared_ptr<const Policy> policy) {
  asio::post(ioc_, [this, p = std::move(policy)] {
    policy_ = p;
    for (auto* s : sessions_) s->apply_policy(*policy_);
  });
}

void Worker::post_runtime(std::shared_ptr<const RuntimeOptions> runtime) {
  asio::post(ioc_, [this, r = std::move(runtime)] {
    runtime_ = r;
    apply_meta_limits();
  });
}

void Worker::apply_meta_limits() {
  MetaBatch::Limits limits;
  limits.reject_sources_kept = runtime_->reject_sources_max;
  meta_batch_.set_limits(limits);
}

void Worker::post_shutdown() {
  asio::post(ioc_, [this] {
    shutting_down_ = true;
    for (auto* s : sessions_) s->shutdown();
    flush_meta();
    update_drained();
  });
}

void Worker::post_close_all(Reject reason, std::string detail) {
  asio::post(ioc_, [this, reason, d = std::move(detail)] {
    for (auto* s : sessions_) s->abort(reason, d);
  });
}

void Worker::update_clock() {
  long long now = wall_s();
  if (now / 60 != clock_second_ / 60 || today_.empty()) today_ = local_date(now);
  clock_second_ = now;
}

void Worker::update_drained() {
  bool d = sessions_.empty() && session_count_.load() == 0 && meta_batch_.empty() &&
           stream_.pending_requests() == 0 && meta_.pending_requests() == 0;
  drained_ = d;
}

void Worker::sweep() {
  update_clock();
  auto now = SteadyClock::now();
  // A long stream-Redis outage ends every session (paused or waiting for data): sensors reconnect
  // and resend; what was accepted stays queued here and is stored once Redis is back.
  auto outage_limit = runtime().redis_outage_close_after;
  bool outage =
      !stream_up_ && ever_connected_ && outage_limit.count() > 0 && now - stream_down_since_ > outage_limit;
  for (auto* s : sessions_) {
    if (outage)
      s->abort(Reject::redis_unavailable,
               "Redis unavailable for more than " + std::to_string(outage_limit.count()) + " s");
    s->check_timeouts(now);
    s->poll_backlog();
  }
  stream_pending_ = stream_.pending_requests();
  meta_pending_ = meta_.pending_requests();
  update_drained();
  sweep_timer_.expires_after(config().sweep_interval);
  sweep_timer_.async_wait([this](error_code ec) {
    if (!ec) sweep();
  });
}

void Worker::flush_meta_soon() {
  if (flush_soon_) return;
  flush_soon_ = true;
  asio::post(ioc_, [this] {
    flush_soon_ = false;
    flush_meta();
  });
}

// One flush in flight at a time: while the meta Redis is slow or down, events keep being
// aggregated (bounded) in the batch instead of queueing a request per interval.
void Worker::flush_meta() {
  if (flush_calls_in_flight_ == 0 && !meta_batch_.empty()) {
    auto requests = meta_batch_.take_requests(keys::flush_marker(instance(), std::to_string(index_)),
                                              flush_seq_, today_, wall_s());
    metrics_.flushes.fetch_add(1, std::memory_order_relaxed);
    flush_calls_in_flight_ = requests.size();
    for (auto& req : requests)
      meta_.submit(std::move(req), 1, /*retry_on_reconnect=*/true,
                   [this](error_code ec, core::RedisReplies&& rs) { on_flush_reply(ec, rs); });
  }
  flush_timer_.expires_after(config().flush_interval);
  flush_timer_.async_wait([this](error_code ec) {
    if (!ec) flush_meta();
  });
}

void Worker::on_flush_reply(error_code ec, const core::RedisReplies& rs) {
  if (flush_calls_in_flight_) --flush_calls_in_flight_;
  if (ec)
    spdlog::error("worker {}: statistics flush lost: {}", index_, ec.message());
  else if (!rs.empty() && rs[0].is_error())
    spdlog::error("worker {}: statistics flush refused: {}", index_, rs[0].str);
  else if (!rs.empty() && rs[0].elements.size() == 2)
    if (auto refused = rs[0].elements[1].as_integer(); refused && *refused > 0)
      metrics_.auto_blocks_refused.fetch_add(static_cast<std::uint64_t>(*refused), std::memory_order_relaxed);
  update_drained();
}

std::vector<RedisGauge> Worker::redis_gauges() const {
  std::vector<RedisGauge> out(2);
  out[0].name = "stream";
  out[0].worker = index_;
  out[0].connected = stream_up_;
  out[0].pending = stream_pending_;
  out[0].latency = stream_.latency().snapshot();
  out[1].name = "meta";
  out[1].worker = index_;
  out[1].connected = meta_up_;
  out[1].pending = meta_pending_;
  out[1].latency = meta_.latency().snapshot();
  return out;
}

}  // namespace d4::server
