#include "analyzers/packet/decode.hpp"

#include <algorithm>

#include "analyzers/packet/capture_reader.hpp"

namespace d4::analyzers::packet {
namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88A8;
constexpr std::uint16_t kEtherQinQOld = 0x9100;
constexpr std::uint16_t kEtherMpls = 0x8847;
constexpr std::uint16_t kEtherMplsMulticast = 0x8848;
constexpr std::uint16_t kEtherPppoeSession = 0x8864;
constexpr int kMaxLinkLayers = 8;  // VLAN/MPLS stacking bound
constexpr int kMaxIpv6ExtensionHeaders = 16;

inline std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t be32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}

DecodeStatus decode_transport(std::span<const std::uint8_t> f, std::uint32_t off, std::uint32_t ip_end,
                              Packet& out) {
  out.l4_offset = off;
  const std::uint8_t* d = f.data();
  if (out.protocol == ipproto::kTcp) {
    if (static_cast<std::size_t>(off) + 20 > f.size()) return DecodeStatus::Truncated;
    const std::uint8_t* t = d + off;
    out.sport = be16(t);
    out.dport = be16(t + 2);
    out.tcp.seq = be32(t + 4);
    out.tcp.ack = be32(t + 8);
    std::uint32_t hl = static_cast<std::uint32_t>(t[12] >> 4) * 4;
    out.tcp.flags = t[13];
    out.tcp.window = be16(t + 14);
    if (hl < 20) return DecodeStatus::BadTransport;
    out.tcp.header_len = static_cast<std::uint8_t>(hl);
    if (static_cast<std::size_t>(off) + hl > f.size()) {
      out.tcp.options = {};
      return DecodeStatus::Truncated;
    }
    out.tcp.options = f.subspan(off + 20, hl - 20);
    std::uint32_t start = off + hl;
    std::uint32_t end = std::max(start, ip_end);
    out.payload = f.subspan(start, end - start);
    return DecodeStatus::Ok;
  }
  if (out.protocol == ipproto::kUdp) {
    if (static_cast<std::size_t>(off) + 8 > f.size()) return DecodeStatus::Truncated;
    const std::uint8_t* u = d + off;
    out.sport = be16(u);
    out.dport = be16(u + 2);
    std::uint32_t ulen = be16(u + 4);
    std::uint32_t start = off + 8;
    std::uint32_t end = ip_end;
    if (ulen != 0) {  // 0 is legal for IPv6 jumbograms; keep the IP bound then
      if (ulen < 8) return DecodeStatus::BadTransport;
      end = std::min<std::uint32_t>(end, off + ulen);
      if (off + ulen > ip_end) out.payload_truncated = true;
    }
    end = std::max(start, end);
    out.payload = f.subspan(start, end - start);
    return DecodeStatus::Ok;
  }
  out.payload = f.subspan(off, std::max(off, ip_end) - off);
  return DecodeStatus::Ok;
}

DecodeStatus decode_ipv4(std::span<const std::uint8_t> f, std::uint32_t off, Packet& out) {
  if (static_cast<std::size_t>(off) + 20 > f.size()) return DecodeStatus::Truncated;
  const std::uint8_t* ip = f.data() + off;
  if ((ip[0] >> 4) != 4) return DecodeStatus::BadIpHeader;
  std::uint32_t ihl = static_cast<std::uint32_t>(ip[0] & 0x0F) * 4;
  if (ihl < 20) return DecodeStatus::BadIpHeader;
  if (static_cast<std::size_t>(off) + ihl > f.size()) return DecodeStatus::Truncated;
  out.ip_version = 4;
  out.has_ip_options = ihl > 20;
  std::uint32_t total = be16(ip + 2);
  out.ttl = ip[8];
  out.protocol = ip[9];
  out.src = IpAddress::v4(ip + 12);
  out.dst = IpAddress::v4(ip + 16);
  std::uint16_t frag = be16(ip + 6);
  bool more_fragments = (frag & 0x2000) != 0;
  std::uint16_t frag_offset = frag & 0x1FFF;
  out.fragmented = more_fragments || frag_offset != 0;
  // The IP total length bounds the payload (Ethernet pads short frames); 0 appears with TSO
  // captures, where the captured length is the only bound.
  std::uint32_t ip_end = static_cast<std::uint32_t>(f.size());
  if (total != 0) {
    if (total < ihl) return DecodeStatus::BadIpHeader;
    if (static_cast<std::size_t>(off) + total <= f.size())
      ip_end = off + total;
    else
      out.payload_truncated = true;
  }
  if (frag_offset != 0) {
    out.l4_offset = off + ihl;
    out.payload = f.subspan(off + ihl, ip_end - (off + ihl));
    return DecodeStatus::Fragment;
  }
  return decode_transport(f, off + ihl, ip_end, out);
}

DecodeStatus decode_ipv6(std::span<const std::uint8_t> f, std::uint32_t off, Packet& out) {
  if (static_cast<std::size_t>(off) + 40 > f.size()) return DecodeStatus::Truncated;
  const std::uint8_t* ip = f.data() + off;
  if ((ip[0] >> 4) != 6) return DecodeStatus::BadIpHeader;
  out.ip_version = 6;
  std::uint32_t payload_len = be16(ip + 4);
  std::uint8_t next = ip[6];
  out.ttl = ip[7];
  out.src = IpAddress::v6(ip + 8);
  out.dst = IpAddress::v6(ip + 24);
  std::uint32_t ip_end = static_cast<std::uint32_t>(f.size());
  if (payload_len != 0) {  // 0: jumbogram (hop-by-hop option); bounded by the capture
    if (static_cast<std::size_t>(off) + 40 + payload_len <= f.size())
      ip_end = off + 40 + payload_len;
    else
      out.payload_truncated = true;
  }
  std::uint32_t p = off + 40;
  for (int i = 0; i < kMaxIpv6ExtensionHeaders; ++i) {
    switch (next) {
      case 0:      // hop-by-hop options
      case 43:     // routing
      case 60:     // destination options
      case 135:    // mobility
      case 139:    // HIP
      case 140: {  // shim6
        if (static_cast<std::size_t>(p) + 8 > f.size()) return DecodeStatus::Truncated;
        std::uint32_t len = (static_cast<std::uint32_t>(f[p + 1]) + 1) * 8;
        next = f[p];
        p += len;
        out.has_ip_options = true;
        continue;
      }
      case 51: {  // authentication header: length in 4-byte units minus 2
        if (static_cast<std::size_t>(p) + 8 > f.size()) return DecodeStatus::Truncated;
        std::uint32_t len = (static_cast<std::uint32_t>(f[p + 1]) + 2) * 4;
        next = f[p];
        p += len;
        continue;
      }
      case 44: {  // fragment
        if (static_cast<std::size_t>(p) + 8 > f.size()) return DecodeStatus::Truncated;
        next = f[p];
        std::uint16_t fo = be16(f.data() + p + 2);
        out.fragmented = true;
        p += 8;
        if ((fo & 0xFFF8) != 0) {
          out.protocol = next;
          out.l4_offset = p;
          if (p > ip_end) return DecodeStatus::Truncated;
          out.payload = f.subspan(p, ip_end - p);
          return DecodeStatus::Fragment;
        }
        continue;
      }
      default:
        break;
    }
    break;
  }
  if (p > f.size()) return DecodeStatus::Truncated;
  out.protocol = next;
  if (p > ip_end) return DecodeStatus::BadIpHeader;
  return decode_transport(f, p, ip_end, out);
}

DecodeStatus decode_ethertype(std::span<const std::uint8_t> f, std::uint16_t type, std::uint32_t off,
                              Packet& out) {
  for (int layer = 0; layer < kMaxLinkLayers; ++layer) {
    switch (type) {
      case kEtherIpv4:
        out.l3_offset = off;
        return decode_ipv4(f, off, out);
      case kEtherIpv6:
        out.l3_offset = off;
        return decode_ipv6(f, off, out);
      case kEtherVlan:
      case kEtherQinQ:
      case kEtherQinQOld:
        if (static_cast<std::size_t>(off) + 4 > f.size()) return DecodeStatus::Truncated;
        if (out.vlan_depth == 0) out.vlan_id = be16(f.data() + off) & 0x0FFF;
        ++out.vlan_depth;
        type = be16(f.data() + off + 2);
        off += 4;
        continue;
      case kEtherMpls:
      case kEtherMplsMulticast: {
        // Walk the label stack to the bottom-of-stack entry, then guess IPv4/IPv6 from the version nibble.
        for (int i = 0; i < kMaxLinkLayers; ++i) {
          if (static_cast<std::size_t>(off) + 4 > f.size()) return DecodeStatus::Truncated;
          bool bottom = (f[off + 2] & 0x01) != 0;
          off += 4;
          if (bottom) break;
          if (i == kMaxLinkLayers - 1) return DecodeStatus::NotIp;
        }
        if (off >= f.size()) return DecodeStatus::Truncated;
        std::uint8_t v = f[off] >> 4;
        if (v == 4)
          type = kEtherIpv4;
        else if (v == 6)
          type = kEtherIpv6;
        else
          return DecodeStatus::NotIp;
        continue;
      }
      case kEtherPppoeSession: {
        if (static_cast<std::size_t>(off) + 8 > f.size()) return DecodeStatus::Truncated;
        std::uint16_t ppp = be16(f.data() + off + 6);
        off += 8;
        if (ppp == 0x0021)
          type = kEtherIpv4;
        else if (ppp == 0x0057)
          type = kEtherIpv6;
        else
          return DecodeStatus::NotIp;
        continue;
      }
      default:
        return DecodeStatus::NotIp;
    }
  }
  return DecodeStatus::NotIp;
}

DecodeStatus decode_by_version(std::span<const std::uint8_t> f, std::uint32_t off, Packet& out) {
  if (off >= f.size()) return DecodeStatus::Truncated;
  out.l3_offset = off;
  std::uint8_t v = f[off] >> 4;
  if (v == 4) return decode_ipv4(f, off, out);
  if (v == 6) return decode_ipv6(f, off, out);
  return DecodeStatus::BadIpHeader;
}

}  // namespace

std::string_view to_string(DecodeStatus s) {
  switch (s) {
    case DecodeStatus::Ok:
      return "ok";
    case DecodeStatus::Truncated:
      return "truncated";
    case DecodeStatus::UnsupportedLink:
      return "unsupported_link_type";
    case DecodeStatus::NotIp:
      return "not_ip";
    case DecodeStatus::BadIpHeader:
      return "bad_ip_header";
    case DecodeStatus::Fragment:
      return "fragment";
    case DecodeStatus::BadTransport:
      return "bad_transport_header";
  }
  return "unknown";
}

DecodeStatus decode_ip(std::span<const std::uint8_t> frame, std::uint32_t offset, Packet& out) {
  return decode_by_version(frame, offset, out);
}

DecodeStatus decode(std::uint32_t lt, std::span<const std::uint8_t> f, Packet& out) {
  out = Packet{};
  switch (lt) {
    case linktype::kEthernet:
      if (f.size() < 14) return DecodeStatus::Truncated;
      return decode_ethertype(f, be16(f.data() + 12), 14, out);
    case linktype::kLinuxSll:
      if (f.size() < 16) return DecodeStatus::Truncated;
      return decode_ethertype(f, be16(f.data() + 14), 16, out);
    case linktype::kLinuxSll2:
      if (f.size() < 20) return DecodeStatus::Truncated;
      return decode_ethertype(f, be16(f.data()), 20, out);
    case linktype::kRaw:
    case linktype::kRawOpenBsd:
    case linktype::kRawBsdOs:
      return decode_by_version(f, 0, out);
    case linktype::kIpv4:
      out.l3_offset = 0;
      return decode_ipv4(f, 0, out);
    case linktype::kIpv6:
      out.l3_offset = 0;
      return decode_ipv6(f, 0, out);
    case linktype::kNull:
    case linktype::kLoop: {
      // The 4-byte address family is in the capturing host's byte order (NULL) or network order
      // (LOOP); the IP version nibble is the reliable signal either way.
      if (f.size() < 4) return DecodeStatus::Truncated;
      return decode_by_version(f, 4, out);
    }
    default:
      return DecodeStatus::UnsupportedLink;
  }
}

}  // namespace d4::analyzers::packet
