// Peers that end their stream right behind their data: the legacy capture pipeline
// `d4-client | socat - OPENSSL-CONNECT:...` (close_notify just after the last record),
// `openssl s_client`, and a TLS client whose data and close_notify arrive in one segment. The
// session ends at once with every packet stored, the (uuid, type) slot is free for the sensor's
// next run; the same for a bare FIN (no close_notify, or plain TCP). A reset between packets is a
// disconnect, not a fault in the sensor's record.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "core/keys.hpp"
#include "server/harness.hpp"
#include "support/bytes.hpp"

using namespace d4;
using namespace d4::test;
namespace keys = d4::core::keys;

namespace {

// Payloads of every type-`type` stream holding this sensor's data, one string per session.
std::vector<std::string> sessions_of(core::RedisClient& stream, int type, const std::string& uuid) {
  std::vector<std::string> out;
  for (const auto& k : stream_keys(stream, type)) {
    auto first = stream.command({"XRANGE", k, "-", "+", "COUNT", "1"});
    if (first.elements.empty() || first.elements[0].elements[1].elements[3].str != uuid) continue;
    out.push_back(stream_payloads(stream, k));
  }
  return out;
}

// A sensor configuration directory in the reference clients' layout, destination stdout.
void write_sensor_conf(const std::filesystem::path& dir, const protocol::Uuid& uuid, int type) {
  std::filesystem::create_directories(dir);
  write_text(dir / "uuid", uuid.dashed() + "\n");
  write_text(dir / "key", std::string(kTestHmacKey) + "\n");
  write_text(dir / "type", std::to_string(type) + "\n");
  write_text(dir / "destination", "stdout\n");
  write_text(dir / "snaplen", "4096\n");
}

struct ShellRun {
  int status = -1;
  std::chrono::milliseconds took{0};
};

// Runs a shell pipeline with a deadline (the old server kept such pipelines for idle_timeout).
ShellRun run_shell(const std::string& command, const std::filesystem::path& dir, std::chrono::seconds limit) {
  auto t0 = std::chrono::steady_clock::now();
  Process p({"/bin/sh", "-c", command}, Process::Options{{}, dir / "out.txt", dir / "err.txt", {}, dir});
  ShellRun r;
  r.status = p.wait(limit);
  r.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return r;
}

class PeerEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<RedisServer>();
    server_ = std::make_unique<ServerProcess>(*redis_);  // idle_timeout: the default hour
  }
  // The sensor stored `runs` sessions, each holding `expect`, and has no fault on record.
  void expect_clean_runs(const std::string& u, int type, const std::string& expect, std::size_t runs) {
    auto s = server_->stream();
    std::vector<std::string> got;
    EXPECT_TRUE(eventually([&] {
      got = sessions_of(s, type, u);
      return got.size() == runs && std::all_of(got.begin(), got.end(), [&](auto& g) { return g == expect; });
    })) << got.size()
        << " sessions\n"
        << server_->log();
    EXPECT_TRUE(eventually([&] {
      return s.command({"SISMEMBER", "active_connection:1", u}).integer == 0;
    })) << "the slot is released";
    auto meta = server_->meta();
    EXPECT_EQ(meta.command({"EXISTS", keys::sensor_rejects(u)}).integer, 0) << server_->log();
    EXPECT_EQ(meta.command({"HEXISTS", keys::sensor_metadata(u), "Error"}).integer, 0);
  }
  std::string socat_to_server() const {
    return "socat - OPENSSL-CONNECT:127.0.0.1:" + std::to_string(server_->tls_port()) +
           ",cafile=" + (server_->dir() / "certs" / "server.crt").string() + ",verify=1";
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace

TEST_F(PeerEnd, SocatLegacyPipelineEndsAtOnceAndTheNextRunIsAccepted) {
  TempDir dir;
  auto uuid = random_uuid();
  write_sensor_conf(dir / "conf", uuid, 1);
  auto input = vector_path("dns.pcap");
  std::string pipeline =
      (bin_dir() / "d4-client").string() + " -c conf < " + input + " | " + socat_to_server();
  auto expect = as_string(read_file(input));
  for (std::size_t run = 1; run <= 2; ++run) {
    ShellRun r = run_shell(pipeline, dir.path(), std::chrono::seconds(20));
    EXPECT_EQ(r.status, 0) << read_text(dir / "err.txt");
    EXPECT_LT(r.took, std::chrono::seconds(5)) << "socat waits for the server's close";
    expect_clean_runs(uuid.dashless(), 1, expect, run);
  }
  EXPECT_GE(metric(server_->metrics_port(), "d4_server_disconnects_total{how=\"close\"}").value_or(0), 2.0);
  EXPECT_EQ(metric(server_->metrics_port(), "d4_server_rejects_total{reason=\"duplicate\"}"), 0.0);
}

TEST_F(PeerEnd, OpensslSClientEndsTheSessionAndTheNextRunIsAccepted) {
  TempDir dir;
  auto uuid = random_uuid();
  std::string data;
  std::string expect;
  for (int i = 0; i < 50; ++i) {
    std::string p = "s_client record " + std::to_string(i) + " " + std::string(500, 'q') + "\n";
    expect += p;
    data += as_string(make_packet(uuid, 1, kTestHmacKey, p));
  }
  write_text(dir / "packets.d4", data);
  std::string cmd = "openssl s_client -connect 127.0.0.1:" + std::to_string(server_->tls_port()) +
                    " -quiet -no_ign_eof -nocommands < packets.d4";
  auto s = server_->stream();
  for (std::size_t run = 1; run <= 2; ++run) {
    ShellRun r = run_shell(cmd, dir.path(), std::chrono::seconds(20));
    EXPECT_EQ(r.status, 0) << read_text(dir / "err.txt");
    // s_client exits without waiting: the session must end on its own, long before idle_timeout.
    EXPECT_TRUE(eventually(
        [&] {
          return s.command({"SCARD", "ended_session"}).integer == static_cast<long long>(run);
        },
        std::chrono::seconds(5)))
        << server_->log();
    expect_clean_runs(uuid.dashless(), 1, expect, run);
  }
}

// Data and close_notify in one TCP segment: the server must not wait for more after the data.
TEST_F(PeerEnd, DataAndCloseNotifyInOneWriteEndTheSessionWithEverythingStored) {
  auto uuid = random_uuid();
  std::string expect;
  std::vector<std::uint8_t> packets;
  for (int i = 0; i < 20; ++i) {
    std::string p = "one write " + std::to_string(i) + "\n";
    expect += p;
    auto pk = make_packet(uuid, 1, kTestHmacKey, p);
    packets.insert(packets.end(), pk.begin(), pk.end());
  }
  for (std::size_t run = 1; run <= 2; ++run) {
    SensorConnection c(server_->tls_port(), true);
    // Records go to memory instead of the socket, then leave in a single send().
    BIO* mem = BIO_new(BIO_s_mem());
    SSL_set0_wbio(c.ssl(), mem);
    ASSERT_EQ(SSL_write(c.ssl(), packets.data(), static_cast<int>(packets.size())),
              static_cast<int>(packets.size()));
    ASSERT_GE(SSL_shutdown(c.ssl()), 0);
    char* out = nullptr;
    long n = BIO_get_mem_data(mem, &out);
    ASSERT_GT(n, 0);
    ASSERT_EQ(::send(c.fd(), out, static_cast<std::size_t>(n), MSG_NOSIGNAL), n);
    // The server answers with its own close (close_notify, then FIN).
    EXPECT_TRUE(c.wait_closed(std::chrono::seconds(3))) << server_->log();
    expect_clean_runs(uuid.dashless(), 1, expect, run);
  }
}

// A FIN right behind the last complete packet, without close_notify (a TLS client that only
// closes its socket) or on plain TCP: the session ends at once, not after idle_timeout, with every
// packet stored and nothing on the sensor's record; the next run is accepted.
TEST_F(PeerEnd, FinWithoutCloseNotifyAfterTheLastPacketEndsTheSessionAtOnce) {
  for (bool tls : {true, false}) {
    auto uuid = random_uuid();
    std::string expect;
    std::vector<std::uint8_t> packets;
    for (int i = 0; i < 10; ++i) {
      std::string p = std::string(tls ? "tls" : "tcp") + " then FIN " + std::to_string(i) + "\n";
      expect += p;
      auto pk = make_packet(uuid, 1, kTestHmacKey, p);
      packets.insert(packets.end(), pk.begin(), pk.end());
    }
    for (std::size_t run = 1; run <= 2; ++run) {
      SensorConnection c(tls ? server_->tls_port() : server_->plain_port(), tls);
      ASSERT_TRUE(c.send(packets));
      ASSERT_EQ(::shutdown(c.fd(), SHUT_WR), 0);
      EXPECT_TRUE(c.wait_closed(std::chrono::seconds(3))) << (tls ? "TLS" : "TCP") << "\n" << server_->log();
      expect_clean_runs(uuid.dashless(), 1, expect, run);
    }
  }
  EXPECT_EQ(metric(server_->metrics_port(), "d4_server_rejects_total{reason=\"duplicate\"}"), 0.0);
}

// A reset once everything was stored (the sensor's process was killed between packets): counted
// as a disconnect; the sensor's record shows no error and its next connection is accepted.
TEST_F(PeerEnd, ResetAfterAllDataIsADisconnectNotASensorFault) {
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  auto s = server_->stream();
  std::string expect;
  {
    SensorConnection c(server_->tls_port(), true);
    for (int i = 0; i < 10; ++i) {
      std::string p = "before reset " + std::to_string(i) + "\n";
      expect += p;
      ASSERT_TRUE(c.send(make_packet(uuid, 1, kTestHmacKey, p)));
    }
    ASSERT_TRUE(eventually([&] {
      auto got = sessions_of(s, 1, u);
      return got.size() == 1 && got[0] == expect;
    }));
    c.abort();  // RST, no close_notify
  }
  EXPECT_TRUE(eventually([&] {
    return metric(server_->metrics_port(), "d4_server_disconnects_total{how=\"reset\"}") == 1.0;
  })) << server_->log();
  expect_clean_runs(u, 1, expect, 1);
  EXPECT_EQ(metric(server_->metrics_port(), "d4_server_rejects_total{reason=\"transport_error\"}"), 0.0);
  EXPECT_EQ(server_->meta().command({"EXISTS", keys::kServerRejects}).integer, 0);
  SensorConnection again(server_->tls_port(), true);
  ASSERT_TRUE(again.send(make_packet(uuid, 1, kTestHmacKey, "back\n")));
  EXPECT_TRUE(eventually([&] { return sessions_of(s, 1, u).size() == 2; })) << server_->log();
  EXPECT_FALSE(again.wait_closed(std::chrono::milliseconds(300)));
}
