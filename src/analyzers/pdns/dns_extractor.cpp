#include "analyzers/pdns/dns_extractor.hpp"

#include <algorithm>

#include "analyzers/pdns/rrtype.hpp"

namespace d4::analyzers::pdns {
namespace {

constexpr std::size_t kMaxTcpBuffer = 2 + 65535;

struct DnsTcpState : packet::FlowState {
  std::string buffer[2];
  std::size_t memory_bytes() const override {
    return sizeof(*this) + buffer[0].capacity() + buffer[1].capacity();
  }
};

}  // namespace

DnsExtractor::DnsExtractor(Sink sink, ExtractOptions options)
    : sink_(std::move(sink)), options_(std::move(options)), tcp_(*this, options_.tcp_options) {
  std::fill(std::begin(port_map_), std::end(port_map_), false);
  for (auto p : options_.ports) port_map_[p] = true;
}

DnsExtractor::~DnsExtractor() = default;

bool DnsExtractor::is_dns_port(std::uint16_t port) const {
  return port_map_[port];
}

void DnsExtractor::process(const packet::Frame& frame) {
  ++stats_.frames;
  auto status = packet::decode(frame.linktype, frame.bytes(), packet_);
  if (status != packet::DecodeStatus::Ok) {
    if (status != packet::DecodeStatus::NotIp) ++stats_.decode_errors[std::string(packet::to_string(status))];
    return;
  }
  if (packet_.is_udp()) {
    if (!is_dns_port(packet_.sport)) return;
    process_message(packet_.payload, frame.ts_seconds(), packet_.dst, packet_.src);
  } else if (packet_.is_tcp() && options_.tcp) {
    if (!is_dns_port(packet_.sport) && !is_dns_port(packet_.dport)) return;
    tcp_.process(packet_, frame.ts_ns, frame.number);
  }
}

void DnsExtractor::finish() {
  tcp_.flush();
}

void DnsExtractor::on_gap(packet::TcpFlow& flow, int direction) {
  if (auto* st = dynamic_cast<DnsTcpState*>(flow.state.get())) st->buffer[direction].clear();
  ++stats_.tcp_resyncs;
}

void DnsExtractor::on_data(packet::TcpFlow& flow, int d, std::span<const std::uint8_t> data,
                           std::int64_t ts_ns, std::uint64_t) {
  if (!is_dns_port(flow.key.port[d])) return;  // queries: not recorded
  if (!flow.state) flow.state = std::make_unique<DnsTcpState>();
  auto& buf = static_cast<DnsTcpState&>(*flow.state).buffer[d];
  buf.append(reinterpret_cast<const char*>(data.data()), data.size());
  std::size_t off = 0;
  while (buf.size() - off >= 2) {
    std::size_t len = static_cast<std::uint8_t>(buf[off]) << 8 | static_cast<std::uint8_t>(buf[off + 1]);
    if (len < 12) {  // not a DNS message: the stream is not where we think it is
      ++stats_.tcp_resyncs;
      buf.clear();
      off = 0;
      flow.ignore = true;
      return;
    }
    if (buf.size() - off < 2 + len) break;
    ++stats_.tcp_messages;
    auto* p = reinterpret_cast<const std::uint8_t*>(buf.data()) + off + 2;
    process_message({p, len}, ts_ns / 1000000000, flow.key.addr[1 - d], flow.key.addr[d]);
    off += 2 + len;
  }
  buf.erase(0, off);
  if (buf.size() > kMaxTcpBuffer) buf.clear();
}

void DnsExtractor::process_message(std::span<const std::uint8_t> wire, std::int64_t ts,
                                   const packet::IpAddress& client, const packet::IpAddress& server) {
  ++stats_.dns_messages;
  dns::ParseOptions po;
  po.parse_authority_and_additional = options_.include_authority;
  auto s = message_.parse(wire, po);
  if (s != dns::ParseStatus::Ok) {
    ++stats_.parse_errors[std::string(dns::to_string(s))];
    return;
  }
  const auto& h = message_.header();
  if (!h.qr() || h.opcode() != 0) return;
  ++stats_.responses;
  auto emit = [&](const dns::ResourceRecord& rr) {
    if (rr.type == dns::rrtype::kOpt || rr.type == dns::rrtype::kTsig || rr.type == dns::rrtype::kTkey)
      return;
    rdata_.clear();
    if (!message_.render_rdata(rr, options_.style, rdata_)) ++stats_.malformed_rdata;
    PdnsRecord r;
    r.rrname = rr.name;
    r.rrtype = rr.type;
    r.rdata = rdata_;
    if (options_.normalize.lowercase_txt) normalize_rdata(r.rrtype, r.rdata, options_.normalize);
    r.time_first = r.time_last = ts;
    r.ttl = rr.ttl;
    r.klass = dns::class_name(rr.klass);
    ++stats_.records;
    sink_(std::move(r), client, server);
  };
  for (const auto& rr : message_.answers()) emit(rr);
  if (options_.include_authority)
    for (const auto& rr : message_.authority()) emit(rr);
}

}  // namespace d4::analyzers::pdns
