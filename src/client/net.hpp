#pragma once
// TCP plumbing of the network destination: name resolution (every A and AAAA record), non-blocking
// connect, socket options (keepalive, TCP_USER_TIMEOUT, TCP_NODELAY) and the count of bytes the
// peer's TCP has acknowledged.
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace d4::client {

struct Address {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // "192.0.2.1:4443" or "[2001:db8::1]:4443"
};

// All addresses of host:port, IPv6 and IPv4 interleaved in resolver order. Sets *error on failure.
std::vector<Address> resolve(const std::string& host, const std::string& port, std::string* error);

// Starts a non-blocking connect. Returns the socket (connect in progress or done), or -1.
int start_connect(const Address& a, std::string* error);
// After the socket became writable: 0 when connected, else the errno value.
int connect_result(int fd);

struct SocketOptions {
  std::chrono::milliseconds keepalive{30'000};  // 0: off
  std::chrono::milliseconds user_timeout{60'000};
};
void configure_socket(int fd, const SocketOptions& o);

// How many of the `written` bytes the peer's TCP has acknowledged (TCP_INFO tcpi_bytes_acked, or
// written minus SIOCOUTQ on kernels without it). Returns -1 when unknown.
long long peer_acked_bytes(int fd, std::uint64_t written);

}  // namespace d4::client
