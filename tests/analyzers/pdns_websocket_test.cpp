// COF import from a websocket (`d4-pdns import-cof --websocket`): the real executable against a
// websocket server on loopback (plain and TLS with a test certificate) and a real redis-server; the
// server drops connections mid-frame, closes them, or holds them open.
//
// The server side is written here on plain sockets and OpenSSL (RFC 6455: the upgrade response and
// unmasked server frames), not with Boost.Beast: the client under test is Beast, so a second
// implementation checks it against the protocol rather than against itself, and Beast's websocket
// stream, instantiated for plain and TLS streams with coroutines, cost this file about 80 s of
// compiler time in each build.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "analyzers/pdns/cof_websocket.hpp"
#include "helpers.hpp"
#include "protocol/text.hpp"
#include "support/redis_server.hpp"
#include "support/text.hpp"

using namespace d4::analyzers::pdns;
using namespace d4::test::an;
using d4::test::eventually;
using d4::test::Process;
using d4::test::read_text;
using d4::test::RedisServer;
using d4::test::TempDir;

namespace {

// A certificate and its key (PEM files) for the TLS variant of the server.
struct TlsFiles {
  std::string certificate;
  std::string key;
};

// A scripted websocket server: the n-th accepted connection plays scripts[n] (the last script is
// repeated): its messages, then an ending. One thread per connection, blocking sockets; the
// destructor shuts every socket down and joins the threads.
class WsTestServer {
 public:
  enum class End {
    Drop,   // a frame header promising more than is sent, then the socket is closed (no close frame)
    Close,  // a websocket close frame
    Hold,   // stays open until the client goes away or the server is destroyed
  };
  struct Script {
    std::vector<std::string> messages;
    End end = End::Hold;
  };

  explicit WsTestServer(std::vector<Script> scripts, const TlsFiles* tls = nullptr)
      : scripts_(std::move(scripts)) {
    if (tls) {
      tls_ = SSL_CTX_new(TLS_server_method());
      if (!tls_ || SSL_CTX_use_certificate_chain_file(tls_, tls->certificate.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(tls_, tls->key.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::runtime_error("WsTestServer: cannot load the test certificate");
    }
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener_, 16) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error(std::string("WsTestServer: ") + std::strerror(errno));
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~WsTestServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    ::shutdown(listener_, SHUT_RDWR);
    accept_thread_.join();
    for (auto& t : connections_) t.join();
    ::close(listener_);
    if (tls_) SSL_CTX_free(tls_);
  }
  int port() const { return port_; }
  int handshakes() const {
    std::lock_guard lock(mu_);
    return handshakes_;
  }
  std::vector<std::string> targets() const {
    std::lock_guard lock(mu_);
    return targets_;
  }

 private:
  // One accepted connection: its socket and, with TLS, its OpenSSL session.
  struct Peer {
    int fd = -1;
    SSL* ssl = nullptr;
    bool write(const std::string& data) const {
      std::size_t done = 0;
      while (done < data.size()) {
        long n = ssl ? SSL_write(ssl, data.data() + done, static_cast<int>(data.size() - done))
                     : ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
      }
      return true;
    }
    long read(char* buf, std::size_t n) const {
      return ssl ? SSL_read(ssl, buf, static_cast<int>(n)) : ::recv(fd, buf, n, 0);
    }
  };

  void accept_loop() {
    for (std::size_t n = 0;; ++n) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      std::lock_guard lock(mu_);
      if (fd < 0 || stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      open_.push_back(fd);
      const Script& script = scripts_[std::min(n, scripts_.size() - 1)];
      connections_.emplace_back([this, fd, &script] { serve(fd, script); });
    }
  }

  void serve(int fd, const Script& script) {
    Peer peer{fd, nullptr};
    if (tls_) {
      peer.ssl = SSL_new(tls_);
      SSL_set_fd(peer.ssl, fd);
      if (SSL_accept(peer.ssl) == 1) play(peer, script);  // a client refusing the certificate ends here
      SSL_free(peer.ssl);
    } else {
      play(peer, script);
    }
    std::lock_guard lock(mu_);
    std::erase(open_, fd);
    ::close(fd);
  }

  // The upgrade request: its target and the response's Sec-WebSocket-Accept (RFC 6455 4.2.2).
  static bool read_upgrade(const Peer& peer, std::string& target, std::string& accept) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      long n = peer.read(buf, sizeof buf);
      if (n <= 0 || request.size() > 65536) return false;
      request.append(buf, static_cast<std::size_t>(n));
    }
    auto sp1 = request.find(' '), sp2 = request.find(' ', sp1 + 1);
    if (request.compare(0, 4, "GET ") != 0 || sp2 == std::string::npos) return false;
    target = request.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string lower = d4::text::ascii_lower(request);
    auto k = lower.find("\r\nsec-websocket-key:");
    if (k == std::string::npos) return false;
    k += std::strlen("\r\nsec-websocket-key:");
    auto eol = request.find("\r\n", k);
    std::string key = request.substr(k, eol - k);
    key.erase(0, key.find_first_not_of(' '));
    key.erase(key.find_last_not_of(' ') + 1);
    const std::string magic = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(magic.data()), magic.size(), digest);
    unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    accept = reinterpret_cast<const char*>(b64);
    return true;
  }

  // A server frame (never masked), FIN set.
  static std::string frame(unsigned char opcode, const std::string& payload) {
    std::string f(1, static_cast<char>(0x80 | opcode));
    const std::size_t n = payload.size();
    if (n < 126) {
      f += static_cast<char>(n);
    } else if (n < 65536) {
      f += static_cast<char>(126);
      for (int shift : {8, 0}) f += static_cast<char>((n >> shift) & 0xff);
    } else {
      f += static_cast<char>(127);
      for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((n >> shift) & 0xff);
    }
    return f + payload;
  }

  static bool read_exactly(const Peer& peer, char* buf, std::size_t n) {
    while (n > 0) {
      long got = peer.read(buf, n);
      if (got <= 0) return false;
      buf += got;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }

  // Reads the client's frames (always masked) until its close frame; others (pings) are skipped.
  static void wait_for_close_reply(const Peer& peer) {
    for (;;) {
      unsigned char h[2];
      if (!read_exactly(peer, reinterpret_cast<char*>(h), 2)) return;
      std::uint64_t n = h[1] & 0x7f;
      int extra = n == 126 ? 2 : n == 127 ? 8 : 0;
      if (extra) {
        unsigned char len[8];
        if (!read_exactly(peer, reinterpret_cast<char*>(len), static_cast<std::size_t>(extra))) return;
        n = 0;
        for (int i = 0; i < extra; ++i) n = (n << 8) | len[i];
      }
      if (n > 1 << 20) return;
      std::string rest(n + ((h[1] & 0x80) ? 4 : 0), '\0');
      if (!read_exactly(peer, rest.data(), rest.size())) return;
      if ((h[0] & 0x0f) == 0x8) return;
    }
  }

  // Reads (and ignores: pings, the close reply) until the client goes away or the socket is shut.
  static void drain(const Peer& peer) {
    char buf[4096];
    while (peer.read(buf, sizeof buf) > 0) {
    }
  }

  void play(const Peer& peer, const Script& script) {
    std::string target, accept;
    if (!read_upgrade(peer, target, accept)) return;
    if (!peer.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " +
                    accept + "\r\n\r\n"))
      return;
    {
      std::lock_guard lock(mu_);
      ++handshakes_;
      targets_.push_back(target);
    }
    for (const auto& m : script.messages)
      if (!peer.write(frame(0x1, m))) return;
    switch (script.end) {
      case End::Drop:
        // Text frame, FIN, 100 bytes announced, 10 sent: the client is cut mid-message.
        peer.write("\x81\x64" + std::string(10, 'x'));
        return;
      case End::Close:
        // 1001 going away; then the client's close reply, after which the server closes the TCP
        // connection (RFC 6455 7.1.1: the client waits for that).
        if (peer.write(frame(0x8, std::string("\x03\xe9", 2)))) wait_for_close_reply(peer);
        return;
      case End::Hold:
        drain(peer);
        return;
    }
  }

  std::vector<Script> scripts_;
  SSL_CTX* tls_ = nullptr;
  int listener_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  mutable std::mutex mu_;
  bool stopping_ = false;
  std::vector<int> open_;                 // sockets of connections still served
  std::vector<std::thread> connections_;  // joined by the destructor
  int handshakes_ = 0;
  std::vector<std::string> targets_;
};

std::string cof(const std::string& name, const std::string& type, const nlohmann::json& rdata, long first,
                long last, int count = 0, const std::string& sensor = {}) {
  nlohmann::json j{
      {"rrname", name}, {"rrtype", type}, {"rdata", rdata}, {"time_first", first}, {"time_last", last}};
  if (count) j["count"] = count;
  if (!sensor.empty()) j["sensor_id"] = sensor;
  return j.dump();
}

// `log_level` debug logs every failed connection attempt (the default logs the first of an outage).
Process start_import(const RedisServer& redis, const std::string& url, const TempDir& dir,
                     std::vector<std::string> extra = {}, const std::string& log_level = "info") {
  std::vector<std::string> argv{(d4::test::bin_dir() / "d4-pdns").string(),
                                "--backend",
                                redis.endpoint(),
                                "--log-level",
                                log_level,
                                "import-cof",
                                "--websocket",
                                url};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Process::Options o;
  o.stdout_file = dir / "import.out";
  o.stderr_file = dir / "import.err";
  return Process(argv, o);
}

const std::string kSensor = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";

}  // namespace

TEST(PdnsWebsocketUrl, ParsesHostsPortsAndTargets) {
  auto u = parse_websocket_url("ws://feed.example.org/cof?since=1");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "feed.example.org");
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->host_header, "feed.example.org");
  EXPECT_EQ(u->target, "/cof?since=1");
  u = parse_websocket_url("WSS://[2001:db8::1]:8443");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "2001:db8::1");
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->host_header, "[2001:db8::1]:8443");
  EXPECT_EQ(u->target, "/");
  u = parse_websocket_url("wss://h:443?x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host_header, "h");
  EXPECT_EQ(u->target, "/?x");
  std::string error;
  for (const char* bad : {"http://h/", "ws://", "ws://h:0/", "ws://h:99999/", "ws://h:x/", "ws://u:p@h/",
                          "ws://[::1/", "h:80"}) {
    EXPECT_FALSE(parse_websocket_url(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

// One import for the suite from a scripted server. 1st connection: two messages (several lines
// each, one without a final newline, bad lines), then cut in the middle of a frame. 2nd: one
// message, then a clean close. 3rd: held open. The tests run once the 3rd connection's record is
// stored.
class PdnsWebsocketImport : public ::testing::Test {
 protected:
  struct Shared {
    RedisServer redis;
    TempDir dir;
    WsTestServer server{{
        {{cof("www.example.org", "A", "93.184.216.34", 1700000000, 1700000100, 2) + "\n" +
              cof("Multi.Example.ORG.", "AAAA",
                  nlohmann::json::array({"2001:db8:0:0:0:0:0:1", "2001:db8::2"}), 1700000010, 1700000020, 0,
                  kSensor) +
              "\n",
          "not json\n" + cof("", "A", "10.0.0.1", 1, 2) + "\n\n" +
              cof("mail.example.org", "MX", "mx1.example.org.", 1700000030, 1700000040)},
         WsTestServer::End::Drop},
        {{cof("www.example.org", "A", "93.184.216.34", 1699999000, 1700000500, 5) + "\r\n" +
          cof("x.example.org", "BOGUS", "1.2.3.4", 1, 2)},
         WsTestServer::End::Close},
        {{cof("late.example.org", "CNAME", "www.example.org", 1700001000, 1700001000)},
         WsTestServer::End::Hold},
    }};
    std::unique_ptr<Process> import;
    bool caught_up = false;
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    s.import = std::make_unique<Process>(start_import(
        s.redis, "ws://127.0.0.1:" + std::to_string(s.server.port()) + "/feed?format=cof", s.dir));
    s.caught_up = eventually(
        [&] {
          return s.redis.cli({"GET", "o:late.example.org:www.example.org:5"}) == "1\n";
        },
        std::chrono::milliseconds(15000));
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(shared_ && shared_->caught_up) << (shared_ ? read_text(shared_->dir / "import.err") : "");
  }

  static Shared& s() { return *shared_; }
  static std::string cli(const std::vector<std::string>& args) { return s().redis.cli(args); }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(PdnsWebsocketImport, ReconnectsAfterADroppedAndAClosedConnection) {
  EXPECT_GE(s().server.handshakes(), 3);
  EXPECT_EQ(s().server.targets().front(), "/feed?format=cof");
}

TEST_F(PdnsWebsocketImport, ObservationsOfOneRecordAddTheirCountsAndWidenItsTimes) {
  // Both observations of www.example.org: counts added, first lowered, last raised.
  EXPECT_EQ(cli({"GET", "o:www.example.org:93.184.216.34:1"}), "7\n");
  EXPECT_EQ(cli({"GET", "s:www.example.org:93.184.216.34:1"}), "1699999000\n");
  EXPECT_EQ(cli({"GET", "l:www.example.org:93.184.216.34:1"}), "1700000500\n");
}

TEST_F(PdnsWebsocketImport, AnRdataArrayGivesOneNormalisedRecordPerValueAttributedToTheSensor) {
  EXPECT_EQ(cli({"SCARD", "r:multi.example.org:28"}), "2\n");
  EXPECT_EQ(cli({"SISMEMBER", "r:multi.example.org:28", "2001:db8::1"}), "1\n");
  EXPECT_EQ(cli({"SMEMBERS", "sid:multi.example.org:2001:db8::1:28"}), kSensor + "\n");
  EXPECT_EQ(cli({"ZSCORE", "stats:sensors", kSensor}), "2\n");
  EXPECT_EQ(cli({"SISMEMBER", "sensors:seen", kSensor}), "1\n");
}

TEST_F(PdnsWebsocketImport, TheLastLineNeedsNoNewlineBadLinesAreCountedAndThePartialFrameIsNotImported) {
  // The last line of a message needs no newline; bad lines are counted, empty ones ignored.
  EXPECT_EQ(cli({"GET", "o:mail.example.org:mx1.example.org:15"}), "1\n");
  EXPECT_EQ(cli({"HGET", "stats:rejected", "cof_bad_json"}), "1\n");
  EXPECT_EQ(cli({"HGET", "stats:rejected", "cof_missing_field"}), "1\n");
  EXPECT_EQ(cli({"HGET", "stats:rejected", "cof_bad_rrtype"}), "1\n");
  EXPECT_EQ(cli({"GET", "stats:processed"}), "6\n");
  // The partial frame of the first connection was not imported.
  EXPECT_EQ(cli({"LLEN", "stats:rejected:samples"}), "3\n");
}

TEST_F(PdnsWebsocketImport, ImportedRecordsAnswerThroughTheQueryApi) {
  int port = 0;
  Process api = start_server("d4-pdns", {"--backend", s().redis.endpoint(), "serve"}, port, s().dir);
  auto res = http_get(static_cast<std::uint16_t>(port), "/query/www.example.org");
  ASSERT_EQ(res.status, 200);
  auto j = nlohmann::json::parse(lines_of(res.body).at(0));
  EXPECT_EQ(j["rdata"], "93.184.216.34");
  EXPECT_EQ(j["count"], 7);
  EXPECT_EQ(j["time_first"], 1699999000);
  EXPECT_EQ(j["time_last"], 1700000500);
  res = http_get(static_cast<std::uint16_t>(port), "/query/multi.example.org");
  EXPECT_EQ(lines_of(res.body).size(), 2u);
  EXPECT_NE(res.body.find(kSensor), std::string::npos);
  api.stop();
}

// The suite's last test: it stops the import.
TEST_F(PdnsWebsocketImport, StillRunningOnTheHeldConnectionOnlyAStopRequestEndsItCleanly) {
  EXPECT_TRUE(s().import->running());
  EXPECT_EQ(s().import->stop(), 0);
  auto err = read_text(s().dir / "import.err");
  EXPECT_NE(err.find("connection lost"), std::string::npos) << err;
}

TEST(PdnsWebsocket, TlsVerifiesTheServerCertificateAgainstTheGivenCa) {
  TempDir dir;
  const auto cert = dir / "cert.pem", key = dir / "key.pem";
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
      key.string() + "' -out '" + cert.string() + "' 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const TlsFiles tls{cert.string(), key.string()};
  WsTestServer server({{{cof("tls.example.org", "A", "192.0.2.7", 1700000000, 1700000000, 3, kSensor)},
                        WsTestServer::End::Hold}},
                      &tls);
  const std::string url = "wss://127.0.0.1:" + std::to_string(server.port()) + "/";
  RedisServer redis;
  {
    // Verification is on by default: a self-signed certificate is refused, retried, never used.
    Process import = start_import(redis, url, dir, {}, "debug");
    ASSERT_TRUE(eventually(
        [&] { return read_text(dir / "import.err").find("certificate verify failed") != std::string::npos; },
        std::chrono::milliseconds(10000)))
        << read_text(dir / "import.err");
    // Retried: a second attempt fails the same way, and the importer lives on.
    EXPECT_TRUE(eventually(
        [&] { return d4::test::count_of(read_text(dir / "import.err"), "certificate verify failed") >= 2; },
        std::chrono::milliseconds(20000)))
        << read_text(dir / "import.err");
    EXPECT_TRUE(import.running());
    EXPECT_EQ(server.handshakes(), 0);
    EXPECT_EQ(import.stop(), 0);
    EXPECT_EQ(redis.cli({"EXISTS", "o:tls.example.org:192.0.2.7:1"}), "0\n");
  }
  // With the certificate as trust anchor (and 127.0.0.1 in its names) the records arrive.
  Process import = start_import(redis, url, dir, {"--ca-file", cert.string()});
  ASSERT_TRUE(eventually(
      [&] {
        return redis.cli({"GET", "o:tls.example.org:192.0.2.7:1"}) == "3\n";
      },
      std::chrono::milliseconds(15000)))
      << read_text(dir / "import.err");
  EXPECT_EQ(redis.cli({"SMEMBERS", "sid:tls.example.org:192.0.2.7:1"}), kSensor + "\n");
  EXPECT_EQ(server.handshakes(), 1);
  EXPECT_EQ(import.stop(), 0);
}

TEST(PdnsWebsocket, UnreachableServerIsRetriedUntilStopped) {
  RedisServer redis;
  TempDir dir;
  Process import =
      start_import(redis, "ws://127.0.0.1:" + std::to_string(d4::test::free_port()) + "/", dir, {}, "debug");
  ASSERT_TRUE(eventually([&] {
    return read_text(dir / "import.err").find("cannot connect") != std::string::npos;
  })) << read_text(dir / "import.err");
  EXPECT_TRUE(
      eventually([&] { return d4::test::count_of(read_text(dir / "import.err"), "cannot connect") >= 2; },
                 std::chrono::milliseconds(20000)))
      << "retried: " << read_text(dir / "import.err");
  EXPECT_TRUE(import.running());
  EXPECT_EQ(import.stop(), 0);
  auto r =
      run_tool("d4-pdns", {"--backend", redis.endpoint(), "import-cof", "--websocket", "http://x/"}, dir);
  EXPECT_EQ(r.status, 2) << "a usage error: " << r.err;
}
