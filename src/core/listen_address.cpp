#include "core/listen_address.hpp"

#include <charconv>

#include "core/config.hpp"

namespace d4::core {

std::string ListenAddress::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

ListenAddress parse_listen_address(std::string_view text) {
  ListenAddress a;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw ConfigError("\"" + std::string(text) + "\" is not [address]:port");
    a.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      throw ConfigError("\"" + std::string(text) + "\" is not address:port");
    a.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (a.host.find(':') != std::string::npos)
      throw ConfigError("IPv6 addresses need brackets: \"[" + a.host + "]:port\"");
  }
  if (a.host.empty()) a.host = "::";
  int port = -1;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 0 || port > 65535)
    throw ConfigError("bad port in \"" + std::string(text) + "\"");
  a.port = static_cast<std::uint16_t>(port);
  return a;
}

}  // namespace d4::core
