#pragma once
// A D4 receiver for the end-to-end tests: a TLS (or plain TCP) server on 127.0.0.1 that accepts one
// connection at a time, reassembles packets with d4::protocol::Framer (HMAC verified) and keeps
// them per session. It can "crash" mid-stream: reset the connection without reading what is left
// in its socket, stop listening for a while, then listen again on the same port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "client_test_util.hpp"
#include "support/ports.hpp"
#include "support/test_pki.hpp"

namespace d4::test {

// The PKI of a test suite, made once in SetUpTestSuite and removed in TearDownTestSuite (making
// one costs several openssl runs, too slow for every test).
struct SuitePki {
  inline static std::unique_ptr<ClientTempDir> dir;
  inline static std::unique_ptr<TestPki> pki;
  static void make() {
    dir = std::make_unique<ClientTempDir>();
    pki = std::make_unique<TestPki>(dir->path());
  }
  static void remove() {
    pki.reset();
    dir.reset();
  }
};

struct ReceiverOptions {
  bool tls = true;
  std::string cert_file, key_file;
  std::string client_ca_file;  // when set, a client certificate signed by this CA is required
  int port = 0;                // 0: a port reserved for this test (support/ports.hpp)
  bool ipv6 = false;           // listen on [::1] instead of 127.0.0.1
};

struct Session {
  std::vector<RxPacket> packets;
  std::string error;
  bool ended = false;
  std::size_t payload_bytes() const {
    std::size_t n = 0;
    for (auto& p : packets) n += p.payload.size();
    return n;
  }
};

class Receiver {
 public:
  explicit Receiver(ReceiverOptions o) : opts_(std::move(o)) {
    ::signal(SIGPIPE, SIG_IGN);  // writes to a client that went away must not kill the test
    if (opts_.tls) {
      ctx_ = SSL_CTX_new(TLS_server_method());
      if (SSL_CTX_use_certificate_chain_file(ctx_, opts_.cert_file.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(ctx_, opts_.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::runtime_error("receiver: cannot load certificate");
      if (!opts_.client_ca_file.empty()) {
        SSL_CTX_load_verify_locations(ctx_, opts_.client_ca_file.c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      }
    }
    // A reserved port, not port 0: after a crash the receiver listens again on the same port, and
    // a port from the ephemeral range could meanwhile be the source port of an outgoing connection
    // (even the client's own attempt to reach it).
    listen_on(opts_.port != 0 ? opts_.port : free_port());
    thread_ = std::thread([this] { loop(); });
  }
  ~Receiver() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (ctx_) SSL_CTX_free(ctx_);
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  int port() const { return port_; }
  std::string destination() const { return (opts_.ipv6 ? "[::1]:" : "127.0.0.1:") + std::to_string(port_); }

  // After `bytes` payload bytes in the next session, crash: reset the connection, stay away for
  // `down`, then listen again on the same port.
  void crash_after(std::size_t bytes, std::chrono::milliseconds down) {
    crash_bytes_ = bytes;
    crash_down_ = down;
  }
  int crashes() const { return crashes_; }
  int handshake_failures() const { return handshake_failures_; }
  std::vector<Session> sessions() {
    std::lock_guard l(mu_);
    return sessions_;
  }
  std::size_t total_payload() {
    std::lock_guard l(mu_);
    std::size_t n = 0;
    for (auto& s : sessions_) n += s.payload_bytes();
    return n;
  }
  // After the client exited: waits until at least one session exists and every session ended
  // (the client's bytes may still sit in the receiver's socket when it exits).
  bool wait_sessions_ended(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait_until(
        [&] {
          std::lock_guard l(mu_);
          if (sessions_.empty()) return false;
          for (auto& s : sessions_)
            if (!s.ended) return false;
          return true;
        },
        timeout);
  }
  // Waits until `pred` holds, re-checked whenever the receiver's data changed (a session opened,
  // packets arrived, a session ended) and at least every 100 ms for predicates that also read
  // other state.
  bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    std::unique_lock l(change_mu_);
    for (;;) {
      std::uint64_t seen = generation_;
      l.unlock();
      bool ok = pred();
      l.lock();
      if (ok) return true;
      auto now = std::chrono::steady_clock::now();
      if (now >= end) return false;
      change_cv_.wait_until(l, std::min(end, now + std::chrono::milliseconds(100)),
                            [&] { return generation_ != seen; });
    }
  }

 private:
  void changed() {
    {
      std::lock_guard l(change_mu_);
      ++generation_;
    }
    change_cv_.notify_all();
  }

  void listen_on(int port) {
    int family = opts_.ipv6 ? AF_INET6 : AF_INET;
    listen_fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len;
    if (opts_.ipv6) {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
      a6->sin6_family = AF_INET6;
      a6->sin6_addr = in6addr_loopback;
      a6->sin6_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof(sockaddr_in6);
    } else {
      auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
      a4->sin_family = AF_INET;
      a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a4->sin_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof(sockaddr_in);
    }
    for (int i = 0; i < 200; ++i) {
      if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (::listen(listen_fd_, 8) != 0) throw std::runtime_error("receiver: listen failed");
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = opts_.ipv6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                       : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }

  void loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      handle(fd);
    }
  }

  // Waits for readability, or returns false on stop / 30 s of silence.
  bool wait_readable(int fd, SSL* ssl) {
    for (int waited = 0; waited < 30000; waited += 50) {
      if (stop_) return false;
      if (ssl && SSL_pending(ssl) > 0) return true;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }

  void handle(int fd) {
    timeval tv{0, 200000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = nullptr;
    if (ctx_) {
      ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      int rc = 0;
      for (int i = 0; i < 50 && !stop_; ++i) {
        ERR_clear_error();
        rc = SSL_accept(ssl);
        if (rc == 1) break;
        int e = SSL_get_error(ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE &&
            !(e == SSL_ERROR_SYSCALL && errno == EAGAIN))
          break;
      }
      if (rc != 1) {
        ++handshake_failures_;
        SSL_free(ssl);
        ::close(fd);
        changed();
        return;
      }
    }
    std::size_t index;
    {
      std::lock_guard l(mu_);
      sessions_.emplace_back();
      index = sessions_.size() - 1;
    }
    changed();
    protocol::Framer framer;
    framer.set_key(protocol::HmacKey(kTestKey));
    std::size_t bytes = 0;
    std::uint8_t buf[65536];
    for (;;) {
      if (!wait_readable(fd, ssl)) break;
      ssize_t n;
      if (ssl) {
        ERR_clear_error();
        int r = SSL_read(ssl, buf, sizeof buf);
        if (r <= 0) {
          int e = SSL_get_error(ssl, r);
          if (e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && errno == EAGAIN)) continue;
          break;
        }
        n = r;
      } else {
        n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) break;
      }
      framer.feed({buf, static_cast<std::size_t>(n)});
      protocol::Packet p;
      std::unique_lock l(mu_);
      while (framer.next(p) == protocol::Framer::Status::Ready) {
        sessions_[index].packets.push_back({p.header, {p.payload.begin(), p.payload.end()}});
        bytes += p.payload.size();
      }
      if (framer.error() != protocol::FrameError::None) {
        sessions_[index].error = framer.error_detail();
        break;
      }
      if (!(crash_bytes_ > 0 && bytes >= crash_bytes_)) {
        l.unlock();
        changed();
      } else {
        crash_bytes_ = 0;
        sessions_[index].ended = true;
        ++crashes_;
        // Crash: reset (unread data is discarded), stop listening for a while.
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        if (ssl) SSL_free(ssl);
        ::close(fd);
        ::close(listen_fd_);
        listen_fd_ = -1;
        l.unlock();
        changed();
        std::this_thread::sleep_for(crash_down_);  // the fault injected: down for this long
        listen_on(port_);
        return;
      }
    }
    {
      std::lock_guard l(mu_);
      sessions_[index].ended = true;
    }
    changed();
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    ::close(fd);
  }

  ReceiverOptions opts_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> crash_bytes_{0};
  std::chrono::milliseconds crash_down_{0};
  std::atomic<int> crashes_{0};
  std::atomic<int> handshake_failures_{0};
  std::mutex mu_;
  std::vector<Session> sessions_;
  std::mutex change_mu_;  // guards generation_, which counts changes of sessions_
  std::condition_variable change_cv_;
  std::uint64_t generation_ = 0;
};

}  // namespace d4::test
