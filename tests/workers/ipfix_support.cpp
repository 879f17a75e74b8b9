#include "workers/ipfix_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/process.hpp"

namespace d4::test::ipfix {
namespace fs = std::filesystem;

std::vector<std::string> softflowd_export(const std::string& pcap) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  sockaddr_storage bound{};
  std::memcpy(&bound, &addr, sizeof addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    close(fd);
    throw std::runtime_error("bind");
  }
  std::memcpy(&addr, &bound, sizeof addr);
  int rcvbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int port = ntohs(addr.sin_port);
  Process p({"/usr/sbin/softflowd", "-d", "-r", pcap, "-n", "127.0.0.1:" + std::to_string(port), "-v", "10"},
            Process::Options{{}, "/dev/null", "/dev/null", {}, {}});
  std::vector<std::string> out;
  std::string buf(65536, '\0');
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool exited = false;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    int r = poll(&pfd, 1, exited ? 500 : 100);
    if (r > 0) {
      auto n = recv(fd, buf.data(), buf.size(), 0);
      if (n > 0) out.emplace_back(buf.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (exited) break;  // drained after the exporter is gone
    exited = !p.running();
  }
  close(fd);
  if (p.wait(std::chrono::seconds(5)) != 0) throw std::runtime_error("softflowd failed on " + pcap);
  return out;
}

void write_udp_pcap(const fs::path& path, const std::vector<std::string>& messages, int port) {
  std::ofstream f(path, std::ios::binary);
  auto le32 = [&](std::uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto le16 = [&](std::uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  le32(0xa1b2c3d4);
  le16(2);
  le16(4);
  le32(0);
  le32(0);
  le32(65535);
  le32(101);  // LINKTYPE_RAW: packets start with the IP header
  std::uint16_t ip_id = 0;
  for (const auto& m : messages) {
    std::string pkt;
    auto be16 = [&](std::uint16_t v) {
      pkt.push_back(static_cast<char>(v >> 8));
      pkt.push_back(static_cast<char>(v & 0xff));
    };
    auto total = static_cast<std::uint16_t>(20 + 8 + m.size());
    pkt += std::string("\x45\x00", 2);
    be16(total);
    be16(ip_id++);
    be16(0);
    pkt += std::string("\x40\x11\x00\x00\x7f\x00\x00\x01\x7f\x00\x00\x01", 12);
    be16(40000);
    be16(static_cast<std::uint16_t>(port));
    be16(static_cast<std::uint16_t>(8 + m.size()));
    be16(0);
    pkt += m;
    le32(1700000000u + ip_id);
    le32(0);
    le32(static_cast<std::uint32_t>(pkt.size()));
    le32(static_cast<std::uint32_t>(pkt.size()));
    f.write(pkt.data(), static_cast<std::streamsize>(pkt.size()));
  }
}

namespace {
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) out.push_back(part);
  return out;
}
}  // namespace

TsharkFlows tshark_flows(const fs::path& pcap, int port, const fs::path& workdir) {
  auto out = workdir / "tshark.txt";
  Process p({"/usr/bin/tshark",
             "-r",
             pcap.string(),
             "-d",
             "udp.port==" + std::to_string(port) + ",cflow",
             "-T",
             "fields",
             "-E",
             "aggregator=;",
             "-e",
             "cflow.srcaddr",
             "-e",
             "cflow.dstaddr",
             "-e",
             "cflow.protocol",
             "-e",
             "cflow.octets",
             "-e",
             "cflow.packets",
             "-e",
             "cflow.srcport",
             "-e",
             "cflow.dstport"},
            Process::Options{{}, out, workdir / "tshark.err", {}, {}});
  if (p.wait(std::chrono::seconds(120)) != 0)
    throw std::runtime_error("tshark failed: " + read_text(workdir / "tshark.err"));
  TsharkFlows flows;
  std::ifstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto cols = split(line, '\t');
    cols.resize(7);
    auto add = [](std::vector<std::string>& to, const std::string& col) {
      for (auto& v : split(col, ';')) to.push_back(v);
    };
    add(flows.src, cols[0]);
    add(flows.dst, cols[1]);
    add(flows.protocol, cols[2]);
    add(flows.octets, cols[3]);
    add(flows.packets, cols[4]);
    auto sp = split(cols[5], ';'), dp = split(cols[6], ';');
    for (std::size_t i = 0; i < sp.size() && i < dp.size(); ++i) flows.ports.push_back(sp[i] + ">" + dp[i]);
  }
  return flows;
}

std::vector<std::string> awkward_chunks(const std::string& stream) {
  static const std::size_t sizes[] = {1, 3, 15, 16, 17, 700, 5000};
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < stream.size(); ++i) {
    std::size_t n = std::min(sizes[i % std::size(sizes)], stream.size() - pos);
    out.push_back(stream.substr(pos, n));
    pos += n;
  }
  return out;
}

std::vector<std::string> hand_built_session() {
  const std::string ipv6("\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
  auto flow = [&](MessageBuilder& m, std::uint32_t src, std::uint16_t port, const std::string& app) {
    m.u32(src).bytes(ipv6).u16(port).u32(1234567);               // octetDeltaCount in 4 bytes (reduced size)
    m.u64(1700000000123ull);                                     // flowStartMilliseconds
    m.u32(1700000001);                                           // flowEndSeconds
    m.u64((1700000000ull + 2208988800ull) << 32 | 0x80000000u);  // flowStartMicroseconds: .5 s
    m.u64((1700000000ull + 2208988800ull) << 32 | 0x40000000u);  // flowStartNanoseconds: .25 s
    m.bytes(std::string("\x00\x1b\x21\x3c\x4d\x5e", 6));         // sourceMacAddress
    m.u8(1);                                                     // dataRecordsReliability: true
    m.varlen(app);                                               // applicationName
    m.varlen(std::string(300, '\xab'));                          // ipPayloadPacketSection (long form)
    m.u8(0x12);                                                  // CERT initialTCPFlags, 1 byte
    m.bytes(std::string("\xde\xad\x01", 3));                     // unknown enterprise element
    m.u64(987654321);                                            // reverseOctetDeltaCount
    m.u16(0);                                                    // paddingOctets
  };
  std::vector<std::string> out;
  MessageBuilder m1(7, kHandBuiltExportTime, 0);
  m1.begin_set(2).u16(300).u16(16);
  m1.field(8, 4).field(28, 16).field(7, 2).field(1, 4).field(152, 8).field(151, 4).field(154, 8).field(156,
                                                                                                       8);
  m1.field(56, 6).field(276, 1).field(96, 65535).field(314, 65535).field(14, 1, 6871).field(7, 3, 99999);
  m1.field(1, 8, 29305).field(210, 2);
  m1.begin_set(3).u16(400).u16(2).u16(1).field(144, 4).field(41, 8);
  m1.begin_set(300);
  flow(m1, 0xc0000201, 443, "https");
  flow(m1, 0xc0000202, 53, "dns \"quoted\"\n");
  m1.begin_set(400).u32(42).u64(1000);
  m1.begin_set(500).u32(0xdeadbeef);
  out.push_back(m1.finish());

  MessageBuilder m2(7, kHandBuiltExportTime + 60, 3);
  m2.begin_set(2).u16(300).u16(0);  // withdrawal
  m2.begin_set(300);
  flow(m2, 0xc0000203, 80, "http");
  out.push_back(m2.finish());

  MessageBuilder m3(8, kHandBuiltExportTime + 120, 0);
  m3.begin_set(2).u16(300).u16(1).field(4, 1);
  m3.begin_set(300).u8(17).u8(6);
  out.push_back(m3.finish());
  return out;
}

}  // namespace d4::test::ipfix
