#pragma once
// Plumbing shared by the sinks of d4-export (sink_*.cpp): addresses, connecting, sending whole
// buffers, and turning a queue element into the bytes to send.
#include <string>
#include <string_view>

#include "protocol/net_connect.hpp"
#include "queues/export/sinks.hpp"

namespace d4::queues::sink_io {

std::string errno_text();

using HostPort = protocol::net::HostPort;
// "host:port" or "[v6]:port" (protocol::net::split_host_port); throws std::invalid_argument.
HostPort split_host_port(std::string_view s);
// Connected socket (SOCK_STREAM gets keepalive and TCP_NODELAY); throws SinkError.
int connect_inet(const HostPort& hp, int socktype);
int connect_unix(const std::string& path, int socktype);
// Sends all of `data` or throws SinkError.
void send_all(int fd, std::string_view data);
// Turns an element into the bytes to send (file contents, newline).
std::string payload(std::string_view element, const SinkOptions& o);

}  // namespace d4::queues::sink_io
