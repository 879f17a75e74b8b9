// TLS fingerprinting: JA3/JA3S of tls.pcap against tls.expected-ja3.psv, GREASE handling,
// reassembly robustness (reordering, retransmission, 1-byte segments, IPv6), certificates, the
// session TLSH and the ja3-jl output.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "analyzers/tls/session.hpp"
#include "analyzers/tls/tls_parser.hpp"
#include "analyzers/tls/tlsh.hpp"
#include "cert_factory.hpp"
#include "core/digest.hpp"
#include "helpers.hpp"
#include "protocol/encoding.hpp"

using namespace d4::analyzers;
using namespace d4::analyzers::tls;
using namespace d4::test::an;
using d4::test::read_text;
using d4::test::TempDir;
using d4::test::vector_path;

namespace {

struct Frames {
  std::vector<std::pair<std::int64_t, Bytes>> frames;
  std::uint32_t linktype = 1;
};

Frames load(const std::string& path) {
  Frames out;
  auto r = packet::CaptureReader::open(path);
  packet::Frame f;
  while (r.next(f)) {
    out.linktype = f.linktype;
    out.frames.emplace_back(f.ts_ns, Bytes(f.data, f.data + f.caplen));
  }
  return out;
}

struct Run {
  std::vector<TlsSession> sessions;
  std::vector<HelloEvent> hellos;
  TrackerStats stats;
};

// Feeds frames (with their given numbers) to a tracker.
Run track(const std::vector<std::tuple<std::uint64_t, std::int64_t, Bytes>>& frames, std::uint32_t linktype,
          TrackerOptions o = {}) {
  Run run;
  TlsTracker t([&](const TlsSession& s) { run.sessions.push_back(s); },
               [&](const HelloEvent& e) { run.hellos.push_back(e); }, o);
  for (const auto& [n, ts, b] : frames) {
    packet::Frame f;
    f.number = n;
    f.ts_ns = ts;
    f.caplen = f.origlen = static_cast<std::uint32_t>(b.size());
    f.linktype = linktype;
    f.data = b.data();
    t.process(f);
  }
  t.finish();
  run.stats = t.stats();
  return run;
}

std::vector<std::tuple<std::uint64_t, std::int64_t, Bytes>> numbered(const Frames& f) {
  std::vector<std::tuple<std::uint64_t, std::int64_t, Bytes>> out;
  for (std::size_t i = 0; i < f.frames.size(); ++i)
    out.emplace_back(i + 1, f.frames[i].first, f.frames[i].second);
  return out;
}

std::multiset<std::string> session_keys(const std::vector<TlsSession>& v) {
  std::multiset<std::string> out;
  for (const auto& s : v) {
    std::string k = s.ja3 + "|" + s.ja3s + "|" + s.client_hello.sni + "|" + std::to_string(s.server_port);
    for (const auto& c : s.certificates) k += "|" + c.sha1;
    out.insert(k);
  }
  return out;
}

std::string psv(const HelloEvent& e) {
  return std::to_string(e.frame) + "|" + e.src.to_string() + "|" + std::to_string(e.sport) + "|" +
         e.dst.to_string() + "|" + std::to_string(e.dport) + "|" + e.handshake_types + "|" + e.ja3 + "|" +
         e.ja3_md5 + "|" + e.ja3s + "|" + e.ja3s_md5;
}

// A ClientHello body with the given lists (extensions carry minimal valid data).
Bytes client_hello(std::uint16_t version, const std::vector<std::uint16_t>& ciphers,
                   const std::vector<std::uint16_t>& extensions, const std::vector<std::uint16_t>& groups,
                   const Bytes& point_formats, const std::string& sni) {
  Bytes b;
  put16(b, version);
  b.insert(b.end(), 32, 0x42);
  b.push_back(0);  // session id
  put16(b, static_cast<std::uint16_t>(ciphers.size() * 2));
  for (auto c : ciphers) put16(b, c);
  b.push_back(1);
  b.push_back(0);
  Bytes exts;
  for (auto e : extensions) {
    Bytes data;
    if (e == 0) {
      Bytes list;
      list.push_back(0);
      put16(list, static_cast<std::uint16_t>(sni.size()));
      append(list, text_bytes(sni));
      put16(data, static_cast<std::uint16_t>(list.size()));
      append(data, list);
    } else if (e == 10) {
      put16(data, static_cast<std::uint16_t>(groups.size() * 2));
      for (auto g : groups) put16(data, g);
    } else if (e == 11) {
      data.push_back(static_cast<std::uint8_t>(point_formats.size()));
      append(data, point_formats);
    }
    put16(exts, e);
    put16(exts, static_cast<std::uint16_t>(data.size()));
    append(exts, data);
  }
  put16(b, static_cast<std::uint16_t>(exts.size()));
  append(b, exts);
  return b;
}

Bytes handshake_record(std::uint8_t type, const Bytes& body) {
  Bytes hs{type};
  hs.push_back(static_cast<std::uint8_t>(body.size() >> 16));
  put16(hs, static_cast<std::uint16_t>(body.size()));
  append(hs, body);
  Bytes rec{22, 3, 1};
  put16(rec, static_cast<std::uint16_t>(hs.size()));
  append(rec, hs);
  return rec;
}

}  // namespace

TEST(TlsVectors, PsvListingReproducesTheExpectedFile) {
  TempDir dir;
  auto r = run_tool("d4-tls-fingerprint", {"--format", "psv", vector_path("tls.pcap")}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, read_text(vector_path("tls.expected-ja3.psv")));
}

// d4-tls-fingerprint's ja3-jl output for tls.pcap (once for the suite, certificates written to a
// directory), and the fingerprints the expected listing gives per client port.
class TlsJa3JlSessions : public ::testing::Test {
 protected:
  struct Shared {
    TempDir dir;
    RunResult run;
    std::vector<nlohmann::json> sessions;
    // Client port -> {JA3 digest, JA3S digest}.
    std::map<std::string, std::pair<std::string, std::string>> by_port;
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    s.run =
        run_tool("d4-tls-fingerprint", {vector_path("tls.pcap"), "-w", (s.dir / "certs").string()}, s.dir);
    for (const auto& line : lines_of(s.run.out)) s.sessions.push_back(nlohmann::json::parse(line));
    for (const auto& l : lines_of(read_text(vector_path("tls.expected-ja3.psv")))) {
      std::vector<std::string> f;
      std::size_t pos = 0;
      for (;;) {
        auto c = l.find('|', pos);
        f.push_back(l.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
      }
      if (f[5] == "1")
        s.by_port[f[2]].first = f[7];
      else
        s.by_port[f[4]].second = f[9];
    }
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override {
    ASSERT_EQ(s().run.status, 0) << s().run.err;
    ASSERT_EQ(s().sessions.size(), 5u);
  }

  static Shared& s() { return *shared_; }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(TlsJa3JlSessions, EachSessionNamesTheClientHelloSenderAsTheClient) {
  for (const auto& j : s().sessions) {
    ASSERT_TRUE(j["ServerPort"].is_string());
    ASSERT_TRUE(j["ClientPort"].is_string());
    EXPECT_EQ(j["ServerPort"], "14443");  // the client is the ClientHello sender, whatever came first
    EXPECT_EQ(j["ServerIP"], "127.0.0.1");
    EXPECT_EQ(j["TLSH"], "");
    EXPECT_TRUE(s().by_port.count(j["ClientPort"].get<std::string>())) << j["ClientPort"];
    EXPECT_FALSE(j["Partial"].get<bool>());
    std::string ts = j["Timestamp"];
    EXPECT_EQ(ts.size(), 30u) << ts;  // 2026-01-01T00:00:00.000000000Z
  }
}

TEST_F(TlsJa3JlSessions, FingerprintsAreTheExpectedListingsAndJa3DigestsTheMd5OfJa3) {
  for (const auto& j : s().sessions) {
    std::string port = j["ClientPort"];
    ASSERT_TRUE(s().by_port.count(port)) << port;
    EXPECT_EQ(j["JA3Digest"], s().by_port[port].first);
    EXPECT_EQ(j["JA3SDigest"], s().by_port[port].second);
    EXPECT_EQ(md5_hex(j["JA3"].get<std::string>()), j["JA3Digest"]);
  }
}

TEST_F(TlsJa3JlSessions, SniIsTheServerNameOnlyWhenTheClientSentTheExtension) {
  for (const auto& j : s().sessions) {
    // One client of the capture sent no server_name extension (0).
    std::string ja3 = j["JA3"];
    std::string exts = ja3.substr(ja3.find(',', ja3.find(',') + 1) + 1);
    bool has_sni_ext = exts.rfind("0-", 0) == 0;
    EXPECT_EQ(j["SNI"], has_sni_ext ? "test.d4.example" : "");
  }
}

TEST_F(TlsJa3JlSessions, Tls12SessionsCarryTheServerCertificateAndTls13SessionsNone) {
  int with_certs = 0;
  for (const auto& j : s().sessions) {
    if (j["TLSVersion"] == "TLS 1.3") {
      EXPECT_TRUE(j["Certificates"].is_null());  // encrypted in TLS 1.3
      continue;
    }
    ASSERT_TRUE(j["Certificates"].is_array());
    ++with_certs;
    const auto& c = j["Certificates"][0];
    EXPECT_EQ(c["CertHash"], kCertSha1);
    auto der = d4::protocol::base64_decode(c["Raw"].get<std::string>());
    ASSERT_TRUE(der);
    EXPECT_EQ(d4::core::sha1_hex(std::string_view(*der)), kCertSha1);
    EXPECT_EQ(c["Subject"]["CommonName"], "test.d4.example");
    EXPECT_EQ(c["Subject"]["Organization"][0], "D4 Test");
    EXPECT_EQ(c["Issuer"]["CommonName"], "test.d4.example");
    EXPECT_TRUE(c["RawSubjectPublicKeyInfo"].is_string());
    EXPECT_TRUE(c["NotBefore"].is_string());
  }
  EXPECT_EQ(with_certs, 3);
  EXPECT_TRUE(std::filesystem::exists(s().dir / "certs" / (std::string(kCertSha1) + ".crt")));
}

TEST_F(TlsJa3JlSessions, TheTimestampIsTheCaptureTimeOfTheSessionsFirstHandshakeData) {
  auto frames = load(vector_path("tls.pcap"));
  EXPECT_EQ(s().sessions[0]["Timestamp"], rfc3339_nano(frames.frames[3].first));  // frame 4
}

TEST(TlsVectors, JsonDirectoryOutputAndPartialSessions) {
  TempDir dir;
  auto r = run_tool("d4-tls-fingerprint", {vector_path("tls.pcap"), "-j", (dir / "jsons").string()}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "jsons")) {
    ++files;
    EXPECT_TRUE(nlohmann::json::accept(read_text(e.path()))) << e.path();
  }
  EXPECT_EQ(files, 5u);
  // Only the client's side of a handshake: a partial session at flow end, unless disabled.
  CaptureFile c;
  Bytes ch = handshake_record(
      1, client_hello(0x0303, {0x1301, 0x002f}, {0, 10, 11}, {29}, {0}, "only.client.example"));
  c.add(1000, ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp_seg(50000, 443, 100, 0x02))));
  c.add(2000, ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp_seg(50000, 443, 101, 0x18, ch))));
  c.write(dir / "partial.pcap");
  r = run_tool("d4-tls-fingerprint", {(dir / "partial.pcap").string()}, dir);
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 1u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_TRUE(j["Partial"].get<bool>());
  EXPECT_EQ(j["SNI"], "only.client.example");
  EXPECT_EQ(j["JA3S"], "");
  r = run_tool("d4-tls-fingerprint", {(dir / "partial.pcap").string(), "--no-partial"}, dir);
  EXPECT_EQ(r.out, "");
}

TEST(Ja3, GreaseIsRemovedWithoutTrailingSeparators) {
  // GREASE first in ciphers, last in extensions, in the middle of groups.
  Bytes body =
      client_hello(0x0303, {0x0a0a, 0x1301, 0x1302}, {0, 10, 11, 0x2a2a}, {29, 0xfafa, 23}, {0}, "g.example");
  ClientHello ch;
  ASSERT_TRUE(parse_client_hello(body, ch));
  EXPECT_EQ(ch.sni, "g.example");
  EXPECT_EQ(ja3_string(ch), "771,4865-4866,0-10-11,29-23,0");
  // The reference sensor's quirk keeps a '-' before a trailing GREASE value.
  EXPECT_EQ(ja3_string(ch, true), "771,4865-4866,0-10-11-,29-23,0");
  EXPECT_TRUE(is_grease(0x0a0a));
  EXPECT_TRUE(is_grease(0xfafa));
  EXPECT_FALSE(is_grease(0x0a1a));
  // JA3 of the sensor unit-test vector in the reference description.
  ClientHello v;
  v.legacy_version = 771;
  v.ciphers = {49199, 49200, 49195, 49196, 52392, 52393, 49171, 49161,
               49172, 49162, 156,   157,   47,    53,    49170, 10};
  v.extensions = {5, 10, 11, 13, 65281, 18};
  v.groups = {29, 23, 24, 25};
  v.point_formats = {0};
  EXPECT_EQ(md5_hex(ja3_string(v)), "c3a6cf0bf2e690ac8e1ecf6081f17a50");
  ServerHello sh;
  sh.legacy_version = 771;
  sh.cipher = 49200;
  sh.extensions = {65281, 11};
  EXPECT_EQ(ja3s_string(sh), "771,49200,65281-11");
  EXPECT_EQ(md5_hex(ja3s_string(sh)), "0debd3853f330c574b05e0b6d882dc27");
}

TEST(TlsReassembly, ReorderedAndRetransmittedSegmentsGiveTheSameSessions) {
  auto frames = load(vector_path("tls.pcap"));
  auto base = track(numbered(frames), frames.linktype);
  ASSERT_EQ(base.sessions.size(), 5u);
  std::mt19937 rng(42);
  auto shuffled = numbered(frames);
  // Swap neighbouring frames at random (keeps SYNs roughly early) and duplicate some data frames.
  for (std::size_t i = 1; i + 1 < shuffled.size(); ++i)
    if (rng() % 3 == 0) std::swap(shuffled[i], shuffled[i + 1]);
  std::vector<std::tuple<std::uint64_t, std::int64_t, Bytes>> with_dups;
  for (const auto& f : shuffled) {
    with_dups.push_back(f);
    if (std::get<2>(f).size() > 100 && rng() % 2 == 0) with_dups.push_back(f);
  }
  auto run = track(with_dups, frames.linktype);
  EXPECT_EQ(session_keys(run.sessions), session_keys(base.sessions));
}

TEST(TlsReassembly, OneByteSegmentsAndRecordsSplitAcrossSegments) {
  Bytes ch_body = client_hello(0x0303, {0x1301, 0xc02f}, {0, 10, 11}, {29, 23}, {0}, "tiny.example");
  Bytes record = handshake_record(1, ch_body);
  // The same handshake message split over two records.
  Bytes hs(record.begin() + 5, record.end());
  Bytes split;
  for (std::size_t cut : {std::size_t{0}, hs.size() / 2}) {
    std::size_t end = cut == 0 ? hs.size() / 2 : hs.size();
    Bytes rec{22, 3, 1};
    put16(rec, static_cast<std::uint16_t>(end - cut));
    rec.insert(rec.end(), hs.begin() + static_cast<std::ptrdiff_t>(cut),
               hs.begin() + static_cast<std::ptrdiff_t>(end));
    append(split, rec);
  }
  std::vector<std::tuple<std::uint64_t, std::int64_t, Bytes>> frames;
  std::uint64_t n = 0;
  frames.emplace_back(++n, 0,
                      ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp_seg(40000, 8443, 1000, 0x02))));
  for (std::size_t i = 0; i < split.size(); ++i)
    frames.emplace_back(++n, 0,
                        ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6,
                                              tcp_seg(40000, 8443, 1001 + static_cast<std::uint32_t>(i), 0x18,
                                                      Bytes{split[i]}))));
  auto run = track(frames, 1);
  ASSERT_EQ(run.hellos.size(), 1u);
  EXPECT_EQ(run.hellos[0].frame, n);  // completed by the last byte
  EXPECT_EQ(run.hellos[0].ja3, "771,4865-49199,0-10-11,29-23,0");
  EXPECT_EQ(run.hellos[0].sni, "tiny.example");
  ASSERT_EQ(run.sessions.size(), 1u);
  EXPECT_TRUE(run.sessions[0].partial);
}

TEST(TlsReassembly, Ipv6GivesTheSameFingerprints) {
  // Re-encapsulate every TCP segment of tls.pcap in IPv6 (::1 for 127.0.0.1).
  auto frames = load(vector_path("tls.pcap"));
  std::vector<std::tuple<std::uint64_t, std::int64_t, Bytes>> v6;
  for (std::size_t i = 0; i < frames.frames.size(); ++i) {
    const Bytes& f = frames.frames[i].second;
    packet::Packet p;
    ASSERT_EQ(packet::decode(frames.linktype, f, p), packet::DecodeStatus::Ok);
    Bytes segment(f.begin() + p.l4_offset, f.begin() + p.l4_offset + p.tcp.header_len);
    segment.insert(segment.end(), p.payload.begin(), p.payload.end());
    v6.emplace_back(i + 1, frames.frames[i].first, ethernet(0x86DD, ipv6("::1", "::1", 6, segment)));
  }
  auto run = track(v6, 1);
  std::string got;
  for (const auto& h : run.hellos) got += psv(h) + "\n";
  std::string want = read_text(vector_path("tls.expected-ja3.psv"));
  for (std::size_t pos; (pos = want.find("127.0.0.1")) != std::string::npos;) want.replace(pos, 9, "::1");
  EXPECT_EQ(got, want);
}

TEST(TlsTracker, NonTlsStreamsAndGarbageAreCountedNotParsed) {
  std::vector<std::tuple<std::uint64_t, std::int64_t, Bytes>> frames;
  frames.emplace_back(
      1, 0,
      ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6,
                            tcp_seg(40000, 80, 10, 0x18, text_bytes("GET / HTTP/1.1\r\n\r\n")))));
  // A record header announcing a huge length: not TLS.
  frames.emplace_back(2, 0,
                      ethernet(0x0800, ipv4("10.0.0.3", "10.0.0.4", 6,
                                            tcp_seg(40001, 443, 10, 0x18, Bytes{22, 3, 1, 0xff, 0xff, 1}))));
  // A ClientHello whose extension lengths lie.
  Bytes body = client_hello(0x0303, {0x1301}, {0, 10}, {29}, {}, "x");
  body[body.size() - 3] = 0x7f;
  frames.emplace_back(3, 0,
                      ethernet(0x0800, ipv4("10.0.0.5", "10.0.0.6", 6,
                                            tcp_seg(40002, 443, 10, 0x18, handshake_record(1, body)))));
  auto run = track(frames, 1);
  EXPECT_TRUE(run.sessions.empty());
  EXPECT_EQ(run.stats.not_tls_streams, 2u);
  EXPECT_EQ(run.stats.bad_hellos, 1u);
}

TEST(TlsParser, CertificateListAndServerHelloVersions) {
  Bytes sh;
  put16(sh, 0x0303);
  sh.insert(sh.end(), 32, 1);
  sh.push_back(0);
  put16(sh, 0x1301);
  sh.push_back(0);
  Bytes exts;
  put16(exts, 43);
  put16(exts, 2);
  put16(exts, 0x0304);
  put16(sh, static_cast<std::uint16_t>(exts.size()));
  append(sh, exts);
  ServerHello out;
  ASSERT_TRUE(parse_server_hello(sh, out));
  EXPECT_EQ(out.version(), 0x0304);
  EXPECT_EQ(ja3s_string(out), "771,4865,43");
  EXPECT_EQ(tls_version_name(out.version()), "TLS 1.3");
  Bytes list;  // two fake "certificates"
  Bytes inner = {0, 0, 2, 0xAA, 0xBB, 0, 0, 1, 0xCC};
  list.push_back(0);
  put16(list, static_cast<std::uint16_t>(inner.size()));
  append(list, inner);
  std::vector<std::span<const std::uint8_t>> certs;
  ASSERT_TRUE(parse_certificate_list(list, certs));
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_EQ(certs[1].size(), 1u);
  list[2] = static_cast<std::uint8_t>(list[2] + 1);  // outer length one too long
  certs.clear();
  EXPECT_FALSE(parse_certificate_list(list, certs));
  EXPECT_FALSE(parse_certificate(Bytes{0x30, 0x03, 0x02, 0x01, 0x01}));
}

TEST(TlsOutput, InvalidUtf8FromTheWireIsReplacedInJsonLines) {
  TempDir dir;
  CaptureFile c;
  Bytes ch = handshake_record(
      1, client_hello(0x0303, {0x1301}, {0, 10, 11}, {29}, {0}, std::string("bad\xff\xfe.example")));
  c.add(1000, ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp_seg(50000, 443, 100, 0x02))));
  c.add(2000, ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp_seg(50000, 443, 101, 0x18, ch))));
  c.write(dir / "bad.pcap");
  auto r = run_tool("d4-tls-fingerprint", {(dir / "bad.pcap").string()}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(lines_of(r.out).at(0));  // valid JSON despite the raw bytes
  EXPECT_EQ(j["SNI"], "bad\xEF\xBF\xBD\xEF\xBF\xBD.example");
  EXPECT_EQ(utf8_sanitize("ok \xC3\xA9 \xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80"),
            "ok \xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

namespace {

NameAttribute attr(std::vector<int> oid, std::string sn, std::string value) {
  return {std::move(oid), std::move(sn), std::move(value)};
}

CertificateInfo parsed(const std::vector<std::uint8_t>& der) {
  auto c = parse_certificate(der);
  if (!c) throw std::runtime_error("test certificate not parsed");
  return *c;
}

const char* kRefJa3 =
    "771,49199-49200-49195-49196-52392-52393-49171-49161-49172-49162-156-157-47-53-49170-10,5-10-11-13-65281-"
    "18,29-"
    "23-24-25,0";

}  // namespace

TEST(Tlsh, GoNameStringsQuotingAndTheReferenceBuffer) {
  // Go prints its parsed fields in a fixed order (C, ST, L, STREET, POSTALCODE, O, OU, CN,
  // SERIALNUMBER), reversed, whatever the certificate's order; multi-valued fields joined by '+'.
  std::vector<NameAttribute> name{attr({2, 5, 4, 3}, "CN", "www.example"),
                                  attr({2, 5, 4, 10}, "O", "Org, Inc."), attr({2, 5, 4, 6}, "C", "LU"),
                                  attr({2, 5, 4, 11}, "OU", "a"), attr({2, 5, 4, 11}, "OU", "b")};
  EXPECT_EQ(go_name_string(name), "CN=www.example,OU=a+OU=b,O=Org\\, Inc.,C=LU");
  // Other attributes: OID=#<DER of the value as Go marshals a string>, printed last.
  std::vector<NameAttribute> with_email{attr({2, 5, 4, 3}, "CN", " x#"),
                                        attr({1, 2, 840, 113549, 1, 9, 1}, "emailAddress", "a@b"),
                                        attr({0, 9, 2342, 19200300, 100, 1, 25}, "DC", "com")};
  EXPECT_EQ(go_name_string(with_email),
            "CN=\\ x#,0.9.2342.19200300.100.1.25=#1303636f6d,1.2.840.113549.1.9.1=#0c03614062");
  EXPECT_EQ(go_quote("a\"b\\c\n\x01\xff"
                     "\xc3\xa9\xc2\xa0"),
            "\"a\\\"b\\\\c\\n\\x01\\xff\xc3\xa9\\u00a0\"");

  // The reference sensor's unit-test session: its certificate names, hashed text by hand.
  auto key = make_ec_key();
  auto der =
      make_certificate({{{"C", "LU"}, {"L", "Luxembourg"}, {"O", "SMILE, CIRCL"}, {"CN", "localhost"}},
                        {{"C", "LU"}, {"ST", "LU"}, {"L", "Luxembourg"}, {"O", "SMILE"}, {"OU", "CIRCL"}}},
                       key.get(), key.get());
  std::string input = session_tlsh_input(kRefJa3, "771,49200,65281-11", {parsed(der)});
  EXPECT_EQ(
      input,
      "771491994920049195491965239252393491714916149172491621561574753491701051011136528118292324250"
      "771492006528111OU=CIRCLO=SMILEL=LuxembourgST=LUC=LUCN=localhostO=SMILE\\\\ CIRCLL=LuxembourgC=LU");
  // 187 bytes: libtlsh wants at least 256 (the reference's Go port hashed anything).
  EXPECT_FALSE(tlsh_digest(input));
}

TEST(Tlsh, DigestsRefusalsAndDistances) {
  std::string text;
  for (int i = 0; i < 40; ++i)
    text += "CN=host" + std::to_string(i * 7919 % 1000) + ".example.org,O=Example ";
  auto h = tlsh_digest(text);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->size(), 70u);  // legacy format, no "T1" prefix
  EXPECT_TRUE(is_tlsh_digest(*h));
  EXPECT_EQ(tlsh_digest(text), h);  // deterministic
  EXPECT_EQ(tlsh_distance(*h, *h), 0);
  // Printed in lower case as the reference sensor (Go encoding/hex); compared in either case.
  EXPECT_EQ(h->find_first_of("ABCDEF"), std::string::npos) << *h;
  std::string upper = *h;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(tlsh_distance(*h, upper), 0);
  std::string edited = text;
  edited.replace(100, 10, "zzzzzzzzzz");
  auto near = tlsh_digest(edited);
  std::string other;
  for (int i = 0; i < 60; ++i) other += std::to_string(i * 104729 % 99991) + "-qwerty/ASDF;";
  auto far = tlsh_digest(other);
  ASSERT_TRUE(near && far);
  EXPECT_GT(*tlsh_distance(*h, *near), 0);
  EXPECT_LT(*tlsh_distance(*h, *near), *tlsh_distance(*h, *far));
  EXPECT_FALSE(tlsh_digest(std::string(255, 'x') + "y"));  // too little variety
  EXPECT_FALSE(tlsh_digest(text.substr(0, 200)));          // too short
  EXPECT_FALSE(tlsh_distance(*h, "abc"));
  EXPECT_FALSE(is_tlsh_digest(std::string(70, 'g')));
}

namespace {

// One TLS 1.2 session in which a server sends a leaf and its intermediate with long names (enough
// text for a digest), tracked as d4-tls-fingerprint does.
Run track_certificate_chain_session() {
  // A server sending a leaf and its intermediate with long names: enough text for a digest.
  auto root_key = make_ec_key(), inter_key = make_ec_key(), leaf_key = make_ec_key();
  Name root{{"C", "US"},
            {"O", "Example Trust Services LLC"},
            {"CN", "Example Global Root Certification Authority R1"}};
  Name inter{{"C", "US"},
             {"O", "Example Trust Services LLC"},
             {"CN", "Example Secure Server CA 2024 - Intermediate"}};
  Name leaf{{"C", "US"},
            {"ST", "California"},
            {"L", "Mountain View"},
            {"O", "Example Web Properties, Inc."},
            {"CN", "www.example-web-properties.test"}};
  auto inter_der = make_certificate({inter, root, true, 2}, inter_key.get(), root_key.get());
  auto leaf_der = make_certificate({leaf, inter, false, 3}, leaf_key.get(), inter_key.get());
  Bytes ch =
      handshake_record(1, client_hello(0x0303, {0x1301, 0xc02f, 0xc030, 0x009c}, {0, 10, 11, 13, 23, 65281},
                                       {29, 23, 24}, {0}, "www.example-web-properties.test"));
  Bytes sh_body;
  put16(sh_body, 0x0303);
  sh_body.insert(sh_body.end(), 32, 7);
  sh_body.push_back(0);
  put16(sh_body, 0xc02f);
  sh_body.push_back(0);
  put16(sh_body, 4);
  put16(sh_body, 65281);
  put16(sh_body, 0);
  Bytes certs_body;
  Bytes list;
  for (const auto* d : {&leaf_der, &inter_der}) {
    list.push_back(static_cast<std::uint8_t>(d->size() >> 16));
    put16(list, static_cast<std::uint16_t>(d->size()));
    append(list, *d);
  }
  certs_body.push_back(static_cast<std::uint8_t>(list.size() >> 16));
  put16(certs_body, static_cast<std::uint16_t>(list.size()));
  append(certs_body, list);
  Bytes server = handshake_record(2, sh_body);
  append(server, handshake_record(11, certs_body));
  std::vector<std::tuple<std::uint64_t, std::int64_t, Bytes>> frames;
  auto frame = [&](std::uint64_t n, const std::string& src, const std::string& dst, Bytes seg) {
    frames.emplace_back(n, static_cast<std::int64_t>(n) * 1000000, ethernet(0x0800, ipv4(src, dst, 6, seg)));
  };
  frame(1, "10.0.0.1", "10.0.0.2", tcp_seg(50000, 443, 100, 0x02));
  frame(2, "10.0.0.2", "10.0.0.1", tcp_seg(443, 50000, 500, 0x12, {}, 101));
  frame(3, "10.0.0.1", "10.0.0.2", tcp_seg(50000, 443, 101, 0x18, ch, 501));
  frame(4, "10.0.0.2", "10.0.0.1",
        tcp_seg(443, 50000, 501, 0x18, server, static_cast<std::uint32_t>(101 + ch.size())));
  return track(frames, 1);
}

}  // namespace

TEST(TlsOutput, SessionWithACertificateChainCarriesItsTlsh) {
  auto run = track_certificate_chain_session();
  ASSERT_EQ(run.sessions.size(), 1u);
  const auto& s = run.sessions[0];
  ASSERT_EQ(s.certificates.size(), 2u);
  auto expected = tlsh_digest(session_tlsh_input(s.ja3, s.ja3s, s.certificates));
  ASSERT_TRUE(expected);
  EXPECT_EQ(s.tlsh, *expected);
  EXPECT_EQ(session_json(s)["TLSH"], *expected);
  EXPECT_EQ(run.stats.tlsh_refused, 0u);
}

TEST(TlsOutput, TheTlshInputHoldsBothCertificatesNamesGoOrderedAndQuoted) {
  auto run = track_certificate_chain_session();
  ASSERT_EQ(run.sessions.size(), 1u);
  const auto& s = run.sessions[0];
  EXPECT_NE(session_tlsh_input(s.ja3, s.ja3s, s.certificates)
                .find("CN=www.examplewebproperties.testO=Example Web Properties\\\\ Inc.L=Mountain "
                      "ViewST=CaliforniaC=US"),
            std::string::npos);
}

TEST(TlsOutput, SessionsWithOnlyAShortSelfSignedNameHaveNoTlsh) {
  // tls.pcap's sessions carry a single short self-signed name: all refused, TLSH "".
  auto vec = load(vector_path("tls.pcap"));
  auto base = track(numbered(vec), vec.linktype);
  EXPECT_EQ(base.stats.tlsh_refused, 5u);
}
