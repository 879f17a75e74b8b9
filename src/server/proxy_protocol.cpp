#include "server/proxy_protocol.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

namespace d4::server::proxy {

namespace {

constexpr std::uint8_t kVersion2 = 0x2;
constexpr std::uint8_t kFamilyInet = 0x1, kFamilyInet6 = 0x2;
constexpr std::uint8_t kTransportStream = 0x1;
constexpr std::string_view kVersion1Start = "PROXY ";

std::uint16_t big_endian16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

}  // namespace

std::optional<Fixed> parse_fixed(std::span<const std::uint8_t, kFixedSize> bytes, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<Fixed> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  if (!std::equal(kSignature.begin(), kSignature.end(), bytes.begin())) {
    if (std::equal(kVersion1Start.begin(), kVersion1Start.end(), bytes.begin(),
                   [](char c, std::uint8_t b) { return static_cast<std::uint8_t>(c) == b; }))
      return fail("PROXY protocol version 1 (text) is not accepted: configure the balancer for version 2");
    if (bytes[0] == 0x16) return fail("no PROXY protocol header: the connection starts with a TLS handshake");
    return fail("no PROXY protocol v2 signature");
  }
  const std::uint8_t version = bytes[12] >> 4, command = bytes[12] & 0x0F;
  if (version != kVersion2) return fail("PROXY protocol version " + std::to_string(version) + " is unknown");
  if (command > 1) return fail("PROXY protocol command " + std::to_string(command) + " is unknown");
  Fixed f;
  f.command = command == 0 ? Command::Local : Command::Proxy;
  f.family = bytes[13];
  f.length = big_endian16(bytes.data() + 14);
  if (f.length > kMaxLength)
    return fail("PROXY header declares " + std::to_string(f.length) +
                " bytes of addresses and TLVs, more than " + std::to_string(kMaxLength));
  return f;
}

std::optional<Source> parse_source(const Fixed& fixed, std::span<const std::uint8_t> block,
                                   std::string* error) {
  auto fail = [&](std::string why) -> std::optional<Source> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  const std::uint8_t family = fixed.family >> 4, transport = fixed.family & 0x0F;
  if (transport != kTransportStream || (family != kFamilyInet && family != kFamilyInet6))
    return fail(fmt::format(
        "PROXY header family 0x{:02x} is not TCP over IPv4 or IPv6: the sensor's address is unknown",
        fixed.family));
  const bool v6 = family == kFamilyInet6;
  const std::size_t need = v6 ? kTcp6AddressSize : kTcp4AddressSize;
  if (fixed.length < need || block.size() < need)
    return fail("PROXY header's address block has " + std::to_string(fixed.length) + " bytes, " +
                (v6 ? "TCP over IPv6" : "TCP over IPv4") + " needs " + std::to_string(need));
  // Source address, destination address, source port, destination port.
  Source s;
  if (v6) {
    core::IpAddress::Bytes b{};
    std::copy_n(block.begin(), 16, b.begin());
    s.address = core::IpAddress::from_v6(b);
    s.port = big_endian16(block.data() + 32);
  } else {
    const std::uint32_t a = (std::uint32_t{block[0]} << 24) | (std::uint32_t{block[1]} << 16) |
                            (std::uint32_t{block[2]} << 8) | block[3];
    s.address = core::IpAddress::from_v4(a);
    s.port = big_endian16(block.data() + 8);
  }
  return s;
}

bool starts_like_proxy_header(std::span<const std::uint8_t> first) {
  if (first.empty()) return false;
  auto prefix_of = [&](auto begin, auto end) {
    const std::size_t n = std::min<std::size_t>(first.size(), static_cast<std::size_t>(end - begin));
    return std::equal(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(n), begin,
                      [](std::uint8_t a, auto b) { return a == static_cast<std::uint8_t>(b); });
  };
  return prefix_of(kSignature.begin(), kSignature.end()) ||
         prefix_of(kVersion1Start.begin(), kVersion1Start.end());
}

}  // namespace d4::server::proxy
