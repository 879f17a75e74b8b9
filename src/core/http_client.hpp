#pragma once
// A bounded HTTP/1.1 GET (Boost.Beast on Asio): resolving, connecting, writing and reading all end at
// one deadline, and the body is capped. For reading another daemon's plain-HTTP endpoint (d4-web
// shows d4-server's /metrics); not a general client.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace d4::core::http {

struct GetTarget {
  std::string host, port;   // where to connect (IPv6 without brackets)
  std::string host_header;  // the Host header, e.g. "127.0.0.1:9100"
  std::string path = "/";
};

// The body of a 200 answer, or nullopt on any failure (resolution, connection, deadline, another
// status, a body larger than `max_body`).
std::optional<std::string> get_body(const GetTarget& target, std::chrono::milliseconds timeout,
                                    std::size_t max_body = 4u << 20);

}  // namespace d4::core::http
