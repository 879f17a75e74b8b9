#pragma once
// The one parser of listen addresses ("host:port", "[v6]:port", ":port") for every listener of
// every D4 process: sensors, metrics, query APIs, the web interface.
#include <cstdint>
#include <string>
#include <string_view>

namespace d4::core {

struct ListenAddress {
  std::string host;  // "::" (dual stack), "0.0.0.0", "127.0.0.1", "::1"...
  std::uint16_t port = 0;
  std::string to_string() const;  // IPv6 in brackets
};

// "host:port", "[v6]:port" or ":port" (all interfaces, dual stack). Port 0 asks the kernel for a
// free port. Throws core::ConfigError naming the text.
ListenAddress parse_listen_address(std::string_view text);

}  // namespace d4::core
