// Passive DNS inputs without Redis: records extracted from dns.pcap and parsed from
// dns.passivedns.csv against dns.expected-records.ndjson; CSV, dnscap and COF parsing; DNS over
// TCP, IPv6 and VLAN.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/pdns/cof_import.hpp"
#include "analyzers/pdns/dns_extractor.hpp"
#include "analyzers/pdns/dnscap_text.hpp"
#include "analyzers/pdns/passivedns_csv.hpp"
#include "analyzers/pdns/rrtype.hpp"
#include "dns_builder.hpp"

using namespace d4::analyzers;
using namespace d4::analyzers::pdns;
using namespace d4::test::an;
using d4::test::read_text;
using d4::test::vector_path;

namespace {

struct Agg {
  std::int64_t first = 0, last = 0;
  std::uint64_t count = 0;
};
using RecordKey = std::tuple<std::string, std::string, std::string>;  // rrname, rrtype mnemonic, rdata

void aggregate(std::map<RecordKey, Agg>& m, const PdnsRecord& r) {
  auto [it, inserted] = m.try_emplace(RecordKey{r.rrname, dns::type_name(r.rrtype), r.rdata},
                                      Agg{r.time_first, r.time_last, 0});
  it->second.first = std::min(it->second.first, r.time_first);
  it->second.last = std::max(it->second.last, r.time_last);
  it->second.count += r.count;
}

std::map<RecordKey, Agg> expected_records() {
  std::map<RecordKey, Agg> m;
  for (const auto& line : lines_of(read_text(vector_path("dns.expected-records.ndjson")))) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    m[RecordKey{j["rrname"], j["rrtype"], j["rdata"]}] = Agg{j["time_first"], j["time_last"], j["count"]};
  }
  return m;
}

void expect_same(const std::map<RecordKey, Agg>& got, const std::map<RecordKey, Agg>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [k, w] : want) {
    auto it = got.find(k);
    ASSERT_NE(it, got.end()) << std::get<0>(k) << " " << std::get<1>(k) << " " << std::get<2>(k);
    EXPECT_EQ(it->second.first, w.first) << std::get<0>(k);
    EXPECT_EQ(it->second.last, w.last) << std::get<0>(k);
    EXPECT_EQ(it->second.count, w.count) << std::get<0>(k);
  }
}

std::vector<PdnsRecord> extract(const Bytes& capture) {
  std::vector<PdnsRecord> out;
  DnsExtractor ex([&](PdnsRecord&& r, const auto&, const auto&) { out.push_back(std::move(r)); });
  auto reader = packet::CaptureReader::from_memory(capture);
  packet::Frame f;
  while (reader.next(f)) ex.process(f);
  ex.finish();
  return out;
}

}  // namespace

TEST(PdnsVectors, RecordsExtractedFromDnsPcapMatchTheExpectedFile) {
  std::map<RecordKey, Agg> got;
  DnsExtractor ex([&](PdnsRecord&& r, const auto&, const auto&) { aggregate(got, r); });
  auto reader = packet::CaptureReader::open(vector_path("dns.pcap"));
  packet::Frame f;
  while (reader.next(f)) ex.process(f);
  ex.finish();
  expect_same(got, expected_records());
  EXPECT_EQ(ex.stats().responses, 60u);
  EXPECT_EQ(ex.stats().records, 60u);
  EXPECT_TRUE(ex.stats().parse_errors.empty());
}

TEST(PdnsVectors, RecordsParsedFromThePassivednsCsvMatchTheExpectedFile) {
  std::map<RecordKey, Agg> got;
  for (const auto& line : lines_of(read_text(vector_path("dns.passivedns.csv")))) {
    PdnsRecord r;
    ASSERT_EQ(parse_passivedns_line(line, r), CsvStatus::Ok) << line;
    aggregate(got, r);
  }
  expect_same(got, expected_records());
}

TEST(PassivednsCsv, ReferenceSampleAndNormalisation) {
  PdnsRecord r;
  ASSERT_EQ(parse_passivedns_line(
                "1548624738.280922||192.168.1.12||8.8.8.8||IN||www-google-analytics.L.google.com.||AAAA||"
                "2A00:1450:400e:801:0:0:0:200E||299||12",
                r),
            CsvStatus::Ok);
  EXPECT_EQ(r.rrname, "www-google-analytics.l.google.com");
  EXPECT_EQ(r.rrtype, 28);
  EXPECT_EQ(r.rdata, "2a00:1450:400e:801::200e");  // normalised IPv6
  EXPECT_EQ(r.time_first, 1548624738);
  EXPECT_EQ(r.ttl, 299);
  EXPECT_EQ(r.count, 12u);
  // 8 fields (passivedns without the count), numeric type, quoted TXT, name answers folded.
  ASSERT_EQ(parse_passivedns_line("1||c||s||IN||Example.org.||16||\"Hello World\"||60", r), CsvStatus::Ok);
  EXPECT_EQ(r.rrtype, 16);
  EXPECT_EQ(r.rdata, "Hello World");
  EXPECT_EQ(r.count, 1u);
  ASSERT_EQ(parse_passivedns_line("1||c||s||IN||example.org.||CNAME||Target.Example.NET.||60||1", r),
            CsvStatus::Ok);
  EXPECT_EQ(r.rdata, "target.example.net");
}

TEST(PassivednsCsv, MalformedLinesGiveAReasonInsteadOfFailing) {
  PdnsRecord r;
  EXPECT_EQ(parse_passivedns_line("", r), CsvStatus::Empty);
  EXPECT_EQ(parse_passivedns_line("   \r", r), CsvStatus::Empty);
  EXPECT_EQ(parse_passivedns_line("a||b||c", r), CsvStatus::FieldCount);
  EXPECT_EQ(parse_passivedns_line("1||c||s||IN||q||A||1.2.3.4||60||1||extra", r), CsvStatus::FieldCount);
  EXPECT_EQ(parse_passivedns_line("x.5||c||s||IN||q||A||1.2.3.4||60||1", r), CsvStatus::BadTimestamp);
  EXPECT_EQ(parse_passivedns_line("1||c||s||IN||||A||1.2.3.4||60||1", r), CsvStatus::EmptyName);
  EXPECT_EQ(parse_passivedns_line("1||c||s||IN||q||BOGUS||1.2.3.4||60||1", r), CsvStatus::UnknownType);
  EXPECT_EQ(parse_passivedns_line("1||c||s||IN||q||A||not-an-ip||60||1", r), CsvStatus::BadAnswer);
  EXPECT_EQ(parse_passivedns_line("1||c||s||IN||q||A||1.2.3.4||-5||1", r), CsvStatus::BadTtl);
  EXPECT_EQ(parse_passivedns_line("1||c||s||IN||q||A||1.2.3.4||60||many", r), CsvStatus::BadCount);
}

TEST(PdnsExtraction, DnsOverTcpIpv6AndVlan) {
  // A large TCP response (length-prefixed), split in three segments delivered out of order, over
  // IPv6 inside a VLAN tag.
  DnsBuilder b(7, 0x8180, 1, 40);
  std::size_t q = b.size();
  b.question("big.example.org", dns::rrtype::kA);
  for (int i = 0; i < 40; ++i) b.rr(q, dns::rrtype::kA, 60, {10, 0, 0, static_cast<std::uint8_t>(i)});
  Bytes stream;
  put16(stream, static_cast<std::uint16_t>(b.size()));
  append(stream, b.bytes());
  std::size_t third = stream.size() / 3;
  Bytes p1(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(third));
  Bytes p2(stream.begin() + static_cast<std::ptrdiff_t>(third),
           stream.begin() + static_cast<std::ptrdiff_t>(2 * third));
  Bytes p3(stream.begin() + static_cast<std::ptrdiff_t>(2 * third), stream.end());
  auto frame = [&](std::uint32_t seq, const Bytes& payload, std::uint8_t flags = 0x18) {
    return ethernet(0x86DD, ipv6("2001:db8::53", "2001:db8::c", 6, tcp_seg(53, 40001, seq, flags, payload)),
                    {42});
  };
  CaptureFile c;
  c.add(1700000100LL * 1000000000, frame(999, {}, 0x12));  // SYN-ACK from the server
  c.add(1700000101LL * 1000000000, frame(1000 + static_cast<std::uint32_t>(2 * third), p3));
  c.add(1700000101LL * 1000000000, frame(1000, p1));
  c.add(1700000102LL * 1000000000, frame(1000 + static_cast<std::uint32_t>(third), p2));
  // And a UDP response over IPv6 with an extension header.
  c.add(1700000103LL * 1000000000,
        ethernet(0x86DD,
                 ipv6("2001:db8::53", "2001:db8::c", 17,
                      udp(53, 5353, simple_response("v6.example.org", dns::rrtype::kAaaa, Bytes(16, 0x11))),
                      {{60, Bytes(6, 0)}})));
  auto records = extract(c.pcap());
  ASSERT_EQ(records.size(), 41u);
  std::set<std::string> rdata;
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(records[static_cast<std::size_t>(i)].rrname, "big.example.org");
    EXPECT_EQ(records[static_cast<std::size_t>(i)].time_first, 1700000102);  // the segment that completed it
    rdata.insert(records[static_cast<std::size_t>(i)].rdata);
  }
  EXPECT_EQ(rdata.size(), 40u);
  EXPECT_EQ(records[40].rdata, "1111:1111:1111:1111:1111:1111:1111:1111");
  EXPECT_EQ(records[40].rrtype, dns::rrtype::kAaaa);
}

TEST(PdnsExtraction, QueriesMalformedMessagesAndOtherPortsAreIgnoredAndCounted) {
  CaptureFile c;
  Bytes query = simple_response("q.example.org", 1, {1, 2, 3, 4});
  query[2] &= 0x7F;                                                                   // QR = 0
  c.add(0, ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.53", 17, udp(53, 53, query))));  // resolver to server
  const Bytes whole = simple_response("b.example.org", 1, {1, 2, 3, 4});
  const Bytes broken(whole.begin(), whole.end() - 3);  // the answer's rdata is cut
  c.add(0, ethernet(0x0800, ipv4("10.0.0.53", "10.0.0.1", 17, udp(53, 5000, broken))));
  c.add(0, ethernet(0x0800, ipv4("10.0.0.53", "10.0.0.1", 17,
                                 udp(5353, 5000, simple_response("m.local", 1, {1, 1, 1, 1})))));
  std::vector<PdnsRecord> out;
  DnsExtractor ex([&](PdnsRecord&& r, const auto&, const auto&) { out.push_back(std::move(r)); });
  auto bytes = c.pcap();
  auto reader = packet::CaptureReader::from_memory(bytes);
  packet::Frame f;
  while (reader.next(f)) ex.process(f);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(ex.stats().dns_messages, 2u);  // the query and the broken response (5353 is not a DNS port here)
  EXPECT_EQ(ex.stats().parse_errors.at("truncated"), 1u);
}

TEST(Dnscap, ParsesResponsesAcrossContinuationLinesAndChunks) {
  std::string text =
      "[76] 2023-11-14 22:13:20.010000 [#1 eth0 0] \\\n"
      "\t[198.51.100.53].53 [192.0.2.10].40000  \\\n"
      "\tdns QUERY,NOERROR,1,qr|aa|rd|ra \\\n"
      "\t1 www.example.org,IN,A \\\n"
      "\t2 www.example.org,IN,CNAME,300,Edge.Example.net \\\n"
      "\tedge.example.net,IN,A,60,93.184.216.34 0 0\n"
      "[60] 2023-11-14 22:13:21.000000 [#2 eth0 0] \\\n"
      "\t[192.0.2.10].40000 [198.51.100.53].53  \\\n"
      "\tdns QUERY,NOERROR,2,rd \\\n"
      "\t1 mail.example.org,IN,A 0 0 0\n"
      "[80] 2023-11-14 22:13:22.000000 [#3 eth0 0] \\\n"
      "\t[198.51.100.53].53 [192.0.2.10].40000  \\\n"
      "\tdns QUERY,NOERROR,3,qr \\\n"
      "\t1 example.org,IN,MX \\\n"
      "\t2 example.org,IN,MX,300,10,mx1.example.org \\\n"
      "\texample.org,IN,TXT,300,[12] 0 0\n"
      "garbage that is not dnscap\n";
  std::vector<PdnsRecord> out;
  std::vector<std::string> rejects;
  DnscapParser p([&](PdnsRecord&& r) { out.push_back(std::move(r)); }, {},
                 [&](std::string_view reason, std::string_view) { rejects.emplace_back(reason); });
  // Feed in awkward chunks to exercise line buffering.
  for (std::size_t i = 0; i < text.size(); i += 7) p.feed(std::string_view(text).substr(i, 7));
  p.finish();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].rrname, "www.example.org");
  EXPECT_EQ(out[0].rrtype, dns::rrtype::kCname);
  EXPECT_EQ(out[0].rdata, "edge.example.net");
  EXPECT_EQ(out[0].time_first, 1700000000);
  EXPECT_EQ(out[1].rdata, "93.184.216.34");
  EXPECT_EQ(out[1].ttl, 60);
  EXPECT_EQ(out[2].rrtype, dns::rrtype::kMx);
  EXPECT_EQ(out[2].rdata, "mx1.example.org");
  EXPECT_EQ(p.stats().responses, 2u);
  EXPECT_EQ(p.stats().unrendered, 1u);  // the TXT answer dnscap printed as [12]
  EXPECT_EQ(p.stats().malformed, 1u);   // the garbage line
  EXPECT_EQ(rejects, std::vector<std::string>{"dnscap_bad_header"});
}

TEST(CofImport, RecordsArraysAndErrors) {
  std::vector<PdnsRecord> out;
  EXPECT_EQ(parse_cof_line(R"({"rrname":"WWW.Example.org.","rrtype":"A","rdata":["1.2.3.4","5.6.7.8"],)"
                           R"("time_first":10,"time_last":20,"count":7,"sensor_id":"abc"})",
                           out),
            CofStatus::Ok);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].rrname, "www.example.org");
  EXPECT_EQ(out[1].rdata, "5.6.7.8");
  EXPECT_EQ(out[0].count, 7u);
  EXPECT_EQ(out[0].sensor_id, "abc");
  out.clear();
  EXPECT_EQ(
      parse_cof_line(
          R"({"rrname":"x.org","rrtype":28,"rdata":"2001:DB8::0:1","zone_time_first":5,"zone_time_last":6})",
          out),
      CofStatus::Ok);
  EXPECT_EQ(out[0].rdata, "2001:db8::1");
  EXPECT_EQ(parse_cof_line("{not json", out), CofStatus::BadJson);
  EXPECT_EQ(parse_cof_line(R"({"rrname":"x.org","rdata":"1.2.3.4","time_first":1,"time_last":2})", out),
            CofStatus::MissingField);
  EXPECT_EQ(parse_cof_line(
                R"({"rrname":"x.org","rrtype":"NOPE","rdata":"1.2.3.4","time_first":1,"time_last":2})", out),
            CofStatus::BadType);
  EXPECT_EQ(
      parse_cof_line(
          R"({"rrname":"x.org","rrtype":"A","rdata":"1.2.3.4","time_first":"yesterday","time_last":2})", out),
      CofStatus::BadTime);
  EXPECT_EQ(parse_cof_line(
                R"({"rrname":"x.org","rrtype":"A","rdata":"999.1.1.1","time_first":1,"time_last":2})", out),
            CofStatus::BadRdata);
}
