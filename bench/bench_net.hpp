#pragma once
// Loopback connections for the load generators (d4-ingest-bench, d4-hostile-bench): TCP with an
// optional local source address (many 127.x.y.z sources on one machine), optional TLS without
// certificate verification (as sensors commonly run), blocking writes, and a minimal HTTP GET for
// the server's /metrics.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace d4::bench {

// A connected TCP socket to host:port (IPv4) from `source` (any when empty); -1 on failure.
inline int connect_to(const std::string& host, int port, const std::string& source = {}) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    throw std::invalid_argument("bad IPv4 address " + host);
  if (!source.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      ::close(fd);
      return -1;
    }
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
};

// `ctx` null: plain TCP. fd < 0 in the result when the connection or the handshake failed.
inline Conn open_conn(SSL_CTX* ctx, const std::string& host, int port, const std::string& source = {}) {
  Conn c;
  c.fd = connect_to(host, port, source);
  if (c.fd < 0) return c;
  if (ctx) {
    c.ssl = SSL_new(ctx);
    SSL_set_fd(c.ssl, c.fd);
    if (SSL_connect(c.ssl) != 1) {
      ERR_clear_error();
      SSL_free(c.ssl);
      ::close(c.fd);
      return Conn{};
    }
  }
  return c;
}

inline bool write_all(Conn& c, const std::uint8_t* p, std::size_t n) {
  while (n) {
    std::size_t w = 0;
    if (c.ssl) {
      if (SSL_write_ex(c.ssl, p, n, &w) != 1) {
        ERR_clear_error();
        return false;
      }
    } else {
      ssize_t r = ::send(c.fd, p, n, MSG_NOSIGNAL);
      if (r <= 0) return false;
      w = static_cast<std::size_t>(r);
    }
    p += w;
    n -= w;
  }
  return true;
}

inline void close_conn(Conn& c) {
  if (c.ssl) {
    SSL_shutdown(c.ssl);
    SSL_free(c.ssl);
  }
  if (c.fd >= 0) ::close(c.fd);
  c = Conn{};
}

inline SSL_CTX* client_tls_context() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);  // many idle connections stay small
  return ctx;
}

// Minimal HTTP GET on loopback (the server's /metrics); the body, empty on failure.
inline std::string http_get(int port, const std::string& path) {
  int fd = connect_to("127.0.0.1", port);
  if (fd < 0) return {};
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char buf[16384];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  auto body = resp.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : resp.substr(body + 4);
}

}  // namespace d4::bench
