#pragma once
// One sensor connection's byte stream: a TCP socket, optionally with TLS (OpenSSL on the socket's
// descriptor, readiness through Asio). Only reads: the server never sends application data.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/tls.hpp"

struct ssl_st;

namespace d4::server {

class Transport {
 public:
  // `tls` null: plain TCP.
  Transport(boost::asio::ip::tcp::socket socket, TlsContext tls);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // TLS handshake (no-op for plain TCP). False on failure, with the reason in error().
  boost::asio::awaitable<bool> handshake();
  // Waits for data, then returns everything available up to buf.size() without waiting again.
  // 0 means end of stream: clean if error() is empty, otherwise a transport error or close().
  boost::asio::awaitable<std::size_t> read_some(std::span<std::uint8_t> buf);
  // Whether a read would find data (or EOF/error) now, without consuming anything.
  bool readable_now();
  enum class Wait { Ready, Timeout, Closed };
  // Waits until readable_now() without holding a read buffer (idle sessions hold none). With a
  // timeout, returns Timeout when nothing arrived in time.
  boost::asio::awaitable<Wait> wait_readable(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // Closes the socket at once; a pending handshake/read returns. Idempotent.
  void close();

  bool closed() const { return closed_; }
  bool is_tls() const { return ssl_ != nullptr; }
  const std::string& error() const { return error_; }
  std::string tls_version() const;       // "TLSv1.3", empty for plain TCP
  std::string peer_certificate() const;  // subject of a verified client certificate, if any
  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  boost::asio::awaitable<bool> wait_read_ready();
  boost::asio::awaitable<bool> wait_write_ready();

  boost::asio::ip::tcp::socket socket_;
  TlsContext ctx_;
  ssl_st* ssl_ = nullptr;
  bool closed_ = false;
  std::string error_;
};

}  // namespace d4::server
