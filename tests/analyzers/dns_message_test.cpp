// DNS message parsing and rdata rendering.
#include <gtest/gtest.h>

#include "analyzers/pdns/dns_message.hpp"
#include "analyzers/pdns/rrtype.hpp"
#include "dns_builder.hpp"

using namespace d4::analyzers::dns;
using namespace d4::test::an;
using d4::test::from_hex;

namespace {

// Parses `msg` and renders its first answer in the given style.
std::string render_first(const Bytes& msg, RdataStyle style, bool* ok = nullptr) {
  Message m;
  EXPECT_EQ(m.parse(msg), ParseStatus::Ok);
  EXPECT_FALSE(m.answers().empty());
  if (m.answers().empty()) return {};
  std::string out;
  bool good = m.render_rdata(m.answers()[0], style, out);
  if (ok) *ok = good;
  return out;
}

Bytes u16b(std::uint16_t v) {
  Bytes b;
  put16(b, v);
  return b;
}

// The two rdata styles: passivedns's (the record's main value) and the zone-file presentation.
constexpr auto kPassivedns = RdataStyle::Passivedns;
constexpr auto kPresentation = RdataStyle::Presentation;

}  // namespace

TEST(DnsMessage, HeaderQuestionsAndCompressedAnswers) {
  DnsBuilder b(0xBEEF, 0x8580, 1, 2);
  std::size_t q = b.size();
  b.question("WWW.Example.ORG", rrtype::kA);
  b.rr_with(q, rrtype::kCname, 60,
            [&](DnsBuilder& x) { x.name_then_pointer("edge", q + 4); });  // edge.example.org
  b.rr(q + 4, rrtype::kA, 30, {93, 184, 216, 34});  // owner example.org via pointer into the question
  Message m;
  ASSERT_EQ(m.parse(b.bytes()), ParseStatus::Ok);
  EXPECT_EQ(m.header().id, 0xBEEF);
  EXPECT_TRUE(m.header().qr());
  EXPECT_TRUE(m.header().aa());
  EXPECT_EQ(m.header().rcode(), 0);
  ASSERT_EQ(m.questions().size(), 1u);
  EXPECT_EQ(m.questions()[0].name, "www.example.org");  // lower-cased
  ASSERT_EQ(m.answers().size(), 2u);
  EXPECT_EQ(m.answers()[0].name, "www.example.org");
  EXPECT_EQ(m.answers()[0].ttl, 60u);
  std::string rd;
  EXPECT_TRUE(m.render_rdata(m.answers()[0], RdataStyle::Passivedns, rd));
  EXPECT_EQ(rd, "edge.example.org");
  EXPECT_EQ(m.answers()[1].name, "example.org");
  rd.clear();
  EXPECT_TRUE(m.render_rdata(m.answers()[1], RdataStyle::Passivedns, rd));
  EXPECT_EQ(rd, "93.184.216.34");
}

TEST(DnsMessage, CompressionLoopsForwardPointersAndOverlongNamesAreRejected) {
  {  // a pointer to itself
    DnsBuilder b(1, 0x8180, 1, 0);
    b.pointer(12);
    put16(b.bytes(), 1);
    put16(b.bytes(), 1);
    Message m;
    EXPECT_EQ(m.parse(b.bytes()), ParseStatus::BadName);
  }
  {  // two labels pointing back into their own run: a loop through earlier bytes
    DnsBuilder b(1, 0x8180, 1, 0);
    b.name_then_pointer("a", 12);
    put16(b.bytes(), 1);
    put16(b.bytes(), 1);
    Message m;
    EXPECT_EQ(m.parse(b.bytes()), ParseStatus::BadName);
  }
  {  // a forward pointer
    DnsBuilder b(1, 0x8180, 1, 0);
    b.pointer(40);
    put16(b.bytes(), 1);
    put16(b.bytes(), 1);
    b.bytes().resize(60, 0);
    Message m;
    EXPECT_EQ(m.parse(b.bytes()), ParseStatus::BadName);
  }
  {  // 300 octets of labels
    std::string n;
    for (int i = 0; i < 50; ++i) n += "abcde.";
    n += "org";
    DnsBuilder b(1, 0x8180, 1, 0);
    b.question(n, 1);
    Message m;
    EXPECT_EQ(m.parse(b.bytes()), ParseStatus::BadName);
  }
  {  // reserved label type 0x40
    DnsBuilder b(1, 0x8180, 1, 0);
    b.bytes().push_back(0x41);
    b.bytes().push_back('x');
    b.bytes().push_back(0);
    put16(b.bytes(), 1);
    put16(b.bytes(), 1);
    Message m;
    EXPECT_EQ(m.parse(b.bytes()), ParseStatus::BadName);
  }
  // Every truncation of a valid response fails cleanly.
  Bytes full = simple_response("www.example.org", rrtype::kA, {1, 2, 3, 4});
  for (std::size_t n = 0; n < full.size(); ++n) {
    Message m;
    EXPECT_NE(m.parse(Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n))), ParseStatus::Ok)
        << n;
  }
}

TEST(DnsMessage, LabelEscapes) {
  DnsBuilder b(1, 0x8180, 1, 1);
  std::size_t q = b.size();
  Bytes& raw = b.bytes();
  for (std::string label :
       {std::string("A.B"), std::string("c d"), std::string("x\\y"), std::string("example")}) {
    raw.push_back(static_cast<std::uint8_t>(label.size()));
    raw.insert(raw.end(), label.begin(), label.end());
  }
  raw.push_back(0);
  put16(raw, 1);
  put16(raw, 1);
  b.rr(q, rrtype::kA, 1, {1, 1, 1, 1});
  Message m;
  ASSERT_EQ(m.parse(b.bytes()), ParseStatus::Ok);
  EXPECT_EQ(m.questions()[0].name, "a\\.b.c\\032d.x\\\\y.example");
}

TEST(DnsMessage, RendersAddressAndNameRecordsInBothStyles) {
  Bytes aaaa(16, 0);
  aaaa[0] = 0x20, aaaa[1] = 0x01, aaaa[2] = 0x0d, aaaa[3] = 0xb8, aaaa[15] = 1;
  EXPECT_EQ(render_first(simple_response("v6.example.org", rrtype::kAaaa, aaaa), kPassivedns), "2001:db8::1");

  Bytes mx = u16b(10);
  append(mx, wire_name("MX1.example.org"));
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kMx, mx), kPassivedns), "mx1.example.org");
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kMx, mx), kPresentation),
            "10 mx1.example.org");

  Bytes soa = wire_name("ns1.example.org");
  append(soa, wire_name("hostmaster.example.org"));
  for (std::uint32_t v : {2023u, 7200u, 3600u, 1209600u, 300u}) put32(soa, v);
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kSoa, soa), kPassivedns), "ns1.example.org");
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kSoa, soa), kPresentation),
            "ns1.example.org hostmaster.example.org 2023 7200 3600 1209600 300");

  Bytes srv = u16b(10);
  append(srv, u16b(60));
  append(srv, u16b(5060));
  append(srv, wire_name("sip.example.org"));
  EXPECT_EQ(render_first(simple_response("_sip._tcp.example.org", rrtype::kSrv, srv), kPassivedns),
            "sip.example.org");
  EXPECT_EQ(render_first(simple_response("_sip._tcp.example.org", rrtype::kSrv, srv), kPresentation),
            "10 60 5060 sip.example.org");
}

TEST(DnsMessage, RendersTextAndCaaRecordsInBothStyles) {
  Bytes txt = {6, 'v', '=', 's', 'p', 'f', '1', 5, ' ', '-', 'a', 'l', 'l'};
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kTxt, txt), kPassivedns), "v=spf1 -all");
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kTxt, txt), kPresentation),
            "\"v=spf1\" \" -all\"");
  Bytes txt_special = {4, 'a', '"', '\\', 0x07};
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kTxt, txt_special), kPresentation),
            "\"a\\\"\\\\\\007\"");

  Bytes caa = {0, 5, 'i', 's', 's', 'u', 'e'};
  append(caa, text_bytes("letsencrypt.org"));
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kCaa, caa), kPassivedns),
            "0 issue \"letsencrypt.org\"");
}

TEST(DnsMessage, RendersDnssecRecords) {
  Bytes ds = u16b(60485);
  ds.push_back(5);
  ds.push_back(1);
  append(ds, from_hex("2BB183AF5F22588179A53B0A98631FAD1A292118"));
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kDs, ds), kPassivedns),
            "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118");

  Bytes dnskey = u16b(257);
  dnskey.push_back(3);
  dnskey.push_back(8);
  for (int i = 1; i <= 32; ++i) dnskey.push_back(static_cast<std::uint8_t>(i));
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kDnskey, dnskey), kPassivedns),
            "257 3 8 AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=");

  Bytes rrsig = u16b(rrtype::kA);
  rrsig.push_back(8);
  rrsig.push_back(2);
  put32(rrsig, 300);
  put32(rrsig, 1700000000);
  put32(rrsig, 1699000000);
  put16(rrsig, 12345);
  append(rrsig, wire_name("example.org"));
  rrsig.insert(rrsig.end(), 16, 0xAB);
  EXPECT_EQ(render_first(simple_response("www.example.org", rrtype::kRrsig, rrsig), kPassivedns),
            "A 8 2 300 20231114221320 20231103082640 12345 example.org q6urq6urq6urq6urq6urqw==");

  Bytes nsec = wire_name("host.example.org");
  // window 0, 6 bytes of bitmap: A (1), MX (15), RRSIG (46), NSEC (47)
  append(nsec, {0, 6, 0x40, 0x01, 0, 0, 0, 0x03});
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kNsec, nsec), kPassivedns),
            "host.example.org A MX RRSIG NSEC");

  Bytes nsec3 = {1, 0};
  append(nsec3, u16b(10));
  append(nsec3, {2, 0xAA, 0xBB, 20});
  for (int i = 0; i < 20; ++i) nsec3.push_back(static_cast<std::uint8_t>(i));
  append(nsec3, {0, 1, 0x40});
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kNsec3, nsec3), kPassivedns),
            "1 0 10 AABB 000g40o40k30e209185go38e1s8124gj A");
}

TEST(DnsMessage, RendersServiceBindingParameters) {
  Bytes https = u16b(1);
  https.push_back(0);  // target "."
  append(https, u16b(1));
  append(https, u16b(6));
  append(https, {2, 'h', '2', 2, 'h', '3'});
  append(https, u16b(3));
  append(https, u16b(2));
  append(https, u16b(443));
  append(https, u16b(4));
  append(https, u16b(4));
  append(https, {1, 2, 3, 4});
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kHttps, https), kPassivedns),
            "1 . alpn=h2,h3 port=443 ipv4hint=1.2.3.4");
}

TEST(DnsMessage, UnknownTypesUseTheGenericFormAndMalformedDataIsFlagged) {
  bool ok = false;
  EXPECT_EQ(render_first(simple_response("x.example.org", 65280, {1, 2}), RdataStyle::Passivedns, &ok),
            "\\# 2 0102");
  EXPECT_TRUE(ok);  // unknown type: the generic form is the right presentation
  EXPECT_EQ(render_first(simple_response("x.example.org", rrtype::kA, {1, 2, 3, 4, 5}),
                         RdataStyle::Passivedns, &ok),
            "\\# 5 0102030405");
  EXPECT_FALSE(ok);                     // an A record of 5 bytes is malformed
  Bytes mx_cut = {0, 10, 3, 'm', 'x'};  // name runs past the rdata
  EXPECT_EQ(render_first(simple_response("example.org", rrtype::kMx, mx_cut), RdataStyle::Passivedns, &ok),
            "\\# 5 000A036D78");
  EXPECT_FALSE(ok);
}

TEST(RrType, NamesAndNumbers) {
  EXPECT_EQ(type_name(1), "A");
  EXPECT_EQ(type_name(257), "CAA");
  EXPECT_EQ(type_name(65280), "TYPE65280");
  EXPECT_EQ(parse_type("aaaa"), 28);
  EXPECT_EQ(parse_type("TYPE99"), 99);
  EXPECT_EQ(parse_type("46"), 46);
  EXPECT_EQ(parse_type("NSAP-PTR"), 23);
  EXPECT_FALSE(parse_type("BOGUS"));
  EXPECT_FALSE(parse_type("70000"));
  EXPECT_EQ(class_name(1), "IN");
  EXPECT_EQ(class_name(42), "CLASS42");
}

TEST(DnsMessage, HostileRecordCountsInTheHeaderCannotMakeTheParserReserveMemory) {
  // A 12-byte header claiming 65,535 records in each section: nothing may be reserved for them.
  Bytes header = {0x12, 0x34, 0x81, 0x80, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  Message m;
  EXPECT_EQ(m.parse(header), ParseStatus::Truncated);
  EXPECT_EQ(m.answers().capacity(), 0u);
  EXPECT_EQ(m.authority().capacity(), 0u);
  EXPECT_EQ(m.additional().capacity(), 0u);

  // The same claim followed by 200 bytes: at most one record per 11 bytes left can be reserved.
  Bytes padded = header;
  padded.resize(header.size() + 200, 0);
  Message m2;
  m2.parse(padded);
  EXPECT_LE(m2.answers().capacity(), 200u / 11 + 1);

  // Real records beyond the configured budget: the reservation stops at the budget too.
  DnsBuilder b(1, 0x8180, 1, 1000);
  std::size_t q = b.size();
  b.question("a.example", rrtype::kA);
  for (int i = 0; i < 1000; ++i) b.rr(q, rrtype::kA, 30, {192, 0, 2, 1});
  ParseOptions small;
  small.max_records = 4;
  Message m3;
  EXPECT_EQ(m3.parse(b.bytes(), small), ParseStatus::TooManyRecords);
  EXPECT_LE(m3.answers().capacity(), 4u);
}
