// The stdout destination against the reference C client: the real binary, fed the vector inputs on
// stdin with the vectors' settings and a fixed timestamp, must produce the vector streams byte for
// byte; its output must round-trip through d4::protocol::Framer; end-of-input behaviour.
#include <gtest/gtest.h>

#include <csignal>

#include "client_test_util.hpp"
#include "process.hpp"
#include "protocol/encoder.hpp"

using namespace d4::test;
using namespace std::chrono_literals;

namespace {

struct VectorCase {
  const char* stream;
  const char* input;
  int type;
  int snaplen;
};
const VectorCase kVectors[] = {
    {"c-client-type1-dns.d4", "dns.pcap", 1, 4096},
    {"c-client-type3-log.d4", "auth.log", 3, 512},
    {"c-client-type8-passivedns.d4", "dns.passivedns.csv", 8, 4096},
};

void PrintTo(const VectorCase& c, std::ostream* os) {
  *os << c.stream;
}

std::uint64_t first_timestamp(const std::vector<std::uint8_t>& stream) {
  return d4::protocol::load_le64(stream.data() + 18);
}

}  // namespace

class StdoutVectors : public ::testing::TestWithParam<VectorCase> {};

TEST_P(StdoutVectors, ByteIdenticalToReferenceCClient) {
  const auto& c = GetParam();
  ClientTempDir tmp;
  make_config(tmp / "conf", c.type, c.snaplen);
  auto expected = read_file(vector_path(c.stream));
  std::string ts = std::to_string(first_timestamp(expected));
  ClientProcess p({client_binary(), "-c", tmp / "conf", "--timestamp", ts}, vector_path(c.input));
  auto rc = p.wait(20s);
  ASSERT_TRUE(rc.has_value()) << "client did not exit at end of input";
  EXPECT_EQ(*rc, 0) << p.err();
  std::string out_text = p.out();
  std::vector<std::uint8_t> out(out_text.begin(), out_text.end());
  ASSERT_EQ(out.size(), expected.size()) << p.err();
  EXPECT_TRUE(out == expected) << "output differs from " << c.stream;
}

TEST_P(StdoutVectors, RoundTripThroughFramer) {
  const auto& c = GetParam();
  ClientTempDir tmp;
  make_config(tmp / "conf", c.type, c.snaplen);
  ClientProcess p({client_binary(), "-c", tmp / "conf"}, vector_path(c.input));
  ASSERT_EQ(p.wait(20s), 0) << p.err();
  std::string error;
  auto pkts = parse_stream(p.out(), &error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_GE(pkts.size(), 2u);
  for (auto& pk : pkts) {
    EXPECT_EQ(pk.header.type, c.type);
    EXPECT_EQ(pk.header.uuid.dashed(), kTestUuid);
    EXPECT_LE(pk.payload.size(), static_cast<std::size_t>(c.snaplen));
    EXPECT_NEAR(static_cast<double>(pk.header.timestamp), static_cast<double>(d4::protocol::unix_seconds()),
                60);
  }
  EXPECT_TRUE(pkts.back().payload.empty()) << "final empty packet at end of input";
  EXPECT_EQ(concat_payloads(pkts), read_file(vector_path(c.input)));
}

INSTANTIATE_TEST_SUITE_P(Vectors, StdoutVectors, ::testing::ValuesIn(kVectors),
                         [](const ::testing::TestParamInfo<VectorCase>& tp) {
                           return "type" + std::to_string(tp.param.type);
                         });

TEST(Stdout, OnePacketPerReadFromAPipeLikeTheCClient) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 3, 4096);
  ClientProcess p({client_binary(), "-c", tmp / "conf", "--timestamp", "1629453011"});
  p.write_stdin("blah");
  // The second write arrives once the first one's packet is out (a slow, e.g. emulated, client
  // would otherwise read both at once).
  ASSERT_TRUE(p.wait_stdout([](const std::string& out) { return out.size() >= 62 + 4; }, 20s)) << p.err();
  p.write_stdin("blahh\n");
  p.close_stdin();
  ASSERT_EQ(p.wait(10s), 0) << p.err();
  auto pkts = parse_stream(p.out());
  ASSERT_EQ(pkts.size(), 3u);
  EXPECT_EQ(std::string(pkts[0].payload.begin(), pkts[0].payload.end()), "blah");
  EXPECT_EQ(std::string(pkts[1].payload.begin(), pkts[1].payload.end()), "blahh\n");
  EXPECT_TRUE(pkts[2].payload.empty());
  EXPECT_EQ(pkts[0].header.timestamp, 1629453011u);
}

TEST(Stdout, LogsOnlyOnStderr) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 3, 4096);
  ClientProcess p({client_binary(), "-c", tmp / "conf", "-v", "--stats-interval", "10ms"},
                  vector_path("auth.log"));
  ASSERT_EQ(p.wait(10s), 0);
  std::string error;
  auto pkts = parse_stream(p.out(), &error);
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_EQ(concat_payloads(pkts), read_file(vector_path("auth.log")));
  EXPECT_NE(p.err().find("stats:"), std::string::npos);
}

TEST(Stdout, MetaHeaderFirstForExtendedType) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 254, 4096);
  write_file(tmp / "conf/metaheader.json", "{\"type\": \"ja3-jl\"}\n");
  ClientProcess p({client_binary(), "-c", tmp / "conf"}, vector_path("auth.log"));
  ASSERT_EQ(p.wait(10s), 0) << p.err();
  auto pkts = parse_stream(p.out());
  ASSERT_GE(pkts.size(), 3u);
  EXPECT_EQ(pkts[0].header.type, 2);
  EXPECT_EQ(std::string(pkts[0].payload.begin(), pkts[0].payload.end()), "{\"type\": \"ja3-jl\"}\n");
  for (std::size_t i = 1; i < pkts.size(); ++i) EXPECT_EQ(pkts[i].header.type, 254);
}

TEST(Stdout, EofExitSendsEmptyPacketAndExits) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 3, 4096);
  ClientProcess p({client_binary(), "-c", tmp / "conf", "--eof", "exit"});
  p.write_stdin("one line\n");
  p.close_stdin();
  ASSERT_EQ(p.wait(10s), 0);
  auto pkts = parse_stream(p.out());
  ASSERT_EQ(pkts.size(), 2u);
  EXPECT_TRUE(pkts[1].payload.empty());
}

TEST(Stdout, EofPollKeepsReadingAFileThatGrows) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 3, 4096);
  write_file(tmp / "input.log", "first\n");
  ClientProcess p({client_binary(), "-c", tmp / "conf", "--source", "file", "--file", tmp / "input.log",
                   "--eof", "poll", "-rl", "50ms"});
  ASSERT_TRUE(p.wait_stderr("", 1s));
  auto has = [&](const std::string& text) {
    return p.wait_stdout(
        [&](const std::string& out) {
          auto pay = concat_payloads(parse_stream(out));
          return std::string(pay.begin(), pay.end()) == text;
        },
        10s);
  };
  ASSERT_TRUE(has("first\n"));
  // A window in which nothing may happen (the client must not exit at the end of its input):
  // absence has no event to wait for; six poll intervals (-rl 50ms).
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(p.running()) << "with --eof=poll the client must not exit at end of input";
  {
    std::ofstream f(tmp / "input.log", std::ios::app);
    f << "second\n";
  }
  EXPECT_TRUE(has("first\nsecond\n"));
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(10s), 0) << p.err();
  auto pkts = parse_stream(p.out());
  for (auto& pk : pkts) EXPECT_FALSE(pk.payload.empty()) << "no end-of-input packet when polling";
}

TEST(Stdout, SigtermFlushesWhatWasRead) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 3, 4096);
  ClientProcess p({client_binary(), "-c", tmp / "conf"});
  std::string data = make_lines(200000);
  p.write_stdin(data);
  // All of it read and written before the signal?  Wait for the bytes on stdout.
  ASSERT_TRUE(p.wait_stdout(
      [&](const std::string& out) { return concat_payloads(parse_stream(out)).size() >= data.size(); }, 20s));
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait(10s), 0) << p.err();
  auto pay = concat_payloads(parse_stream(p.out()));
  EXPECT_EQ(std::string(pay.begin(), pay.end()), data);
  EXPECT_NE(p.err().find("SIGTERM"), std::string::npos);
}
