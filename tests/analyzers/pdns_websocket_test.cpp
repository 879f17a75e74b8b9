// COF import from a websocket (`d4-pdns import-cof --websocket`): the real executable against a
// real Boost.Beast websocket server on loopback (plain and TLS with a test certificate) and a real
// redis-server; the server drops connections mid-frame, closes them, or holds them open.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "analyzers/pdns/cof_websocket.hpp"
#include "helpers.hpp"
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

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// A scripted websocket server: the n-th accepted connection plays scripts[n] (the last script is
// repeated): its messages, then an ending.
class WsTestServer {
 public:
  enum class End {
    Drop,   // a frame header promising more than is sent, then the socket is closed (no close frame)
    Close,  // a websocket close frame
    Hold,   // stays open until the server is destroyed
  };
  struct Script {
    std::vector<std::string> messages;
    End end = End::Hold;
  };

  explicit WsTestServer(std::vector<Script> scripts, ssl::context* tls = nullptr)
      : scripts_(std::move(scripts)),
        tls_(tls),
        acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~WsTestServer() {
    ioc_.stop();
    thread_.join();
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  int handshakes() const {
    std::lock_guard lock(mu_);
    return handshakes_;
  }
  std::vector<std::string> targets() const {
    std::lock_guard lock(mu_);
    return targets_;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (std::size_t n = 0;; ++n) {
      tcp::socket s = co_await acceptor_.async_accept(asio::use_awaitable);
      const Script& script = scripts_[std::min(n, scripts_.size() - 1)];
      if (tls_)
        asio::co_spawn(ioc_, serve_tls(std::move(s), script), asio::detached);
      else
        asio::co_spawn(ioc_, serve_plain(std::move(s), script), asio::detached);
    }
  }

  asio::awaitable<void> serve_plain(tcp::socket s, const Script& script) {
    websocket::stream<beast::tcp_stream> ws(std::move(s));
    co_await play(ws, script);
  }

  asio::awaitable<void> serve_tls(tcp::socket s, const Script& script) {
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(std::move(s), *tls_);
    co_await ws.next_layer().async_handshake(ssl::stream_base::server, asio::use_awaitable);
    co_await play(ws, script);
  }

  template <typename Ws>
  asio::awaitable<void> play(Ws& ws, const Script& script) {
    beast::flat_buffer buffer;
    beast::http::request<beast::http::string_body> req;
    co_await beast::http::async_read(ws.next_layer(), buffer, req, asio::use_awaitable);
    co_await ws.async_accept(req, asio::use_awaitable);
    {
      std::lock_guard lock(mu_);
      ++handshakes_;
      targets_.emplace_back(req.target());
    }
    ws.text(true);
    for (const auto& m : script.messages) co_await ws.async_write(asio::buffer(m), asio::use_awaitable);
    if (script.end == End::Drop) {
      // Text frame, FIN, 100 bytes announced, 10 sent: the client is cut mid-message.
      std::string partial = "\x81\x64" + std::string(10, 'x');
      co_await asio::async_write(ws.next_layer(), asio::buffer(partial), asio::use_awaitable);
      beast::get_lowest_layer(ws).socket().close();
    } else if (script.end == End::Close) {
      co_await ws.async_close(websocket::close_code::going_away, asio::use_awaitable);
    } else {
      beast::flat_buffer sink;
      for (;;) co_await ws.async_read(sink, asio::use_awaitable);  // until the client goes away
    }
  }

  std::vector<Script> scripts_;
  ssl::context* tls_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mu_;
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
  ssl::context tls(ssl::context::tls_server);
  tls.use_certificate_chain_file(cert.string());
  tls.use_private_key_file(key.string(), ssl::context::pem);
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
