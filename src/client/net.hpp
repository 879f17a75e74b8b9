#pragma once
// TCP plumbing of the network destination (name resolution and non-blocking connects are the
// protocol library's, protocol/net_connect.hpp): socket options (keepalive, TCP_USER_TIMEOUT, TCP_NODELAY)
// and the count of bytes the peer's TCP has acknowledged.
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/net_connect.hpp"

namespace d4::client {

// Resolving and connecting: protocol/net_connect.hpp.
using Address = protocol::net::SocketAddress;

struct SocketOptions {
  std::chrono::milliseconds keepalive{30'000};  // 0: off
  std::chrono::milliseconds user_timeout{60'000};
};
void configure_socket(int fd, const SocketOptions& o);

// How many of the `written` bytes the peer's TCP has acknowledged (TCP_INFO tcpi_bytes_acked, or
// written minus SIOCOUTQ on kernels without it). Returns -1 when unknown.
long long peer_acked_bytes(int fd, std::uint64_t written);

}  // namespace d4::client
