#pragma once
// Bounds-checked decoding of captured frames down to TCP/UDP: Ethernet II (with 802.1Q/802.1ad
// VLAN tags, MPLS and PPPoE sessions), Linux cooked captures (SLL and SLL2), BSD loopback and raw
// IP link types; IPv4 (options skipped, fragments flagged), IPv6 (extension headers walked,
// fragments flagged); TCP (options located) and UDP. Nothing is copied: the result points into
// the frame.
#include <cstdint>
#include <span>
#include <string_view>

#include "analyzers/packet/ip_address.hpp"

namespace d4::analyzers::packet {

namespace ipproto {
inline constexpr std::uint8_t kTcp = 6;
inline constexpr std::uint8_t kUdp = 17;
}  // namespace ipproto

namespace tcpflag {
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
inline constexpr std::uint8_t kUrg = 0x20;
inline constexpr std::uint8_t kEce = 0x40;
inline constexpr std::uint8_t kCwr = 0x80;
}  // namespace tcpflag

enum class DecodeStatus : std::uint8_t {
  Ok,
  Truncated,        // a header extends past the captured bytes
  UnsupportedLink,  // link type we do not decode
  NotIp,            // ARP, LLDP... (not an error)
  BadIpHeader,      // wrong version, header length below minimum...
  Fragment,         // non-first IP fragment: no transport header in this frame
  BadTransport,     // TCP data offset below 5 words, UDP length below 8...
};
std::string_view to_string(DecodeStatus s);

struct TcpHeader {
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;  // CWR ECE URG ACK PSH RST SYN FIN (the byte PIBS prints)
  std::uint16_t window = 0;
  std::uint8_t header_len = 0;  // bytes, options included
  std::span<const std::uint8_t> options;
};

struct Packet {
  // Link layer
  std::uint8_t vlan_depth = 0;
  std::uint16_t vlan_id = 0;    // outermost VLAN id when vlan_depth > 0
  std::uint32_t l3_offset = 0;  // offset of the IP header in the frame

  // Network layer
  std::uint8_t ip_version = 0;
  IpAddress src, dst;
  std::uint8_t protocol = 0;  // transport protocol after IPv6 extension headers
  std::uint8_t ttl = 0;       // hop limit for IPv6
  bool fragmented = false;    // part of a fragmented datagram (first or later fragment)
  bool has_ip_options = false;
  std::uint32_t l4_offset = 0;

  // Transport layer (valid when status is Ok and protocol is TCP/UDP)
  std::uint16_t sport = 0, dport = 0;
  TcpHeader tcp;
  // Transport payload, clipped to the captured bytes and to the IP/UDP length fields.
  std::span<const std::uint8_t> payload;
  bool payload_truncated = false;  // the capture holds fewer bytes than the IP header announces

  bool is_tcp() const { return protocol == ipproto::kTcp; }
  bool is_udp() const { return protocol == ipproto::kUdp; }
};

// Decodes one frame of the given link type. On Ok, the network and transport fields are filled
// (transport only for TCP and UDP; other protocols leave payload at the IP payload).
DecodeStatus decode(std::uint32_t linktype, std::span<const std::uint8_t> frame, Packet& out);

// Decodes starting at an IP header (raw IP link types, tunnelled packets).
DecodeStatus decode_ip(std::span<const std::uint8_t> frame, std::uint32_t offset, Packet& out);

}  // namespace d4::analyzers::packet
