#include "server/transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

namespace asio = boost::asio;

namespace d4::server {

Transport::Transport(asio::ip::tcp::socket socket, TlsContext tls) : socket_(std::move(socket)), ctx_(std::move(tls)) {
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

asio::awaitable<bool> Transport::wait_readable() {
  boost::system::error_code ec;
  co_await socket_.async_wait(asio::socket_base::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec && !closed_;
}

asio::awaitable<bool> Transport::wait_writable() {
  boost::system::error_code ec;
  co_await socket_.async_wait(asio::socket_base::wait_write, asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec && !closed_;
}

asio::awaitable<bool> Transport::handshake() {
  if (closed_) co_return false;
  if (!ssl_) co_return true;
  for (;;) {
    ERR_clear_error();
    int r = SSL_accept(ssl_);
    if (r == 1) co_return true;
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ) {
      if (!co_await wait_readable()) break;
    } else if (err == SSL_ERROR_WANT_WRITE) {
      if (!co_await wait_writable()) break;
    } else {
      if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        error_ = errno ? std::string("TLS handshake: ") + std::strerror(errno) : "TLS handshake: connection closed";
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
  std::size_t total = 0;
  while (!closed_ && total < buf.size()) {
    std::size_t n = 0;
    if (ssl_) {
      ERR_clear_error();
      int r = SSL_read_ex(ssl_, buf.data() + total, buf.size() - total, &n);
      if (r == 1) {
        total += n;
        continue;
      }
      int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (total > 0) break;  // hand over what we have rather than wait
        bool ok = err == SSL_ERROR_WANT_READ ? co_await wait_readable() : co_await wait_writable();
        if (!ok) break;
        continue;
      }
      if (err == SSL_ERROR_ZERO_RETURN) break;  // clean end (or EOF without close_notify)
      if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        error_ = errno ? std::string("read: ") + std::strerror(errno) : std::string();
      else
        error_ = "TLS: " + openssl_error_text();
      break;
    }
    ssize_t r = ::recv(socket_.native_handle(), buf.data() + total, buf.size() - total, 0);
    if (r > 0) {
      total += static_cast<std::size_t>(r);
      continue;
    }
    if (r == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (total > 0) break;
      if (!co_await wait_readable()) break;
      continue;
    }
    error_ = std::string("read: ") + std::strerror(errno);
    break;
  }
  co_return total;
}

std::string Transport::tls_version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

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
