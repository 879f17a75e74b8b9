#pragma once
// The PROXY protocol, version 2 (HAProxy's "send-proxy-v2", also sent by AWS/GCP/Azure load
// balancers): a binary header that a load balancer writes at the start of a TCP connection, before
// the sensor's TLS bytes, naming the address the connection really came from. Only what the
// sensor listener needs, parsed by hand (the format is 16 fixed bytes and an address block):
// the PROXY and LOCAL commands, the TCP over IPv4 and IPv6 families; TLVs are skipped.
// Version 1 (the text form "PROXY TCP4 ...") is recognised only to refuse it with a clear reason.
//
// Specification: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt (section 2.2).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/ipnet.hpp"

namespace d4::server::proxy {

// The 12-byte signature, the version/command byte, the family/transport byte and the 16-bit
// length of what follows (addresses and TLVs).
inline constexpr std::size_t kFixedSize = 16;
inline constexpr std::array<std::uint8_t, 12> kSignature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
// Address block of the largest family we accept (TCP over IPv6: 2 x 16 address bytes, 2 x 2 port
// bytes). Longer blocks carry TLVs, read and discarded.
inline constexpr std::size_t kTcp6AddressSize = 36;
inline constexpr std::size_t kTcp4AddressSize = 12;
// Bound on the bytes after the fixed part. The format allows 65,535; balancers send the addresses
// plus a few TLVs (a unique id, ALPN, a VPC endpoint id: tens to a few hundred bytes).
inline constexpr std::size_t kMaxLength = 4096;

enum class Command : std::uint8_t { Local, Proxy };

// What the fixed 16 bytes announce.
struct Fixed {
  Command command = Command::Local;
  std::uint8_t family = 0;   // high nibble: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX; low: 1 STREAM, 2 DGRAM
  std::uint16_t length = 0;  // bytes that follow
};

// Parses the fixed part; nullopt with the reason in *error for anything that is not a version 2
// header within our bounds (a version 1 header, a TLS ClientHello, garbage).
std::optional<Fixed> parse_fixed(std::span<const std::uint8_t, kFixedSize> bytes, std::string* error);

// The connection's real source, from the address block of a PROXY command.
struct Source {
  core::IpAddress address;
  std::uint16_t port = 0;
};

// The source named by a PROXY command's address block (`block`: its first bytes, at least the
// family's address size if the header has them). nullopt, with the reason in *error, for a family
// other than TCP over IPv4 or IPv6, or a block too short for its family. UNSPEC is not passed
// here: the spec asks receivers to use the connection's own addresses then.
std::optional<Source> parse_source(const Fixed& fixed, std::span<const std::uint8_t> block,
                                   std::string* error);

// Whether the first bytes of a connection (as many as are known, at least one) start a PROXY
// header of either version: a peer that sends one where none is expected is told apart from
// other garbage.
bool starts_like_proxy_header(std::span<const std::uint8_t> first);

}  // namespace d4::server::proxy
