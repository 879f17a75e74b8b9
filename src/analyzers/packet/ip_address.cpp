#include "analyzers/packet/ip_address.hpp"

#include <arpa/inet.h>

namespace d4::analyzers::packet {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN + 1) return std::nullopt;
  char buf[INET6_ADDRSTRLEN + 2];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
    a.family = 4;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  a.family = 6;
  return a;
}

void IpAddress::append_to(std::string& out) const {
  if (family == 4) {
    char buf[16];
    char* p = buf;
    for (int i = 0; i < 4; ++i) {
      unsigned v = bytes[static_cast<std::size_t>(i)];
      if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
      if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
      if (i < 3) *p++ = '.';
    }
    out.append(buf, static_cast<std::size_t>(p - buf));
  } else if (family == 6) {
    char buf[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf)) out.append(buf);
  }
}

std::string IpAddress::to_string() const {
  std::string s;
  append_to(s);
  return s;
}

std::string normalize_ip_text(std::string_view text) {
  auto a = IpAddress::parse(text);
  return a ? a->to_string() : std::string(text);
}

}  // namespace d4::analyzers::packet
