#pragma once
// A compact IPv4/IPv6 address for packet processing: the family plus 16 bytes, copied by value in
// hot loops. Text rendering follows inet_ntop (dotted quad; RFC 5952 for IPv6, lower case, longest
// zero run compressed), which is also the normalised form stored in Redis by the analyzers.
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace d4::analyzers::packet {

struct IpAddress {
  std::uint8_t family = 0;  // 4, 6, or 0 when unset
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4(const std::uint8_t* p) {
    IpAddress a;
    a.family = 4;
    std::memcpy(a.bytes.data(), p, 4);
    return a;
  }
  static IpAddress v4_host(std::uint32_t host_order) {
    IpAddress a;
    a.family = 4;
    a.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
    a.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
    a.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
    a.bytes[3] = static_cast<std::uint8_t>(host_order);
    return a;
  }
  static IpAddress v6(const std::uint8_t* p) {
    IpAddress a;
    a.family = 6;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
  }
  // Accepts dotted IPv4 and any textual IPv6 form; nullopt otherwise.
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_v4() const { return family == 4; }
  bool is_v6() const { return family == 6; }
  // The IPv4 address as a host-order integer (0 for IPv6).
  std::uint32_t v4_value() const {
    if (family != 4) return 0;
    return static_cast<std::uint32_t>(bytes[0]) << 24 | static_cast<std::uint32_t>(bytes[1]) << 16 |
           static_cast<std::uint32_t>(bytes[2]) << 8 | bytes[3];
  }
  std::string to_string() const;
  // Appends the text form to `out` without allocating a temporary.
  void append_to(std::string& out) const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

// Normalises an address given as text (e.g. "2001:DB8:0:0::1" -> "2001:db8::1"); returns the
// input unchanged when it is not an address.
std::string normalize_ip_text(std::string_view text);

}  // namespace d4::analyzers::packet

template <>
struct std::hash<d4::analyzers::packet::IpAddress> {
  std::size_t operator()(const d4::analyzers::packet::IpAddress& a) const noexcept {
    std::uint64_t lo, hi;
    std::memcpy(&lo, a.bytes.data(), 8);
    std::memcpy(&hi, a.bytes.data() + 8, 8);
    std::uint64_t h = (lo ^ (hi * 0x9E3779B97F4A7C15ULL) ^ a.family) * 0xBF58476D1CE4E5B9ULL;
    return static_cast<std::size_t>(h ^ (h >> 31));
  }
};
