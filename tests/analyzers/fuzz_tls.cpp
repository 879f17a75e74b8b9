// Fuzz target: frame decoding, capture files, TLS record/handshake parsing, certificates and the
// session tracker.
#include <vector>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "analyzers/tls/certificate.hpp"
#include "analyzers/tls/session.hpp"
#include "analyzers/tls/tls_parser.hpp"
#include "fuzz_entries.hpp"

namespace {

std::vector<std::uint8_t> tcp_frame(bool from_client, std::uint32_t seq,
                                    std::span<const std::uint8_t> payload) {
  // Ethernet + IPv4 + TCP between 10.0.0.1:40000 and 10.0.0.2:443.
  std::vector<std::uint8_t> f = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00};
  std::size_t total = 20 + 20 + payload.size();
  std::uint8_t a = from_client ? 1 : 2, b = from_client ? 2 : 1;
  std::uint16_t sp = from_client ? 40000 : 443, dp = from_client ? 443 : 40000;
  std::uint8_t ip[20] = {0x45,
                         0,
                         static_cast<std::uint8_t>(total >> 8),
                         static_cast<std::uint8_t>(total),
                         0,
                         0,
                         0,
                         0,
                         64,
                         6,
                         0,
                         0,
                         10,
                         0,
                         0,
                         a,
                         10,
                         0,
                         0,
                         b};
  f.insert(f.end(), ip, ip + 20);
  std::uint8_t tcp_header[20] = {static_cast<std::uint8_t>(sp >> 8),
                                 static_cast<std::uint8_t>(sp),
                                 static_cast<std::uint8_t>(dp >> 8),
                                 static_cast<std::uint8_t>(dp),
                                 static_cast<std::uint8_t>(seq >> 24),
                                 static_cast<std::uint8_t>(seq >> 16),
                                 static_cast<std::uint8_t>(seq >> 8),
                                 static_cast<std::uint8_t>(seq),
                                 0,
                                 0,
                                 0,
                                 0,
                                 0x50,
                                 0x18,
                                 0xff,
                                 0xff,
                                 0,
                                 0,
                                 0,
                                 0};
  f.insert(f.end(), tcp_header, tcp_header + 20);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

}  // namespace

int d4_fuzz_tls(const std::uint8_t* data, std::size_t size) {
  using namespace d4::analyzers;
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  std::span<const std::uint8_t> in(data + 1, size - 1);

  static constexpr std::uint32_t kLinkTypes[] = {0, 1, 12, 101, 108, 113, 228, 229, 276};
  packet::Packet p;
  packet::decode(kLinkTypes[selector % 9], in, p);

  try {
    auto reader = packet::CaptureReader::from_memory(in);
    packet::Frame f;
    for (int i = 0; i < 64 && reader.next(f); ++i) packet::decode(f.linktype, f.bytes(), p);
  } catch (const packet::CaptureError&) {
  }

  tls::ClientHello ch;
  if (tls::parse_client_hello(in, ch)) tls::ja3_string(ch, selector & 1);
  tls::ServerHello sh;
  if (tls::parse_server_hello(in, sh)) tls::ja3s_string(sh, selector & 1);
  std::vector<std::span<const std::uint8_t>> certs;
  if (tls::parse_certificate_list(in, certs))
    for (const auto& c : certs) tls::parse_certificate(c);
  if (auto c = tls::parse_certificate(in)) tls::certificate_json(*c);

  // The record layer in chunks of 1..16 bytes.
  std::size_t chunk = 1 + (selector >> 4);
  tls::HandshakeStream stream([](std::uint8_t, std::span<const std::uint8_t>, std::uint64_t) {});
  for (std::size_t off = 0; off < in.size(); off += chunk)
    stream.feed(in.subspan(off, std::min(chunk, in.size() - off)), off);

  // The same bytes as both directions of a TCP flow through the tracker.
  // As the sensor writes lines: invalid UTF-8 from the wire (SNI, ALPN) is replaced, never fatal.
  tls::TlsTracker tracker(
      [](const tls::TlsSession& s) {
        tls::session_json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      },
      nullptr);
  std::size_t half = in.size() / 2;
  auto f1 = tcp_frame(true, 1000, in.first(half));
  auto f2 = tcp_frame(false, 5000, in.subspan(half));
  for (const auto* fr : {&f1, &f2}) {
    packet::Frame f;
    f.data = fr->data();
    f.caplen = f.origlen = static_cast<std::uint32_t>(fr->size());
    f.linktype = packet::linktype::kEthernet;
    f.number = 1;
    tracker.process(f);
  }
  tracker.finish();
  return 0;
}

#ifdef D4_LIBFUZZER_MAIN
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return d4_fuzz_tls(data, size);
}
#endif
