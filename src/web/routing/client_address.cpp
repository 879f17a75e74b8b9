#include "web/routing/client_address.hpp"
#include "protocol/text.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

namespace d4::web {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto p = s.find(sep);
    out.push_back(text::trim(s.substr(0, p)));
    if (p == std::string_view::npos) return out;
    s.remove_prefix(p + 1);
  }
}

// "192.0.2.1", "192.0.2.1:4711", "2001:db8::1", "[2001:db8::1]:4711", optionally quoted.
std::optional<core::IpAddress> parse_node(std::string_view node) {
  if (node.size() >= 2 && node.front() == '"' && node.back() == '"') node = node.substr(1, node.size() - 2);
  if (!node.empty() && node.front() == '[') {
    auto close = node.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return core::IpAddress::parse(node.substr(1, close - 1));
  }
  if (auto a = core::IpAddress::parse(node)) return a;
  auto colon = node.rfind(':');  // IPv4 with a port
  if (colon != std::string_view::npos && node.find(':') == colon)
    return core::IpAddress::parse(node.substr(0, colon));
  return std::nullopt;
}

// The for= parameter of one RFC 7239 element ("for=192.0.2.60;proto=http;by=203.0.113.43").
std::string_view forwarded_for(std::string_view element) {
  for (auto pair : split(element, ';')) {
    if (pair.size() > 4) {
      if (text::ascii_lower(pair.substr(0, 4)) == "for=") return pair.substr(4);
    }
  }
  return {};
}

bool trusted(const core::IpAddress& a, const std::vector<core::IpNetwork>& proxies) {
  return std::any_of(proxies.begin(), proxies.end(), [&](const auto& n) { return n.contains(a); });
}

}  // namespace

std::string client_address(std::string_view peer, std::string_view header, ForwardingHeader kind,
                           const std::vector<core::IpNetwork>& trusted_proxies) {
  auto current = core::IpAddress::parse(peer);
  if (!current) return std::string(peer);
  if (header.empty() || !trusted(*current, trusted_proxies)) return current->to_string();
  auto hops = split(header, ',');
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto node = parse_node(kind == ForwardingHeader::Forwarded ? forwarded_for(*it) : *it);
    // An entry our proxies wrote that is no address ("unknown", an obfuscated name): the last
    // trusted hop is all that is known.
    if (!node) break;
    current = node;
    if (!trusted(*current, trusted_proxies)) break;
  }
  return current->to_string();
}

}  // namespace d4::web
