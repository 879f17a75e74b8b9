// The type-7 decoder in isolation: IPFIX framing across packet boundaries, templates per
// observation domain with withdrawals and a budget, every abstract data type rendered to JSON,
// resumable state, and mutated input (bounded, also run under ASan/UBSan).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "workers/ipfix/decoder.hpp"
#include "workers/ipfix/record_json.hpp"
#include "workers/ipfix_support.hpp"

namespace d4::test {
namespace {
using namespace d4::workers::ipfix;
using nlohmann::json;
using test::ipfix::awkward_chunks;
using test::ipfix::concat;
using test::ipfix::hand_built_session;
using test::ipfix::MessageBuilder;

// Framer + decoder + renderer, as the type-7 handler chains them.
class Pipeline : public RecordSink {
 public:
  explicit Pipeline(TemplateLimits limits = {})
      : decoder(InformationModel::standard(), limits), renderer(decoder.templates(), decoder.model()) {}

  bool feed(std::string_view data) {
    return framer.feed(data, [&](std::string_view m) { decoder.decode(m, *this); });
  }
  void on_record(const MessageHeader& h, const Template& t, std::string_view record) override {
    std::string text;
    renderer.render(text, "sensor", h, t, record);
    texts.push_back(text);
    records.push_back(json::parse(text));  // must always be valid JSON
  }
  void on_issue(std::string_view reason, std::string detail) override {
    issues.emplace_back(std::string(reason), std::move(detail));
  }
  std::size_t count(const std::string& reason) const {
    return static_cast<std::size_t>(
        std::count_if(issues.begin(), issues.end(), [&](const auto& i) { return i.first == reason; }));
  }

  MessageFramer framer;
  MessageDecoder decoder;
  RecordRenderer renderer;
  std::vector<std::string> texts;
  std::vector<json> records;
  std::vector<std::pair<std::string, std::string>> issues;
};

TEST(IpfixDecoder, InformationModelNamesIanaReverseAndCertElements) {
  auto model = InformationModel::standard();
  ASSERT_NE(model->find(0, 8), nullptr);
  EXPECT_EQ(model->find(0, 8)->name, "sourceIPv4Address");
  EXPECT_EQ(model->find(0, 8)->type, DataType::Ipv4Address);
  ASSERT_NE(model->find(kReversePen, 1), nullptr);
  EXPECT_EQ(model->find(kReversePen, 1)->name, "reverseOctetDeltaCount");
  // From CERT's registry file (libfixbuf-tools): the elements YAF exports.
  ASSERT_NE(model->find(kCertPen, 14), nullptr);
  EXPECT_EQ(model->find(kCertPen, 14)->name, "initialTCPFlags");
  ASSERT_NE(model->find(kCertPen, 14 | 0x4000), nullptr);
  EXPECT_EQ(model->find(kCertPen, 14 | 0x4000)->name, "reverseInitialTCPFlags");
  EXPECT_EQ(model->find(kCertPen, 0), nullptr);  // "Reserved" rows are not elements
  EXPECT_EQ(model->find(99999, 7), nullptr);
}

TEST(IpfixDecoder, HandBuiltSessionDecodesEveryElementType) {
  Pipeline p;
  for (const auto& piece : awkward_chunks(concat(hand_built_session()))) ASSERT_TRUE(p.feed(piece));
  EXPECT_EQ(p.framer.buffered(), 0u);
  ASSERT_EQ(p.records.size(), 5u);  // 2 flows + 1 options record, then 2 records of domain 8

  const json& r = p.records[0];
  EXPECT_EQ(r["d4_sensor"], "sensor");
  EXPECT_EQ(r["ipfix_domain"], 7);
  EXPECT_EQ(r["ipfix_template"], 300);
  EXPECT_EQ(r["ipfix_export_time"], "2023-11-14T22:13:20Z");
  EXPECT_FALSE(r.contains("ipfix_options"));
  EXPECT_EQ(r["sourceIPv4Address"], "192.0.2.1");
  EXPECT_EQ(r["destinationIPv6Address"], "2001:db8::1");
  EXPECT_EQ(r["sourceTransportPort"], 443);
  EXPECT_EQ(r["octetDeltaCount"], 1234567);
  EXPECT_EQ(r["flowStartMilliseconds"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(r["flowEndSeconds"], "2023-11-14T22:13:21Z");
  EXPECT_EQ(r["flowStartMicroseconds"], "2023-11-14T22:13:20.500000Z");
  EXPECT_EQ(r["flowStartNanoseconds"], "2023-11-14T22:13:20.250000000Z");
  EXPECT_EQ(r["sourceMacAddress"], "00:1b:21:3c:4d:5e");
  EXPECT_EQ(r["dataRecordsReliability"], true);
  EXPECT_EQ(r["applicationName"], "https");
  std::string payload_hex;
  for (int i = 0; i < 300; ++i) payload_hex += "ab";
  EXPECT_EQ(r["ipPayloadPacketSection"], payload_hex);
  EXPECT_EQ(r["initialTCPFlags"], 0x12);
  EXPECT_EQ(r["pen:99999:7"], "dead01");
  EXPECT_EQ(r["reverseOctetDeltaCount"], 987654321);
  EXPECT_FALSE(r.contains("paddingOctets"));
  EXPECT_EQ(p.records[1]["applicationName"], "dns \"quoted\"\n");  // escaped, and parsed back

  const json& o = p.records[2];
  EXPECT_EQ(o["ipfix_template"], 400);
  EXPECT_EQ(o["ipfix_options"], true);
  EXPECT_EQ(o["exportingProcessId"], 42);
  EXPECT_EQ(o["exportedMessageTotalCount"], 1000);

  // Domain 8 has its own template 300.
  EXPECT_EQ(p.records[3]["ipfix_domain"], 8);
  EXPECT_EQ(p.records[3]["protocolIdentifier"], 17);
  EXPECT_EQ(p.records[4]["protocolIdentifier"], 6);
  EXPECT_EQ(p.records[3]["ipfix_export_time"], "2023-11-14T22:15:20Z");

  // Data for template 500 (never defined) and for 300 after its withdrawal: counted, skipped.
  EXPECT_EQ(p.count("ipfix-unknown-template"), 2u);
  EXPECT_EQ(p.issues.size(), 2u);
  EXPECT_NE(p.issues[1].second.find("unknown template 300"), std::string::npos);
  EXPECT_EQ(p.decoder.templates().size(), 2u);  // options template 400 of domain 7, 300 of domain 8
}

TEST(IpfixDecoder, WithdrawAllAndUnknownWithdrawal) {
  MessageBuilder m(1, 0);
  m.begin_set(2).u16(256).u16(1).field(4, 1).u16(257).u16(1).field(5, 1);
  m.begin_set(3).u16(258).u16(1).u16(1).field(144, 4);
  m.begin_set(2).u16(2).u16(0);  // id 2: every template of set 2, not the options template
  m.begin_set(2).u16(999).u16(0);
  Pipeline p;
  ASSERT_TRUE(p.feed(m.finish()));
  EXPECT_EQ(p.decoder.templates().size(), 1u);
  EXPECT_NE(p.decoder.templates().find(1, 258), nullptr);
  EXPECT_EQ(p.count("ipfix-template-invalid"), 1u);
}

TEST(IpfixDecoder, TemplateBudgetRefusesAndCounts) {
  Pipeline p(TemplateLimits{2, 1 << 20});
  MessageBuilder m(1, 0);
  m.begin_set(2);
  for (std::uint16_t id = 256; id < 260; ++id) m.u16(id).u16(1).field(4, 1);
  m.begin_set(258).u8(6);
  ASSERT_TRUE(p.feed(m.finish()));
  EXPECT_EQ(p.decoder.templates().size(), 2u);
  EXPECT_EQ(p.count("ipfix-template-budget"), 2u);
  EXPECT_EQ(p.count("ipfix-unknown-template"), 1u);

  Pipeline bytes(TemplateLimits{100, 20});  // each template record is 8 bytes: two fit
  ASSERT_TRUE(bytes.feed(m.finish()));
  EXPECT_EQ(bytes.decoder.templates().size(), 2u);
  EXPECT_LE(bytes.decoder.templates().bytes(), 20u);
}

TEST(IpfixDecoder, MalformedSetsAreSkippedAndCountedNotFatal) {
  MessageBuilder m(1, 0);
  m.begin_set(2).u16(256).u16(2).field(4, 1).field(7, 0);  // field length 0
  m.begin_set(1).u32(0);                                   // a NetFlow v9 set id
  m.begin_set(2).u16(300).u16(1).field(4, 1);
  m.begin_set(300).u8(17).u8(6).u8(1);
  std::string msg = m.finish();
  MessageBuilder bad_set(1, 0);
  bad_set.begin_set(300).u8(1);
  std::string overlong = bad_set.finish();
  overlong[19] = 50;  // set length beyond the message
  Pipeline p;
  ASSERT_TRUE(p.feed(msg + overlong + msg));
  EXPECT_EQ(p.count("ipfix-template-invalid"), 2u);
  EXPECT_EQ(p.count("ipfix-set-invalid"), 3u);
  EXPECT_EQ(p.records.size(), 6u);
}

TEST(IpfixDecoder, VariableLengthFieldPastItsSetIsCounted) {
  MessageBuilder m(1, 0);
  m.begin_set(2).u16(256).u16(1).field(96, 65535);
  m.begin_set(256).u8(3).bytes("abc").u8(200).bytes("xy");
  Pipeline p;
  ASSERT_TRUE(p.feed(m.finish()));
  ASSERT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.records[0]["applicationName"], "abc");
  EXPECT_EQ(p.count("ipfix-record-invalid"), 1u);
}

TEST(IpfixDecoder, WrongVersionOrShortLengthIsFatal) {
  std::string msg = MessageBuilder(1, 0).finish();
  std::string v9 = msg;
  v9[1] = 9;
  Pipeline p;
  ASSERT_TRUE(p.feed(msg));
  EXPECT_FALSE(p.feed(v9));
  EXPECT_TRUE(p.framer.failed());
  EXPECT_NE(p.framer.error().find("version 9"), std::string::npos);
  EXPECT_FALSE(p.feed(msg));  // nothing is accepted after the error
  std::string short_len = msg;
  short_len[3] = 8;
  Pipeline q;
  EXPECT_FALSE(q.feed(short_len));
}

TEST(IpfixDecoder, SavedStateResumesMidMessageWithTheSameOutput) {
  std::string stream = concat(hand_built_session());
  Pipeline whole;
  ASSERT_TRUE(whole.feed(stream));
  for (std::size_t cut : {5u, 16u, 21u, 200u, 700u}) {
    Pipeline first;
    ASSERT_TRUE(first.feed(stream.substr(0, cut)));
    workers::Fields f;
    first.framer.save(f, "ipfix_");
    std::string templates = first.decoder.templates().serialize();
    Pipeline second;
    second.framer.load(f, "ipfix_");
    second.decoder.templates().deserialize(templates, second.decoder.model());
    ASSERT_TRUE(second.feed(stream.substr(cut)));
    auto texts = first.texts;
    texts.insert(texts.end(), second.texts.begin(), second.texts.end());
    EXPECT_EQ(texts, whole.texts) << "cut at " << cut;
  }
}

TEST(IpfixDecoder, AnnouncementLetsAStreamPartDecodeAlone) {
  auto msgs = hand_built_session();
  Pipeline first;
  ASSERT_TRUE(first.feed(msgs[0]));
  // A file starting after message 1 begins with the templates known then.
  std::string file = first.decoder.templates().announcement(123, 3) + msgs[1] + msgs[2];
  Pipeline alone;
  ASSERT_TRUE(alone.feed(file));
  Pipeline continued = Pipeline();
  ASSERT_TRUE(continued.feed(msgs[0]));
  std::size_t before = continued.records.size();
  ASSERT_TRUE(continued.feed(msgs[1] + msgs[2]));
  ASSERT_EQ(alone.records.size(), continued.records.size() - before);
  EXPECT_EQ(alone.count("ipfix-unknown-template"), 1u);  // the data after the withdrawal
  EXPECT_EQ(alone.decoder.templates().serialize(), continued.decoder.templates().serialize());
}

// RFC 6313 structured data: a basicList of ports, a subTemplateList and a subTemplateMultiList
// of records of template 259.
std::string structured_data_message() {
  MessageBuilder m(9, 0);
  m.begin_set(2).u16(256).u16(2).field(4, 1).field(291, 65535);
  m.u16(257).u16(2).field(8, 4).field(292, 65535);
  m.u16(258).u16(1).field(293, 65535);
  m.u16(259).u16(1).field(4, 1);
  m.begin_set(256).u8(6).varlen(std::string("\x03\x00\x07\x00\x02\x00\x35\x01\xbb", 9));
  m.begin_set(257).u32(0x0a000001).varlen(std::string("\x03\x01\x03\x11\x06", 5));
  m.begin_set(258).varlen(std::string("\x03\x01\x03\x00\x06\x11\x06", 7));
  return m.finish();
}

TEST(IpfixDecoder, StructuredDataRendersAsArrays) {
  Pipeline p;
  ASSERT_TRUE(p.feed(structured_data_message()));
  ASSERT_EQ(p.records.size(), 3u);
  EXPECT_EQ(p.records[0]["basicList"], json::parse("[53, 443]"));
  EXPECT_EQ(
      p.records[1]["subTemplateList"],
      json::parse(
          R"([{"ipfix_template":259,"protocolIdentifier":17},{"ipfix_template":259,"protocolIdentifier":6}])"));
  EXPECT_EQ(p.records[2]["subTemplateMultiList"], p.records[1]["subTemplateList"]);
  // A list that does not parse is output as hex rather than dropped.
  MessageBuilder bad(9, 0);
  bad.begin_set(258).varlen(std::string("\x03\x01\x03\x00\x09\x11", 6));
  ASSERT_TRUE(p.feed(bad.finish()));
  ASSERT_EQ(p.records.size(), 4u);
  EXPECT_EQ(p.records[3]["subTemplateMultiList"], "030103000911");
}

TEST(IpfixDecoder, Rfc3339Dates) {
  std::string s;
  append_rfc3339(s, 0);
  EXPECT_EQ(s, "1970-01-01T00:00:00Z");
  s.clear();
  append_rfc3339(s, 951782400 + 86399, 7, 3);  // leap day 2000
  EXPECT_EQ(s, "2000-02-29T23:59:59.007Z");
  s.clear();
  append_rfc3339(s, -1);
  EXPECT_EQ(s, "1969-12-31T23:59:59Z");
  s.clear();
  append_rfc3339(s, 4294967295);
  EXPECT_EQ(s, "2106-02-07T06:28:15Z");
}

// Random mutations of valid messages (bit flips, byte changes, truncations, duplicated ranges,
// length fields set to edge values) fed at random boundaries: the decoder never crashes, never
// reads outside its input (ASan build), and every record it outputs is valid JSON.
TEST(IpfixFuzz, MutatedMessagesNeverCrashAndAlwaysGiveJson) {
  auto seeds = hand_built_session();
  seeds.push_back(structured_data_message());
  std::mt19937 rng(12345);
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  std::size_t records = 0, issues = 0, fatal = 0;
  for (int iteration = 0; iteration < 10000; ++iteration) {
    std::string stream;
    for (int k = 0; k < 3; ++k) {
      std::string m = seeds[pick(seeds.size())];
      int mutations = 1 + static_cast<int>(pick(4));
      for (int j = 0; j < mutations; ++j) {
        std::size_t at = pick(m.size());
        switch (pick(5)) {
          case 0:
            m[at] = static_cast<char>(m[at] ^ (1 << pick(8)));
            break;
          case 1:
            m[at] = static_cast<char>(pick(256));
            break;
          case 2:
            if (at >= 16) m.resize(at);
            break;
          case 3:
            m.insert(at, m.substr(at, pick(32)));
            break;
          default:
            if (at + 1 < m.size()) m[at] = m[at + 1] = pick(2) ? '\xff' : '\0';
        }
      }
      if (m.size() >= 4 && pick(2)) {  // keep the framing right half of the time: reach the sets
        auto len = static_cast<std::uint16_t>(std::min<std::size_t>(m.size(), 65535));
        m[0] = 0;
        m[1] = 10;
        m[2] = static_cast<char>(len >> 8);
        m[3] = static_cast<char>(len & 0xff);
      }
      stream += m;
    }
    Pipeline p(TemplateLimits{64, 4096});
    std::size_t pos = 0;
    bool ok = true;
    while (ok && pos < stream.size()) {
      std::size_t n = std::min(1 + pick(300), stream.size() - pos);
      // An exactly sized copy: ASan reports any read past the piece.
      std::unique_ptr<char[]> piece(new char[n]);
      std::memcpy(piece.get(), stream.data() + pos, n);
      ok = p.feed(std::string_view(piece.get(), n));
      pos += n;
    }
    records += p.records.size();
    issues += p.issues.size();
    fatal += ok ? 0 : 1;
    ASSERT_LE(p.framer.buffered(), 65535u);
  }
  // The mutations reached every path: records decoded, problems counted, streams rejected.
  EXPECT_GT(records, 1000u);
  EXPECT_GT(issues, 1000u);
  EXPECT_GT(fatal, 100u);
}

}  // namespace
}  // namespace d4::test
