#include "client/sender.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client/log.hpp"
#include "client/sink_stdout.hpp"

namespace d4::client {
namespace {

constexpr std::size_t kOutHighWater = 256 * 1024;  // bytes queued for the socket before pausing
constexpr int kAckPollMs = 10;                     // acknowledgement polling while data is in flight
constexpr auto kStableConnection = std::chrono::seconds(10);

int ms_until(std::chrono::steady_clock::time_point t, std::chrono::steady_clock::time_point now) {
  if (t <= now) return 0;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count() + 1;
  return static_cast<int>(std::min<long long>(ms, 60'000));
}

}  // namespace

NetworkSender::NetworkSender(const Settings& s, Spool& spool, Stats& stats, SessionInfo& session,
                             const StopState& stop, int wake_fd)
    : s_(s),
      spool_(spool),
      stats_(stats),
      session_(session),
      stop_(stop),
      wake_fd_(wake_fd),
      enc_(s.version, s.data_type, s.uuid, s.key),
      meta_enc_(s.version, 2, s.uuid, s.key),
      limiter_(s.rate_limit),
      rng_(std::random_device{}()) {
  if (s_.tls) tls_ctx_.emplace(s_);
  // The retained acknowledged packets must never fill the spool.
  resend_window_ = std::min<std::uint64_t>(s_.resend_acked, spool_.capacity() / 4);
}

NetworkSender::~NetworkSender() {
  close_socket();
}

void NetworkSender::close_socket() {
  tls_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::uint64_t NetworkSender::undelivered_packets() {
  std::uint64_t n = 0;
  std::uint64_t head = spool_.head();
  for (std::uint64_t p = ack_pos_; p != head;) {
    auto r = spool_.at(p);
    p = r.next;
    ++n;
  }
  return n;
}

// ---- connection management ----

void NetworkSender::begin_connect(Clock::time_point now) {
  std::string err;
  addrs_ = protocol::net::resolve(s_.host, s_.port, SOCK_STREAM, &err);
  addr_idx_ = 0;
  connect_errors_.clear();
  if (addrs_.empty()) {
    stats_.connect_failures.fetch_add(1);
    schedule_retry(now, "cannot connect to " + s_.destination_text() + ": " + err);
    return;
  }
  try_address(now);
}

void NetworkSender::try_address(Clock::time_point now) {
  while (addr_idx_ < addrs_.size()) {
    std::string err;
    fd_ = protocol::net::start_connect(addrs_[addr_idx_], &err);
    if (fd_ >= 0) {
      state_ = State::Connecting;
      deadline_ = now + s_.connect_timeout;
      log_debug("connecting to " + addrs_[addr_idx_].text);
      return;
    }
    connect_errors_ += (connect_errors_.empty() ? "" : "; ") + addrs_[addr_idx_].text + ": " + err;
    ++addr_idx_;
  }
  stats_.connect_failures.fetch_add(1);
  state_ = State::Idle;
  schedule_retry(now, "cannot connect to " + s_.destination_text() + ": " + connect_errors_);
}

void NetworkSender::address_failed(const std::string& why, Clock::time_point now) {
  connect_errors_ += (connect_errors_.empty() ? "" : "; ") + addrs_[addr_idx_].text + ": " + why;
  close_socket();
  out_.clear();
  out_off_ = 0;
  ++addr_idx_;
  try_address(now);
}

void NetworkSender::on_tcp_connected(Clock::time_point now) {
  configure_socket(fd_, SocketOptions{s_.keepalive, s_.user_timeout});
  out_.clear();
  out_off_ = 0;
  stream_bytes_ = written_ = 0;
  if (tls_ctx_) {
    tls_ = std::make_unique<TlsSession>(*tls_ctx_);
    state_ = State::Handshake;
    deadline_ = now + s_.connect_timeout;
    step_handshake(now);
  } else {
    on_up(now);
  }
}

void NetworkSender::step_handshake(Clock::time_point now) {
  auto st = tls_->handshake();
  stream_bytes_ += tls_->drain(out_);
  if (!flush_output()) return address_failed(reason_, now);
  if (st == TlsSession::Status::Failed) return address_failed(tls_->error(), now);
  if (st == TlsSession::Status::Done) on_up(now);
}

void NetworkSender::on_up(Clock::time_point now) {
  state_ = State::Up;
  up_since_ = now;
  stats_.connections.fetch_add(1);
  std::string how = tls_ ? tls_->describe() : std::string("plain TCP");
  if (tls_ && !tls_ctx_->verify()) how += ", certificate NOT verified";
  std::uint64_t pending = undelivered_packets();
  log_info("connected to " + s_.destination_text() + " (" + addrs_[addr_idx_].text + ", " + how + ")" +
           (pending ? "; sending " + std::to_string(pending) + " spooled packets" : std::string()));
  need_stream_header_ = s_.data_type == 1 && s_.chunking == Chunking::Record;
  if (s_.data_type == 254) {
    // A new session must announce its extended type before any type-254 packet.
    auto mh = metaheader_packets(s_, s_.fixed_timestamp ? *s_.fixed_timestamp : protocol::unix_seconds());
    append_plain(mh.data(), mh.size());
  }
}

void NetworkSender::disconnect(const std::string& reason, Clock::time_point now) {
  update_acks();  // last look at what the server's TCP acknowledged
  // Where the next connection starts. After a reset, everything still retained (the
  // --resend-acked window): a peer that dies with unread data in its socket resets the connection,
  // and that data was acknowledged but never read. Otherwise only what was not acknowledged, from
  // the last record boundary at or before it.
  std::uint64_t tail = spool_.tail();
  std::uint64_t start = tail;
  if (!reset_) {
    // The last record boundary at or before ack_pos_ (the head itself does not count: the next
    // packet may continue a record).
    for (std::uint64_t p = tail; p != ack_pos_;) {
      p = spool_.at(p).next;
      if (p != known_head_ && (spool_.at(p).desc->flags & PacketDesc::kBoundary)) start = p;
    }
  }
  std::uint64_t in_flight = 0;
  for (std::uint64_t p = start; p != sent_pos_;) {
    p = spool_.at(p).next;
    ++in_flight;
  }
  std::string what =
      "connection to " + s_.destination_text() + " lost: " + reason +
      (in_flight ? "; " + std::to_string(in_flight) + " packets not known to be delivered will be re-sent"
                 : std::string());
  close_socket();
  out_.clear();
  out_off_ = 0;
  stream_bytes_ = written_ = 0;
  resend_until_ = std::max(resend_until_, sent_pos_);
  if (start != tail) spool_.release(start);
  sent_pos_ = ack_pos_ = start;
  retained_bytes_ = 0;
  reset_ = false;
  stats_.disconnects.fetch_add(1);
  if (now - up_since_ >= kStableConnection) attempts_ = 0;
  state_ = State::Idle;
  schedule_retry(now, what);
}

void NetworkSender::schedule_retry(Clock::time_point now, const std::string& what) {
  if (s_.exit_on_connect_failure) {
    log_error(what + "; giving up (-rt 0)");
    fatal_ = true;
    return;
  }
  double base = static_cast<double>(s_.retry_min.count());
  for (int i = 0; i < attempts_ && base < static_cast<double>(s_.retry_max.count()); ++i) base *= 2;
  base = std::min(base, static_cast<double>(s_.retry_max.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  auto delay = std::chrono::milliseconds(static_cast<long long>(base * jitter(rng_)));
  ++attempts_;
  retry_at_ = now + delay;
  log_warn(what + "; retrying in " + std::to_string(delay.count()) + " ms");
}

// ---- data path ----

void NetworkSender::append_plain(const std::uint8_t* data, std::size_t n) {
  if (tls_) {
    if (!tls_->write(data, n)) {
      reason_ = tls_->error();
      return;
    }
    stream_bytes_ += tls_->drain(out_);
  } else {
    out_.insert(out_.end(), data, data + n);
    stream_bytes_ += n;
  }
}

bool NetworkSender::fill_output(Clock::time_point now) {
  while (out_.size() - out_off_ < kOutHighWater && sent_pos_ != known_head_) {
    if (limiter_.enabled() && limiter_.delay(now).count() > 0) break;
    Spool::Ref r = spool_.at(sent_pos_);
    if (need_stream_header_) {
      need_stream_header_ = false;
      if (!(r.desc->flags & PacketDesc::kStreamHeader)) {
        // A new pcap session: the server's worker expects the global header first.
        auto gh = session_.pcap_header();
        if (!gh.empty()) {
          std::vector<std::uint8_t> pkt;
          enc_.append_packet(pkt, gh, s_.fixed_timestamp ? *s_.fixed_timestamp : protocol::unix_seconds());
          append_plain(pkt.data(), pkt.size());
        }
      }
    }
    std::uint32_t size = r.desc->size;
    if (!(r.desc->flags & PacketDesc::kSigned)) {
      enc_.encode_header(std::span<std::uint8_t, protocol::kHeaderSize>(r.packet, protocol::kHeaderSize),
                         {r.packet + protocol::kHeaderSize, size}, r.desc->timestamp);
      r.desc->flags |= PacketDesc::kSigned;
    }
    reason_.clear();
    append_plain(r.packet, protocol::kHeaderSize + size);
    if (!reason_.empty()) return false;
    r.desc->stream_end = stream_bytes_;
    limiter_.consume(protocol::kHeaderSize + size, now);
    if (r.pos < resend_until_) {
      stats_.packets_resent.fetch_add(1, std::memory_order_relaxed);
    } else {
      stats_.packets_sent.fetch_add(1, std::memory_order_relaxed);
      stats_.bytes_sent.fetch_add(size, std::memory_order_relaxed);
    }
    sent_pos_ = r.next;
  }
  return true;
}

bool NetworkSender::flush_output() {
  while (out_off_ < out_.size()) {
    ssize_t w = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
    if (w > 0) {
      out_off_ += static_cast<std::size_t>(w);
      written_ += static_cast<std::uint64_t>(w);
      stats_.wire_bytes.fetch_add(static_cast<std::uint64_t>(w), std::memory_order_relaxed);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (w < 0 && (errno == ECONNRESET || errno == EPIPE)) reset_ = true;
    reason_ = std::string("write: ") + (w < 0 ? std::strerror(errno) : "no progress");
    return false;
  }
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  } else if (out_off_ >= (1u << 20)) {
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_off_));
    out_off_ = 0;
  }
  return true;
}

bool NetworkSender::read_input() {
  std::uint8_t buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      // One-way protocol: whatever the server sends is not interpreted.
      if (tls_) tls_->feed(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      reason_ = "closed by the server";
      if (tls_ && state_ == State::Up) {
        if (!tls_->discard_input()) reason_ += " (" + tls_->error() + ")";
        // Without close_notify the server went away abruptly (or refused us with an alert, e.g.
        // a TLS 1.3 client certificate it rejects after our handshake completed): what its TCP
        // acknowledged may never have been processed.
        if (!tls_->peer_closed_cleanly()) reset_ = true;
      }
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == ECONNRESET) reset_ = true;
    reason_ = std::string("read: ") + std::strerror(errno);
    return false;
  }
  if (tls_ && state_ == State::Up) {
    if (!tls_->discard_input()) {
      reason_ = tls_->error();
      if (!tls_->peer_closed_cleanly()) reset_ = true;
      return false;
    }
    stream_bytes_ += tls_->drain(out_);
  }
  return true;
}

void NetworkSender::update_acks() {
  if (fd_ < 0) return;
  long long a = peer_acked_bytes(fd_, written_);
  if (a < 0) return;
  auto acked = static_cast<std::uint64_t>(a);
  bool progressed = false;
  while (ack_pos_ != sent_pos_) {
    Spool::Ref r = spool_.at(ack_pos_);
    if (r.desc->stream_end > acked) break;
    retained_bytes_ += protocol::kHeaderSize + r.desc->size;
    if (r.pos >= delivered_pos_) {
      // First acknowledgement of this packet (a re-sent one was counted before).
      stats_.payload_delivered.fetch_add(r.desc->size, std::memory_order_release);
      delivered_pos_ = r.next;
    }
    ack_pos_ = r.next;
    stats_.packets_acked.fetch_add(1, std::memory_order_relaxed);
    progressed = true;
  }
  if (progressed) release_acked();
}

void NetworkSender::release_acked() {
  // Free acknowledged packets, but keep --resend-acked bytes of them, and always keep the spool's
  // tail on a record boundary so that a new connection can start there.
  std::uint64_t tail = spool_.tail();
  std::uint64_t p = tail, bytes = retained_bytes_;
  std::uint64_t new_tail = tail, new_bytes = bytes;
  while (p != ack_pos_) {
    Spool::Ref r = spool_.at(p);
    std::uint64_t w = protocol::kHeaderSize + r.desc->size;
    if (bytes - w < resend_window_) break;
    bytes -= w;
    p = r.next;
    if (p == known_head_) break;
    if (spool_.at(p).desc->flags & PacketDesc::kBoundary) {
      new_tail = p;
      new_bytes = bytes;
    }
  }
  if (new_tail != tail) {
    spool_.release(new_tail);
    retained_bytes_ = new_bytes;
  }
}

bool NetworkSender::begin_close(Clock::time_point now) {
  if (state_ != State::Up || fd_ < 0 || !tls_) return false;
  tls_->close_notify();
  stream_bytes_ += tls_->drain(out_);
  if (!flush_output()) return false;  // the connection is gone: nothing left to confirm
  ::shutdown(fd_, SHUT_WR);
  state_ = State::Closing;
  close_confirmed_ = false;
  deadline_ = now + s_.connect_timeout;
  if (stop_.requested()) deadline_ = std::min(deadline_, stop_.deadline());
  return true;
}

void NetworkSender::step_close(Clock::time_point now) {
  std::uint8_t buf[16384];
  bool eof = false;
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      tls_->feed(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    // A reset: the server closed with our packets (or our close_notify) unread in its socket.
    reset_ = true;
    disconnect(std::string("the server reset the session at its end (read: ") + std::strerror(errno) + ")",
               now);
    return;
  }
  if (!tls_->discard_input() && !tls_->peer_closed_cleanly()) {
    // A fatal alert, e.g. a refused client certificate: nothing of this session was processed.
    reset_ = true;
    disconnect("the server refused the session at its end (" + tls_->error() + ")", now);
    return;
  }
  if (eof || tls_->peer_closed_cleanly()) close_confirmed_ = true;
}

int NetworkSender::run() {
  known_head_ = spool_.head();
  sent_pos_ = ack_pos_ = spool_.tail();
  retry_at_ = Clock::now();
  auto next_stats = Clock::now() + s_.stats_interval;
  log_info("sending to " + s_.destination_text() + (s_.tls ? " over TLS" : " over plain TCP") +
           (s_.tls && !s_.verify ? " WITHOUT certificate verification" : ""));
  for (;;) {
    auto now = Clock::now();
    known_head_ = spool_.head();
    if (fatal_) return 1;
    if (state_ == State::Closing) {
      if (close_confirmed_ || now >= deadline_) {
        if (!close_confirmed_)
          log_warn(
              "the server did not close the session in time; what its TCP acknowledged counts as delivered");
        close_socket();
        state_ = State::Idle;
        log_info("all data delivered");
        return 0;
      }
    } else if (spool_.finished() && ack_pos_ == (known_head_ = spool_.head()) && out_off_ == out_.size()) {
      // The head is read again after the producer is seen finished: its last packets may have
      // been committed between the read at the top of the loop and finish().
      if (begin_close(now)) continue;
      if (state_ == State::Up && fd_ >= 0) ::shutdown(fd_, SHUT_WR);
      close_socket();
      state_ = State::Idle;
      log_info("all data delivered");
      return 0;
    }
    if (stop_.requested() && now >= stop_.deadline()) {
      log_error("grace time over: " + std::to_string(undelivered_packets()) +
                " packets not acknowledged by the server are lost");
      return 1;
    }
    if (s_.stats_interval.count() > 0 && now >= next_stats) {
      log_info(stats_.line(spool_.memory_used(), spool_.disk_used(), true));
      next_stats = now + s_.stats_interval;
    }

    switch (state_) {
      case State::Idle:
        if (now >= retry_at_) begin_connect(now);
        break;
      case State::Connecting:
        if (now >= deadline_) address_failed("connection timed out", now);
        break;
      case State::Handshake:
        if (now >= deadline_) address_failed("TLS handshake timed out", now);
        break;
      case State::Closing:
        break;
      case State::Up:
        if (!fill_output(now) || !flush_output()) {
          disconnect(reason_, now);
          break;
        }
        update_acks();
        break;
    }
    if (fatal_) return 1;

    // Wait for something to do.
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {fd_, 0, 0}};
    int timeout = 1000;
    if (s_.stats_interval.count() > 0) timeout = std::min(timeout, ms_until(next_stats, now));
    if (stop_.requested()) timeout = std::min(timeout, ms_until(stop_.deadline(), now));
    switch (state_) {
      case State::Idle:
        timeout = std::min(timeout, ms_until(retry_at_, now));
        break;
      case State::Connecting:
        fds[1].events = POLLOUT;
        timeout = std::min(timeout, ms_until(deadline_, now));
        break;
      case State::Handshake:
        fds[1].events = static_cast<short>(POLLIN | (out_off_ < out_.size() ? POLLOUT : 0));
        timeout = std::min(timeout, ms_until(deadline_, now));
        break;
      case State::Closing:
        fds[1].events = static_cast<short>(POLLIN | (out_off_ < out_.size() ? POLLOUT : 0));
        timeout = std::min(timeout, ms_until(deadline_, now));
        break;
      case State::Up: {
        fds[1].events = static_cast<short>(POLLIN | (out_off_ < out_.size() ? POLLOUT : 0));
        if (ack_pos_ != sent_pos_) timeout = std::min(timeout, kAckPollMs);
        auto d = limiter_.delay(now);
        if (d.count() > 0) {
          timeout = std::min(timeout, static_cast<int>(d.count() / 1'000'000 + 1));
        } else if (sent_pos_ == known_head_) {
          if (spool_.request_wakeup(sent_pos_)) timeout = 0;
        } else if (out_.size() - out_off_ < kOutHighWater) {
          timeout = 0;  // more to queue right away
        }
        break;
      }
    }
    int nfds = fds[1].fd >= 0 ? 2 : 1;
    int r = ::poll(fds, static_cast<nfds_t>(nfds), timeout);
    if (r < 0 && errno != EINTR) {
      log_error(std::string("poll: ") + std::strerror(errno));
      return 1;
    }
    if (r <= 0) continue;
    if (fds[0].revents & POLLIN) {
      std::uint64_t v;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &v, sizeof v);
    }
    if (nfds < 2 || fds[1].revents == 0) continue;
    now = Clock::now();
    switch (state_) {
      case State::Connecting: {
        int err = protocol::net::connect_result(fd_);
        if (err == 0)
          on_tcp_connected(now);
        else
          address_failed(std::strerror(err), now);
        break;
      }
      case State::Handshake: {
        bool open = true;
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) open = read_input();
        std::string why = reason_;
        // Process what arrived first: our own verdict on the server (e.g. certificate
        // verification) explains a failure better than the close that followed it.
        auto st = tls_->handshake();
        stream_bytes_ += tls_->drain(out_);
        if (st == TlsSession::Status::Failed) {
          address_failed(tls_->error(), now);
        } else if (!open) {
          address_failed("TLS handshake: " + why, now);
        } else if (!flush_output()) {
          address_failed(reason_, now);
        } else if (st == TlsSession::Status::Done) {
          on_up(now);
        }
        break;
      }
      case State::Up:
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
          if (!read_input()) {
            disconnect(reason_, now);
            break;
          }
        }
        break;
      case State::Closing:
        if (fds[1].revents & POLLOUT) flush_output();
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) step_close(now);
        break;
      case State::Idle:
        break;
    }
  }
}

}  // namespace d4::client
