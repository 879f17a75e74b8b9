#pragma once
// One sensor connection's byte stream: a TCP socket, optionally with TLS (OpenSSL on the socket's
// descriptor, readiness through Asio). Only reads: the server never sends application data.
#include <cerrno>
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
  // Reads exactly buf.size() bytes from the socket itself, before any TLS (a PROXY protocol
  // header, which precedes the TLS handshake); fewer at end of stream, on an error (error()) or
  // close(). Never reads past buf, so the TLS bytes behind stay in the socket.
  boost::asio::awaitable<std::size_t> read_before_tls(std::span<std::uint8_t> buf);
  // Whether the peer ended the stream (FIN or reset) with nothing left to read (a balancer's
  // health check that closes after its header). Consumes nothing.
  bool at_end_of_stream();
  // The connection's first bytes, seen by a failed TLS handshake, started a PROXY protocol header:
  // a balancer sending one from an address not configured to send it.
  bool began_with_proxy_header() const { return began_with_proxy_header_; }
  // Waits for data, then returns everything available up to buf.size() without waiting again.
  // 0 means end of stream: clean if error() is empty, otherwise a transport error or close().
  // An end seen after data in the same call (close_notify or FIN right behind the last record,
  // as socat and `openssl s_client` send it) is remembered: the data is returned now and the
  // next call returns 0 at once, without waiting on a socket that will never be readable again.
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
  // After the peer ended the stream: answers its close_notify with ours (one non-blocking
  // attempt, so a peer that waits for it, like socat, exits at once), then close().
  void close_after_peer_end();

  bool closed() const { return closed_; }
  // The peer ended the stream cleanly (close_notify, or FIN without one).
  bool peer_ended() const { return peer_ended_; }
  // The stream ended with a TCP reset (ECONNRESET): the peer's process died or it aborted.
  bool peer_reset() const { return read_errno_ == ECONNRESET; }
  bool is_tls() const { return ssl_ != nullptr; }
  const std::string& error() const { return error_; }
  std::string tls_version() const;       // "TLSv1.3", empty for plain TCP
  std::string peer_certificate() const;  // subject of a verified client certificate, if any
  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  // How far a read from the socket itself (no TLS) goes before it returns (besides the end of the
  // stream, an error or close()): until buf is full (a PROXY header, waiting for its rest), or
  // until the socket has nothing more once some data arrived (the plain listener's read_some).
  enum class SocketRead { UntilFull, UntilDrained };
  boost::asio::awaitable<std::size_t> read_socket(std::span<std::uint8_t> buf, SocketRead until);
  boost::asio::awaitable<bool> wait_read_ready();
  boost::asio::awaitable<bool> wait_write_ready();
  void look_at_first_bytes();

  boost::asio::ip::tcp::socket socket_;
  TlsContext ctx_;
  ssl_st* ssl_ = nullptr;
  bool closed_ = false;
  bool peer_ended_ = false;
  bool first_bytes_seen_ = false;
  bool began_with_proxy_header_ = false;
  int read_errno_ = 0;  // errno of the read error in error_, 0 for TLS protocol errors
  std::string error_;
};

}  // namespace d4::server
