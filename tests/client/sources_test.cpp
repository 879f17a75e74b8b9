// Sources other than stdin: the folder watcher and live capture with libpcap.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <csignal>
#include <ctime>

#include "client_test_util.hpp"
#include "process.hpp"
#include "protocol/encoding.hpp"

using namespace d4::test;
using namespace std::chrono_literals;

namespace {

std::string payload_text(ClientProcess& p) {
  auto pay = concat_payloads(parse_stream(p.out()));
  return {pay.begin(), pay.end()};
}

bool wait_output(ClientProcess& p, const std::string& text, std::chrono::milliseconds timeout) {
  return p.wait_stdout(
      [&](const std::string& out) {
        auto pay = concat_payloads(parse_stream(out));
        return std::string(pay.begin(), pay.end()) == text;
      },
      timeout);
}

}  // namespace

TEST(FolderSource, JsonFilesAreSentWholeWithSeparator) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 6, 4096);
  std::filesystem::create_directories(tmp / "watch");
  ClientProcess p(
      {client_binary(), "-c", tmp / "conf", "--source", "folder", "--folder", tmp / "watch", "-json"});
  ASSERT_TRUE(p.wait_stderr("watching", 10s)) << p.err();
  write_file(tmp / "watch/a.json", "{\"a\": 1}");
  ASSERT_TRUE(wait_output(p, "{\"a\": 1}\n", 10s)) << payload_text(p);
  // A subfolder with a file in it, moved in whole (its content predates its watch), then a file
  // written into that subfolder once it is watched.
  std::filesystem::create_directories(tmp / "staging/sub");
  std::string big(10000, 'b');
  write_file(tmp / "staging/sub/b.json", "{\"b\": \"" + big + "\"}");
  std::filesystem::rename(tmp / "staging/sub", tmp / "watch/sub");
  const std::string ab = "{\"a\": 1}\n{\"b\": \"" + big + "\"}\n";
  ASSERT_TRUE(wait_output(p, ab, 10s)) << "files in subfolders too";
  write_file(tmp / "watch/sub/c.json", "{\"c\": 3}");
  ASSERT_TRUE(wait_output(p, ab + "{\"c\": 3}\n", 10s)) << "and files written into them later";
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  for (auto& pk : parse_stream(p.out())) EXPECT_LE(pk.payload.size(), 4096u);
}

TEST(FolderSource, OtherFilesAreBase64Encoded) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 3, 4096);
  std::filesystem::create_directories(tmp / "watch");
  ClientProcess p({client_binary(), "-c", tmp / "conf", "--source", "folder", "--folder", tmp / "watch"});
  ASSERT_TRUE(p.wait_stderr("watching", 10s)) << p.err();
  std::vector<std::uint8_t> bin(10000);
  for (std::size_t i = 0; i < bin.size(); ++i) bin[i] = static_cast<std::uint8_t>(i * 7);
  write_file(tmp / "watch/blob.bin", bin);
  std::string expected = d4::protocol::base64_encode(bin) + "\n";
  ASSERT_TRUE(wait_output(p, expected, 10s));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0);
  EXPECT_EQ(d4::protocol::base64_encode(std::string_view("any carnal pleas")), "YW55IGNhcm5hbCBwbGVhcw==");
}

TEST(FolderSource, DailySubfolder) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 6, 4096);
  std::filesystem::create_directories(tmp / "watch");
  ClientProcess p({client_binary(), "-c", tmp / "conf", "--source", "folder", "--folder", tmp / "watch",
                   "-json", "-daily"});
  ASSERT_TRUE(p.wait_stderr("waiting for", 10s)) << p.err();
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char day[16];
  std::strftime(day, sizeof day, "%Y%m%d", &tm);
  std::filesystem::create_directories(tmp / "watch" + "/" + day);
  ASSERT_TRUE(p.wait_stderr("watching", 10s)) << p.err();
  write_file(tmp / "watch" + "/" + day + "/x.json", "{}");
  EXPECT_TRUE(wait_output(p, "{}\n", 10s));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0);
}

TEST(PcapSource, LiveCaptureOnLoopback) {
  ClientTempDir tmp;
  make_config(tmp / "conf", 1, 4096);
  // A UDP port of our own to filter on.
  int rx = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(rx, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ClientProcess p({client_binary(), "-c", tmp / "conf", "--source", "pcap", "--interface", "lo", "--filter",
                   "udp and dst port " + std::to_string(port)});
  auto rc = p.wait(1500ms);
  if (rc.has_value()) {
    if (p.err().find("ermission") != std::string::npos || p.err().find("not permitted") != std::string::npos)
      GTEST_SKIP() << "no capture permission: " << p.err();
    FAIL() << p.err();
  }
  ASSERT_TRUE(p.wait_stderr("capturing on lo", 5s)) << p.err();
  int tx = ::socket(AF_INET, SOCK_DGRAM, 0);
  const std::string msg = "d4 capture test payload";
  for (int i = 0; i < 5; ++i) {
    ::sendto(tx, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ::close(tx);
  ::close(rx);
  p.wait_stdout(
      [](const std::string& out) {
        std::size_t n = 0;
        return is_valid_pcap(concat_payloads(parse_stream(out)), &n) && n >= 5;
      },
      10s);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  auto bytes = concat_payloads(parse_stream(p.out()));
  std::size_t n = 0;
  ASSERT_TRUE(is_valid_pcap(bytes, &n)) << "a pcap stream: global header then whole records";
  EXPECT_EQ(n, 5u);
  std::string all(bytes.begin(), bytes.end());
  EXPECT_NE(all.find(msg), std::string::npos);
  EXPECT_NE(p.err().find("frames received"), std::string::npos);
}
