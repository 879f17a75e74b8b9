#include "server/transport.hpp"

#include "server/proxy_protocol.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

namespace asio = boost::asio;

namespace d4::server {

Transport::Transport(asio::ip::tcp::socket socket, TlsContext tls)
    : socket_(std::move(socket)), ctx_(std::move(tls)) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  if (ctx_) {
    ssl_ = SSL_new(ctx_.get());
    if (!ssl_ || SSL_set_fd(ssl_, socket_.native_handle()) != 1) {
      error_ = "TLS setup: " + openssl_error_text();
      close();
    }
  }
}

Transport::~Transport() {
  close();
  if (ssl_) SSL_free(ssl_);
}

void Transport::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.close(ec);  // completes pending waits with operation_aborted
}

void Transport::close_after_peer_end() {
  if (ssl_ && !closed_ && peer_ended_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues and sends our close_notify; never waits
    ERR_clear_error();
  }
  close();
}

// A wait aborted while the socket is still open (a cancel meant for another wait) is retried.
asio::awaitable<bool> Transport::wait_read_ready() {
  for (;;) {
    boost::system::error_code ec;
    co_await socket_.async_wait(asio::socket_base::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) co_return false;
    if (ec == asio::error::operation_aborted) continue;
    co_return !ec;
  }
}

asio::awaitable<bool> Transport::wait_write_ready() {
  for (;;) {
    boost::system::error_code ec;
    co_await socket_.async_wait(asio::socket_base::wait_write, asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) co_return false;
    if (ec == asio::error::operation_aborted) continue;
    co_return !ec;
  }
}

bool Transport::readable_now() {
  if (closed_ || peer_ended_) return true;
  if (ssl_ && SSL_pending(ssl_) > 0) return true;
  char c;
  ssize_t r = ::recv(socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r >= 0) return true;  // data, or EOF for the reader to report
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
  // The kernel reports a socket error once: keep it for read_some (a reset peer is not a clean EOF).
  read_errno_ = errno;
  error_ = std::string("read: ") + std::strerror(errno);
  return true;
}

asio::awaitable<Transport::Wait> Transport::wait_readable(std::chrono::milliseconds timeout) {
  if (readable_now()) co_return closed_ ? Wait::Closed : Wait::Ready;
  // The timer cancels this socket wait only: its handler may run after the wait completed (both
  // were already queued), and must then not cancel a later operation on the socket.
  struct TimerState {
    explicit TimerState(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    bool waiting = true;
    bool fired = false;
  };
  std::shared_ptr<TimerState> t;
  if (timeout.count() > 0) {
    t = std::make_shared<TimerState>(socket_.get_executor());
    t->timer.expires_after(timeout);
    t->timer.async_wait([t, this](boost::system::error_code ec) {
      if (ec || !t->waiting || closed_) return;
      t->fired = true;
      boost::system::error_code ignored;
      socket_.cancel(ignored);
    });
  }
  boost::system::error_code ec;
  co_await socket_.async_wait(asio::socket_base::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  if (t) {
    t->waiting = false;
    t->timer.cancel();
  }
  if (closed_) co_return Wait::Closed;
  if (t && t->fired) co_return Wait::Timeout;
  co_return Wait::Ready;
}

// Peeks at the first bytes once they arrived (one recv per handshake step until then, at
// connection start only), so that a failed handshake can say whether a PROXY header caused it.
void Transport::look_at_first_bytes() {
  std::array<std::uint8_t, proxy::kSignature.size()> first{};
  ssize_t r = ::recv(socket_.native_handle(), first.data(), first.size(), MSG_PEEK | MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // nothing yet
  first_bytes_seen_ = true;
  if (r < 0) return;  // an error, which the handshake reports
  began_with_proxy_header_ =
      proxy::starts_like_proxy_header(std::span(first).first(static_cast<std::size_t>(r)));
}

bool Transport::at_end_of_stream() {
  if (closed_) return false;
  char c;
  ssize_t r = ::recv(socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno == ECONNRESET);
}

asio::awaitable<std::size_t> Transport::read_before_tls(std::span<std::uint8_t> buf) {
  co_return co_await read_socket(buf, SocketRead::UntilFull);
}

// The one recv loop of both plain reads. Never reads past buf, so that bytes behind it (the TLS
// handshake behind a PROXY header) stay in the socket.
asio::awaitable<std::size_t> Transport::read_socket(std::span<std::uint8_t> buf, SocketRead until) {
  std::size_t total = 0;
  while (!closed_ && total < buf.size()) {
    ssize_t r = ::recv(socket_.native_handle(), buf.data() + total, buf.size() - total, 0);
    if (r > 0) {
      total += static_cast<std::size_t>(r);
      continue;
    }
    if (r == 0) {
      peer_ended_ = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (until == SocketRead::UntilDrained && total > 0) break;  // hand over what we have
      if (!co_await wait_read_ready()) break;
      continue;
    }
    read_errno_ = errno;
    error_ = std::string("read: ") + std::strerror(errno);
    break;
  }
  co_return total;
}

asio::awaitable<bool> Transport::handshake() {
  if (closed_) co_return false;
  if (!ssl_) co_return true;
  for (;;) {
    if (!first_bytes_seen_) {
      look_at_first_bytes();
      // The client speaks first in TLS, so there is nothing to accept before its first bytes; and
      // bytes that arrived between the peek and SSL_accept would be read by the handshake unseen,
      // and a stray PROXY header reported as a TLS error.
      if (!first_bytes_seen_) {
        if (!co_await wait_read_ready()) break;
        continue;
      }
    }
    ERR_clear_error();
    int r = SSL_accept(ssl_);
    if (r == 1) co_return true;
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ) {
      if (!co_await wait_read_ready()) break;
    } else if (err == SSL_ERROR_WANT_WRITE) {
      if (!co_await wait_write_ready()) break;
    } else {
      if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        error_ = errno ? std::string("TLS handshake: ") + std::strerror(errno)
                       : "TLS handshake: connection closed";
      else
        error_ = "TLS handshake: " + openssl_error_text();
      close();
      co_return false;
    }
  }
  if (error_.empty()) error_ = "closed during the TLS handshake";
  co_return false;
}

asio::awaitable<std::size_t> Transport::read_some(std::span<std::uint8_t> buf) {
  if (!error_.empty() || peer_ended_) co_return 0;
  if (!ssl_) co_return co_await read_socket(buf, SocketRead::UntilDrained);
  std::size_t total = 0;
  while (!closed_ && total < buf.size()) {
    std::size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(ssl_, buf.data() + total, buf.size() - total, &n);
    if (r == 1) {
      total += n;
      continue;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (total > 0) break;  // hand over what we have rather than wait
      bool ok = false;       // (no co_await inside ?: — GCC 12 miscompiles it)
      if (err == SSL_ERROR_WANT_READ)
        ok = co_await wait_read_ready();
      else
        ok = co_await wait_write_ready();
      if (!ok) break;
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify (or EOF without one)
      peer_ended_ = true;
      break;
    }
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      read_errno_ = errno;
      if (errno)
        error_ = std::string("read: ") + std::strerror(errno);
      else
        peer_ended_ = true;
    } else {
      error_ = "TLS: " + openssl_error_text();
    }
    break;
  }
  co_return total;
}

std::string Transport::tls_version() const {
  return ssl_ ? SSL_get_version(ssl_) : "";
}

std::string Transport::peer_certificate() const {
  if (!ssl_) return {};
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return {};
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  X509_free(cert);
  return buf;
}

}  // namespace d4::server
