#pragma once
// Resolve-and-connect on plain sockets, one copy for the project: the sensor client's destination
// and Redis source (non-blocking connects driven by its poll loops), d4-export's socket sinks,
// d4-web's read of d4-server's metrics and d4-stack's port probe (blocking connects, optionally
// bounded). In the protocol library because the static sensor client links nothing else.
// (Asio code connects with Asio's and Beast's own resolver and async_connect.)
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace d4::protocol::net {

// "host:port" or "[v6]:port" split into the host (brackets removed) and the port's text, without a
// lookup: the one splitter of destinations and listen addresses. nullopt, with the reason in *error
// ("missing port", "missing ']'", "IPv6 addresses must be written in brackets"), when `text` is not
// of that form. The host may be empty (":port"): what that means is the caller's choice.
struct HostPort {
  std::string host, port;
};
std::optional<HostPort> split_host_port(std::string_view text, std::string* error);

struct SocketAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int socktype = SOCK_STREAM;
  int protocol = 0;
  std::string text;  // "192.0.2.1:4443" or "[2001:db8::1]:4443"
};

// Every address of host:port for `socktype` (SOCK_STREAM or SOCK_DGRAM), IPv6 and IPv4 in resolver
// order, duplicates dropped. Empty, with *error set, when the name does not resolve.
std::vector<SocketAddress> resolve(const std::string& host, const std::string& port, int socktype,
                                   std::string* error);

// Starts a non-blocking connect (for poll loops). Returns the socket (connect in progress or done),
// or -1 with *error set.
int start_connect(const SocketAddress& a, std::string* error);
// After the socket became writable: 0 when connected, else the errno value.
int connect_result(int fd);

// A blocking socket connected to the first of `addresses` that accepts, each attempt bounded by
// `timeout` (zero: the kernel's own). -1, with every address's failure in *error, when none does.
int connect_any(const std::vector<SocketAddress>& addresses, std::chrono::milliseconds timeout,
                std::string* error);

// resolve() then connect_any().
int connect_to(const std::string& host, const std::string& port, int socktype,
               std::chrono::milliseconds timeout, std::string* error);

}  // namespace d4::protocol::net
