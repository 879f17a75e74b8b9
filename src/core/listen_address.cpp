#include "core/listen_address.hpp"

#include <charconv>

#include "core/config.hpp"
#include "protocol/net_connect.hpp"

namespace d4::core {

std::string ListenAddress::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

ListenAddress parse_listen_address(std::string_view text) {
  ListenAddress a;
  std::string why;
  auto hp = protocol::net::split_host_port(text, &why);
  if (!hp) throw ConfigError("\"" + std::string(text) + "\" is not address:port or [address]:port: " + why);
  a.host = hp->host.empty() ? "::" : hp->host;
  std::string_view port_text = hp->port;
  int port = -1;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 0 || port > 65535)
    throw ConfigError("bad port in \"" + std::string(text) + "\"");
  a.port = static_cast<std::uint16_t>(port);
  return a;
}

}  // namespace d4::core
