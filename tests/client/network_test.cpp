// End-to-end tests of the network destination: the real d4-client binary sends to a receiver
// written here (OpenSSL server + d4::protocol::Framer) over TLS on loopback, with a throwaway PKI
// made by the openssl command line.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <set>

#include "client_test_util.hpp"
#include "process.hpp"
#include "receiver.hpp"

using namespace d4::test;
using namespace std::chrono_literals;

namespace {

class Network : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SuitePki::make(); }
  static void TearDownTestSuite() { SuitePki::remove(); }
  const TestPki& pki() { return *SuitePki::pki; }
  ReceiverOptions tls_receiver() {
    ReceiverOptions o;
    o.cert_file = pki().server_crt;
    o.key_file = pki().server_key;
    return o;
  }
  std::vector<std::string> args(const std::string& conf, const std::string& dest,
                                std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {client_binary(), "-c",  conf,    "--destination", dest, "--retry-min",
                                  "50ms",          "-rt", "300ms", "-ct",           "5s"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  ClientTempDir tmp;
};

// Data packets of a session (type-2 meta header packets left out).
std::vector<RxPacket> data_packets(const Session& s) {
  std::vector<RxPacket> out;
  for (auto& p : s.packets)
    if (p.header.type != 2) out.push_back(p);
  return out;
}

// Checks that the sessions together carry every byte of `input` in order: each session is a
// contiguous piece of the input (after `prefix` bytes of per-session header, e.g. the pcap global
// header), the first starts at `base`, each next one starts at or before the end of the previous
// one, and the overlaps are whole packets identical to packets of the previous session.
struct Coverage {
  std::size_t duplicate_packets = 0;
  std::size_t duplicate_bytes = 0;
};
Coverage check_coverage(const std::vector<std::uint8_t>& input, const std::vector<Session>& sessions,
                        std::size_t base, std::size_t prefix) {
  Coverage cov;
  std::size_t covered_end = base;
  std::set<std::pair<std::size_t, std::size_t>> previous_packets;  // (offset, size)
  bool first = true;
  for (std::size_t k = 0; k < sessions.size(); ++k) {
    auto pkts = data_packets(sessions[k]);
    if (pkts.empty()) continue;
    std::vector<std::uint8_t> data = concat_payloads(pkts);
    EXPECT_GE(data.size(), prefix) << "session " << k;
    if (data.size() < prefix) continue;
    EXPECT_TRUE(std::equal(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(prefix), data.begin()))
        << "session " << k << " does not start with the stream header";
    // Locate the session's data in the input.
    std::size_t len = data.size() - prefix;
    std::size_t off = base;
    if (len > 0) {
      std::size_t probe = std::min<std::size_t>(len, 48);
      auto it = std::search(input.begin() + static_cast<std::ptrdiff_t>(base), input.end(),
                            data.begin() + static_cast<std::ptrdiff_t>(prefix),
                            data.begin() + static_cast<std::ptrdiff_t>(prefix + probe));
      EXPECT_NE(it, input.end()) << "session " << k << " data not found in the input";
      if (it == input.end()) return cov;
      off = static_cast<std::size_t>(it - input.begin());
    }
    EXPECT_LE(off + len, input.size());
    EXPECT_TRUE(std::equal(data.begin() + static_cast<std::ptrdiff_t>(prefix), data.end(),
                           input.begin() + static_cast<std::ptrdiff_t>(off)))
        << "session " << k << " is not a contiguous piece of the input";
    if (first) {
      EXPECT_EQ(off, base) << "the first session starts at the beginning";
    }
    EXPECT_LE(off, covered_end) << "bytes " << covered_end << ".." << off << " were lost before session "
                                << k;
    // Packets of this session, by input offset; those inside the overlap must be re-sent packets.
    std::set<std::pair<std::size_t, std::size_t>> these;
    std::size_t o = off;
    std::size_t skip = prefix;
    for (auto& p : pkts) {
      std::size_t n = p.payload.size();
      if (skip >= n) {
        skip -= n;
        continue;
      }
      n -= skip;
      skip = 0;
      if (!first && o < covered_end && n > 0) {
        EXPECT_TRUE(previous_packets.count({o, n}))
            << "session " << k << " re-sent a partial packet at " << o;
        ++cov.duplicate_packets;
        cov.duplicate_bytes += n;
      }
      these.insert({o, n});
      o += n;
    }
    previous_packets = std::move(these);
    covered_end = std::max(covered_end, off + len);
    first = false;
  }
  EXPECT_EQ(covered_end, input.size()) << "the end of the input never arrived";
  return cov;
}

std::vector<std::uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}

}  // namespace

TEST_F(Network, TlsVerifiedWithRootCaOfConfigDir) {
  Receiver rx(tls_receiver());
  make_config(tmp / "conf", 1, 4096);
  std::filesystem::copy_file(pki().ca_crt, tmp / "conf/rootCA.crt");
  // "localhost" resolves to ::1 and/or 127.0.0.1: every address is tried; the name is checked.
  ClientProcess p(args(tmp / "conf", "localhost:" + std::to_string(rx.port())), vector_path("dns.pcap"));
  ASSERT_EQ(p.wait(30s), 0) << p.err();
  ASSERT_TRUE(rx.wait_sessions_ended());
  auto sessions = rx.sessions();
  ASSERT_EQ(sessions.size(), 1u) << p.err();
  EXPECT_TRUE(sessions[0].error.empty()) << sessions[0].error;
  auto& pk = sessions[0].packets;
  ASSERT_GE(pk.size(), 3u);
  auto input = read_file(vector_path("dns.pcap"));
  EXPECT_EQ(concat_payloads(pk), input);
  EXPECT_EQ(pk.front().payload, std::vector<std::uint8_t>(input.begin(), input.begin() + 24))
      << "record chunking: the pcap global header travels alone first";
  EXPECT_TRUE(pk.back().payload.empty()) << "end of input marker";
  for (std::size_t i = 1; i + 1 < pk.size(); ++i) {
    std::vector<std::uint8_t> as_pcap(input.begin(), input.begin() + 24);
    as_pcap.insert(as_pcap.end(), pk[i].payload.begin(), pk[i].payload.end());
    EXPECT_TRUE(is_valid_pcap(as_pcap)) << "packet " << i << " holds whole records";
    EXPECT_EQ(pk[i].header.type, 1);
  }
  EXPECT_NE(p.err().find("all data delivered"), std::string::npos);
}

TEST_F(Network, TlsWithCaFileFlag) {
  Receiver rx(tls_receiver());
  make_config(tmp / "conf", 8, 4096);
  ClientProcess p(args(tmp / "conf", rx.destination(), {"--ca-file", pki().ca_crt}),
                  vector_path("dns.passivedns.csv"));
  ASSERT_EQ(p.wait(30s), 0) << p.err();
  ASSERT_TRUE(rx.wait_sessions_ended());
  auto sessions = rx.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(concat_payloads(sessions[0].packets), read_file(vector_path("dns.passivedns.csv")));
}

TEST_F(Network, WrongCaIsRefusedReportedAndRetried) {
  Receiver rx(tls_receiver());
  make_config(tmp / "conf", 3, 4096);
  ClientProcess p(args(tmp / "conf", rx.destination(),
                       {"--ca-file", pki().other_ca_crt, "--grace", "300ms", "--stats-interval", "50ms"}));
  const std::string line = "must not be delivered\n";
  p.write_stdin(line);
  ASSERT_TRUE(p.wait_stderr("certificate verification failed", 20s, 3)) << p.err();
  ASSERT_TRUE(p.wait_stderr("read=" + std::to_string(line.size()) + "B", 20s)) << p.err();
  EXPECT_EQ(rx.total_payload(), 0u);
  for (auto& s : rx.sessions()) EXPECT_TRUE(s.packets.empty());
  EXPECT_TRUE(p.running());
  p.signal(SIGTERM);
  auto rc = p.wait(10s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 1) << "undelivered data makes the exit status 1";
  EXPECT_NE(p.err().find("not acknowledged"), std::string::npos) << p.err();
}

TEST_F(Network, HostNameMismatchIsRefused) {
  Receiver rx(tls_receiver());
  make_config(tmp / "conf", 3, 4096);
  ClientProcess p(args(tmp / "conf", rx.destination(),
                       {"--ca-file", pki().ca_crt, "--server-name", "sensor.example.org", "--grace", "200ms",
                        "--stats-interval", "50ms"}));
  p.write_stdin("x\n");
  ASSERT_TRUE(p.wait_stderr("certificate verification failed", 20s)) << p.err();
  // The signal must come after the client has read the line (a stop before the read leaves nothing
  // undelivered, and the exit status 0 would be right): wait for its statistics to show the read.
  ASSERT_TRUE(p.wait_stderr("read=2B", 20s)) << p.err();
  EXPECT_EQ(rx.total_payload(), 0u);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 1) << p.err();
}

TEST_F(Network, VerificationDisabledWorks) {
  for (const char* flag : {"--insecure", "-cc=false"}) {
    Receiver rx(tls_receiver());
    make_config(tmp / "conf", 3, 4096);
    // The directory's rootCA.crt is the wrong CA: only disabling verification lets it through.
    std::filesystem::copy_file(pki().other_ca_crt, tmp / "conf/rootCA.crt",
                               std::filesystem::copy_options::overwrite_existing);
    ClientProcess p(args(tmp / "conf", rx.destination(), {flag}), vector_path("auth.log"));
    ASSERT_EQ(p.wait(30s), 0) << flag << "\n" << p.err();
    ASSERT_TRUE(rx.wait_sessions_ended());
    auto sessions = rx.sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(concat_payloads(sessions[0].packets), read_file(vector_path("auth.log")));
    EXPECT_NE(p.err().find("NOT verified"), std::string::npos);
  }
}

TEST_F(Network, MutualTls) {
  auto o = tls_receiver();
  o.client_ca_file = pki().ca_crt;
  Receiver rx(o);
  make_config(tmp / "conf", 3, 4096);
  {
    ClientProcess p(
        args(tmp / "conf", rx.destination(),
             {"--ca-file", pki().ca_crt, "--cert", pki().client_crt, "--cert-key", pki().client_key}),
        vector_path("auth.log"));
    ASSERT_EQ(p.wait(30s), 0) << p.err();
    ASSERT_TRUE(rx.wait_sessions_ended());
    ASSERT_EQ(rx.sessions().size(), 1u);
    EXPECT_EQ(concat_payloads(rx.sessions()[0].packets), read_file(vector_path("auth.log")));
  }
  {
    // Without a client certificate the server refuses the session: nothing delivered.
    ClientProcess p(args(tmp / "conf", rx.destination(),
                         {"--ca-file", pki().ca_crt, "--grace", "200ms", "--stats-interval", "50ms"}));
    p.write_stdin("no certificate\n");
    ASSERT_TRUE(rx.wait_until([&] { return rx.handshake_failures() >= 2; }, 20s)) << p.err();
    ASSERT_TRUE(p.wait_stderr("read=15B", 20s)) << p.err();
    EXPECT_EQ(rx.sessions().size(), 1u) << "no new session was accepted";
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(10s), 1) << p.err();
  }
}

TEST_F(Network, PlainTcp) {
  ReceiverOptions o;
  o.tls = false;
  Receiver rx(o);
  make_config(tmp / "conf", 3, 4096);
  ClientProcess p(args(tmp / "conf", rx.destination(), {"-ce=false"}), vector_path("auth.log"));
  ASSERT_EQ(p.wait(30s), 0) << p.err();
  ASSERT_TRUE(rx.wait_sessions_ended());
  ASSERT_EQ(rx.sessions().size(), 1u);
  EXPECT_EQ(concat_payloads(rx.sessions()[0].packets), read_file(vector_path("auth.log")));
}

TEST_F(Network, Ipv6LiteralDestination) {
  ReceiverOptions o;
  o.tls = false;
  o.ipv6 = true;
  Receiver rx(o);
  make_config(tmp / "conf", 3, 4096);
  ClientProcess p(args(tmp / "conf", rx.destination(), {"-ce=false"}), vector_path("auth.log"));
  ASSERT_EQ(p.wait(30s), 0) << p.err();
  ASSERT_TRUE(rx.wait_sessions_ended());
  EXPECT_EQ(concat_payloads(rx.sessions().at(0).packets), read_file(vector_path("auth.log")));
}

TEST_F(Network, ReceiverCrashMidStreamNothingLost) {
  Receiver rx(tls_receiver());
  rx.crash_after(1'000'000, 300ms);
  make_config(tmp / "conf", 3, 4096);
  std::string text = make_lines(6'000'000);
  write_file(tmp / "input.log", text);
  ClientProcess p(args(tmp / "conf", rx.destination(), {"--ca-file", pki().ca_crt, "--stats-interval", "1s"}),
                  tmp / "input.log");
  ASSERT_EQ(p.wait(60s), 0) << p.err();
  ASSERT_TRUE(rx.wait_sessions_ended());
  EXPECT_EQ(rx.crashes(), 1);
  auto sessions = rx.sessions();
  ASSERT_GE(sessions.size(), 2u);
  for (auto& s : sessions) EXPECT_TRUE(s.error.empty()) << s.error;
  auto input = bytes_of(text);
  auto cov = check_coverage(input, sessions, 0, 0);
  // Duplicates are possible (at-least-once) and are always whole, identical packets.
  RecordProperty("duplicate_packets", static_cast<int>(cov.duplicate_packets));
  std::cout << "re-sent after the crash: " << cov.duplicate_packets << " whole packets, "
            << cov.duplicate_bytes << " bytes\n";
  EXPECT_NE(p.err().find("lost:"), std::string::npos);
  // Every session starts on a line.
  for (auto& s : sessions) {
    auto d = data_packets(s);
    if (!d.empty() && d[0].payload.size() >= 5) {
      EXPECT_EQ(std::string(d[0].payload.begin(), d[0].payload.begin() + 5), "line ");
    }
  }
}

TEST_F(Network, MetaHeaderSentOnEveryConnection) {
  Receiver rx(tls_receiver());
  rx.crash_after(500'000, 200ms);
  make_config(tmp / "conf", 254, 4096);
  write_file(tmp / "conf/metaheader.json", "{\"type\": \"ja3-jl\", \"tags\": [\"test\"]}\n");
  std::string text = make_lines(3'000'000);
  write_file(tmp / "input.log", text);
  ClientProcess p(args(tmp / "conf", rx.destination(), {"--ca-file", pki().ca_crt}), tmp / "input.log");
  ASSERT_EQ(p.wait(60s), 0) << p.err();
  ASSERT_TRUE(rx.wait_sessions_ended());
  auto sessions = rx.sessions();
  ASSERT_GE(sessions.size(), 2u);
  for (auto& s : sessions) {
    ASSERT_FALSE(s.packets.empty());
    EXPECT_EQ(s.packets[0].header.type, 2) << "each session starts with the meta header";
    EXPECT_EQ(std::string(s.packets[0].payload.begin(), s.packets[0].payload.end()),
              "{\"type\": \"ja3-jl\", \"tags\": [\"test\"]}\n");
    for (std::size_t i = 1; i < s.packets.size(); ++i) EXPECT_EQ(s.packets[i].header.type, 254);
  }
  check_coverage(bytes_of(text), sessions, 0, 0);
}

TEST_F(Network, PcapGlobalHeaderOnEverySession) {
  Receiver rx(tls_receiver());
  rx.crash_after(1'000'000, 200ms);
  make_config(tmp / "conf", 1, 4096);
  auto pcap = make_big_pcap(4'000'000);
  write_file(tmp / "big.pcap", pcap);
  ClientProcess p(args(tmp / "conf", rx.destination(), {"--ca-file", pki().ca_crt}), tmp / "big.pcap");
  ASSERT_EQ(p.wait(60s), 0) << p.err();
  ASSERT_TRUE(rx.wait_sessions_ended());
  auto sessions = rx.sessions();
  ASSERT_GE(sessions.size(), 2u);
  for (std::size_t k = 0; k < sessions.size(); ++k) {
    auto bytes = concat_payloads(sessions[k].packets);
    ASSERT_GE(bytes.size(), 24u);
    EXPECT_TRUE(std::equal(pcap.begin(), pcap.begin() + 24, bytes.begin())) << "session " << k;
    if (k + 1 == sessions.size()) {
      std::size_t n = 0;
      EXPECT_TRUE(is_valid_pcap(bytes, &n)) << "the last session is a complete pcap stream";
      EXPECT_GT(n, 100u);
    }
  }
  check_coverage(pcap, sessions, 24, 24);
}

TEST_F(Network, SigtermFlushesTheSpool) {
  Receiver rx(tls_receiver());
  make_config(tmp / "conf", 3, 4096);
  std::string text = make_lines(600'000);
  ClientProcess p(args(
      tmp / "conf", rx.destination(),
      {"--ca-file", pki().ca_crt, "--rate-limit", "400k", "--grace", "20s", "--stats-interval", "50ms"}));
  p.write_stdin(text);
  ASSERT_TRUE(p.wait_stderr("read=" + std::to_string(text.size()) + "B", 20s)) << p.err();
  EXPECT_LT(rx.total_payload(), text.size()) << "rate limit: still sending when the signal comes";
  p.signal(SIGTERM);
  auto rc = p.wait(30s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << p.err();
  ASSERT_TRUE(rx.wait_sessions_ended());
  auto sessions = rx.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  auto got = concat_payloads(sessions[0].packets);
  EXPECT_EQ(std::string(got.begin(), got.end()), text);
}

TEST_F(Network, SigtermGraceTimeIsBounded) {
  Receiver rx(tls_receiver());
  make_config(tmp / "conf", 3, 4096);
  std::string text = make_lines(600'000);
  ClientProcess p(args(
      tmp / "conf", rx.destination(),
      {"--ca-file", pki().ca_crt, "--rate-limit", "100k", "--grace", "500ms", "--stats-interval", "50ms"}));
  p.write_stdin(text);
  ASSERT_TRUE(p.wait_stderr("read=" + std::to_string(text.size()) + "B", 20s)) << p.err();
  auto start = std::chrono::steady_clock::now();
  p.signal(SIGTERM);
  auto rc = p.wait(10s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_NE(p.err().find("not acknowledged by the server are lost"), std::string::npos) << p.err();
}

TEST_F(Network, RetryZeroExitsOnConnectionFailure) {
  int port;
  {
    Receiver probe(tls_receiver());
    port = probe.port();
  }
  make_config(tmp / "conf", 3, 4096);
  ClientProcess p(
      {client_binary(), "-c", tmp / "conf", "--destination", "127.0.0.1:" + std::to_string(port), "-rt", "0"},
      vector_path("auth.log"));
  EXPECT_EQ(p.wait(20s), 1);
  EXPECT_NE(p.err().find("giving up"), std::string::npos) << p.err();
}

TEST_F(Network, SpoolsToDiskWhileTheServerIsDown) {
  int port;
  {
    Receiver probe(tls_receiver());
    port = probe.port();
  }
  make_config(tmp / "conf", 3, 4096);
  std::filesystem::create_directories(tmp / "spool");
  std::string text = make_lines(3'000'000);
  write_file(tmp / "input.log", text);
  ClientProcess p(args(tmp / "conf", "127.0.0.1:" + std::to_string(port),
                       {"--ca-file", pki().ca_crt, "--chunking", "read", "--spool-memory", "256k",
                        "--spool-dir", tmp / "spool", "--stats-interval", "100ms"}),
                  tmp / "input.log");
  // The whole input is read although the memory spool is small: the rest went to disk.
  ASSERT_TRUE(p.wait_stderr("read=" + std::to_string(text.size()) + "B", 20s)) << p.err();
  auto o = tls_receiver();
  o.port = port;
  Receiver rx(o);
  ASSERT_EQ(p.wait(60s), 0) << p.err();
  ASSERT_TRUE(rx.wait_sessions_ended());
  auto got = concat_payloads(rx.sessions().at(0).packets);
  EXPECT_EQ(std::string(got.begin(), got.end()), text);
}

TEST_F(Network, DropPolicyCountsDrops) {
  int port;
  {
    Receiver probe(tls_receiver());
    port = probe.port();
  }
  make_config(tmp / "conf", 3, 4096);
  std::string text = make_lines(2'000'000);
  write_file(tmp / "input.log", text);
  ClientProcess p(args(tmp / "conf", "127.0.0.1:" + std::to_string(port),
                       {"--chunking", "read", "--spool-memory", "64k", "--overflow", "drop",
                        "--stats-interval", "100ms", "--grace", "100ms"}),
                  tmp / "input.log");
  ASSERT_TRUE(p.wait_stderr("spool full: dropped", 20s)) << p.err();
  ASSERT_TRUE(p.wait_stderr("read=" + std::to_string(text.size()) + "B", 20s)) << p.err();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 1);
  EXPECT_EQ(p.err().find(" dropped=0/"), std::string::npos) << p.err();
}
