#pragma once
// IPFIX test inputs: messages exported by softflowd (a flow exporter that is not ours) from the
// vector captures, hand-built messages, and tshark's decoding of the same messages as a reference.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "workers/ipfix/message_builder.hpp"

namespace d4::test::ipfix {

// Runs `softflowd -r <pcap> -v 10` against a UDP socket of this test (bound to port 0) and
// returns the IPFIX messages it sent, one per datagram, in order.
std::vector<std::string> softflowd_export(const std::string& pcap);

// Writes the messages as UDP datagrams to `port` in a pcap file (raw IPv4 link type).
void write_udp_pcap(const std::filesystem::path& path, const std::vector<std::string>& messages, int port);

// tshark's IPFIX (cflow) decoding of such a pcap: one value per data record, in order, for the
// fields every softflowd IPv4 record has; ports only for the records that have them.
struct TsharkFlows {
  std::vector<std::string> src, dst, protocol, octets, packets, ports;
};
TsharkFlows tshark_flows(const std::filesystem::path& pcap, int port, const std::filesystem::path& workdir);

// Awkward D4 packet boundaries: sizes cycle through 1, 3, 15, 16, 17, 700, 5000 bytes, so that
// message headers, set headers and records are cut everywhere.
std::vector<std::string> awkward_chunks(const std::string& stream);

using workers::ipfix::MessageBuilder;

// A hand-built session: domain 7 defines template 300 (IPv4 and IPv6 addresses, reduced-size
// counters, every time precision, a MAC address, a boolean, a short and a long variable-length
// field, CERT's initialTCPFlags, an element of an unknown enterprise, a reverse element, padding)
// and options template 400, sends two flow records, one options record and a data set for the
// unknown template 500; the next message withdraws template 300 and sends data for it again;
// domain 8 defines its own template 300. Two of its data sets name unknown templates.
std::vector<std::string> hand_built_session();

// The messages one after the other, as a stream carries them.
inline std::string concat(const std::vector<std::string>& messages) {
  std::string s;
  for (const auto& m : messages) s += m;
  return s;
}
inline constexpr std::uint32_t kHandBuiltExportTime = 1700000000;  // 2023-11-14T22:13:20Z

}  // namespace d4::test::ipfix
