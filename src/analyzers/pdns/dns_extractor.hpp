#pragma once
// Extracts passive DNS records directly from captured packets (so no external passivedns sensor
// is needed): DNS responses over UDP and TCP (length-prefixed messages, reassembled), IPv4 and
// IPv6, VLAN/SLL/raw link types. Every answer record of a response becomes one observation with
// the packet's capture time.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "analyzers/packet/tcp_reassembly.hpp"
#include "analyzers/pdns/dns_message.hpp"
#include "analyzers/pdns/record.hpp"

namespace d4::analyzers::pdns {

struct ExtractOptions {
  std::vector<std::uint16_t> ports{53};  // responses are taken from these source ports
  dns::RdataStyle style = dns::RdataStyle::Passivedns;
  NormalizeOptions normalize;
  bool tcp = true;
  bool include_authority = false;  // also the authority section (referrals: NS, SOA)
  packet::TcpReassemblyOptions tcp_options{20000, 128 * 1024, 60LL * 1000000000, 1u << 20, 64u << 20};
};

struct ExtractStats {
  std::uint64_t frames = 0;
  std::uint64_t dns_messages = 0;
  std::uint64_t responses = 0;
  std::uint64_t records = 0;
  std::uint64_t malformed_rdata = 0;  // stored in the RFC 3597 generic form
  std::uint64_t tcp_messages = 0;
  std::uint64_t tcp_resyncs = 0;  // TCP streams abandoned after a gap or an implausible length
  std::map<std::string, std::uint64_t> decode_errors;  // link/IP/transport decoding, by reason
  std::map<std::string, std::uint64_t> parse_errors;   // DNS messages that did not parse, by reason
};

class DnsExtractor : private packet::TcpListener {
 public:
  using Sink = std::function<void(PdnsRecord&& record, const packet::IpAddress& client,
                                  const packet::IpAddress& server)>;
  DnsExtractor(Sink sink, ExtractOptions options = {});
  ~DnsExtractor() override;

  void process(const packet::Frame& frame);
  // Ends pending TCP streams (end of a file or of the input).
  void finish();
  // Parses one DNS message as if captured at `ts_seconds` (dnstap-like inputs, tests).
  void process_message(std::span<const std::uint8_t> message, std::int64_t ts_seconds,
                       const packet::IpAddress& client, const packet::IpAddress& server);
  const ExtractStats& stats() const { return stats_; }
  const packet::TcpReassembler& tcp() const { return tcp_; }

 private:
  void on_data(packet::TcpFlow& flow, int direction, std::span<const std::uint8_t> data, std::int64_t ts_ns,
               std::uint64_t frame_number) override;
  void on_gap(packet::TcpFlow& flow, int direction) override;
  bool is_dns_port(std::uint16_t port) const;

  Sink sink_;
  ExtractOptions options_;
  ExtractStats stats_;
  packet::TcpReassembler tcp_;
  dns::Message message_;
  packet::Packet packet_;
  std::string rdata_;
  bool port_map_[65536];
};

}  // namespace d4::analyzers::pdns
