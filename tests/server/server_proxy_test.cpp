// Behind a load balancer: connections from a proxy_protocol_from source start with a PROXY protocol
// v2 header, and the server sees the sensor's address it names (statistics, source records,
// blocklist, logs); health checks are closed quietly; missing, malformed and unexpected headers
// are refused and counted. Real TLS on loopback, the real d4-server.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "core/keys.hpp"
#include "server/harness.hpp"

using namespace d4;
using namespace d4::test;

namespace {

constexpr std::uint8_t kCommandLocal = 0x20, kCommandProxy = 0x21;
constexpr std::uint8_t kTcp4 = 0x11, kTcp6 = 0x21, kUdp4 = 0x12;
const std::vector<std::uint8_t> kSignature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                              0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

void put16(std::vector<std::uint8_t>& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

// A version 2 header: signature, command, family, length, then `block` (addresses and TLVs).
std::vector<std::uint8_t> proxy_v2(std::uint8_t command, std::uint8_t family,
                                   const std::vector<std::uint8_t>& block, std::size_t declared_length) {
  std::vector<std::uint8_t> h = kSignature;
  h.push_back(command);
  h.push_back(family);
  put16(h, declared_length);
  h.insert(h.end(), block.begin(), block.end());
  return h;
}

// PROXY from `source` (IPv4 or IPv6 text) to the server, followed by `tlv_bytes` of a NOOP TLV.
std::vector<std::uint8_t> proxy_header(const std::string& source, std::uint16_t port,
                                       std::size_t tlv_bytes = 0) {
  const bool v6 = source.find(':') != std::string::npos;
  std::vector<std::uint8_t> block(v6 ? 32 : 8);
  if (inet_pton(v6 ? AF_INET6 : AF_INET, source.c_str(), block.data()) != 1)
    throw std::runtime_error("bad address " + source);
  const char* destination = v6 ? "::1" : "127.0.0.1";
  inet_pton(v6 ? AF_INET6 : AF_INET, destination, block.data() + (v6 ? 16 : 4));
  put16(block, port);
  put16(block, 4443);
  if (tlv_bytes >= 3) {
    block.push_back(0x04);  // PP2_TYPE_NOOP
    put16(block, tlv_bytes - 3);
    block.insert(block.end(), tlv_bytes - 3, 0xAB);
  }
  return proxy_v2(kCommandProxy, v6 ? kTcp6 : kTcp4, block, block.size());
}

std::vector<std::uint8_t> local_header() {
  return proxy_v2(kCommandLocal, 0x00, {}, 0);
}

class ProxyProtocol : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    ServerOptions o;
    o.extra_server_toml = "proxy_protocol_from = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n";
    o.log_format = "json";
    server_ = new ServerProcess(*redis_, o);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete redis_;
  }

  ServerProcess& server() { return *server_; }
  double counter(const std::string& sample) { return metric(server_->metrics_port(), sample).value_or(-1); }
  double rejects(const std::string& reason) {
    return counter("d4_server_rejects_total{reason=\"" + reason + "\"}");
  }
  long long network_rejects(const std::string& network, const std::string& reason) {
    return server_->meta()
        .command({"HGET", core::keys::ip_rejects(network), reason})
        .as_integer()
        .value_or(0);
  }
  // A proxied D4 session of `packets` type-1 packets of 100 bytes; returns the sensor's UUID.
  std::string send_proxied_session(const std::vector<std::uint8_t>& header, int packets) {
    auto uuid = random_uuid();
    SensorConnection c(server().tls_port(), true, SensorConnection::BeforeTls{header, "127.0.0.1"});
    for (int i = 0; i < packets; ++i)
      EXPECT_TRUE(c.send(make_packet(uuid, 1, kTestHmacKey, std::string(100, 'p'))));
    auto stream = server().stream();
    EXPECT_TRUE(eventually([&] {
      for (const auto& key : stream_keys(stream, 1)) {
        std::size_t entries = 0;
        stream_payloads(stream, key, &entries);
        auto first = stream.command({"XRANGE", key, "-", "+", "COUNT", "1"});
        if (entries == static_cast<std::size_t>(packets) && first.elements.size() == 1 &&
            first.elements[0].elements.size() == 2) {
          auto fields = first.elements[0].elements[1].as_strings();
          if (std::find(fields.begin(), fields.end(), uuid.dashless()) != fields.end()) return true;
        }
      }
      return false;
    })) << server().log();
    return uuid.dashless();
  }
  // The sensor's last connection as the reference records it: "<address>-<time>".
  std::string last_source(const std::string& uuid) {
    auto meta = server().meta();
    std::string entry;
    eventually([&] {
      auto ips = meta.command({"LRANGE", core::keys::sensor_last_ips(uuid), "0", "0"}).as_strings();
      if (ips.empty()) return false;
      entry = ips[0].substr(0, ips[0].rfind('-'));
      return true;
    });
    return entry;
  }

  static RedisServer* redis_;
  static ServerProcess* server_;
};

RedisServer* ProxyProtocol::redis_ = nullptr;
ServerProcess* ProxyProtocol::server_ = nullptr;

}  // namespace

TEST_F(ProxyProtocol, ProxiedSensorIsRecordedUnderTheAddressTheHeaderNames) {
  const double proxied = counter("d4_server_proxied_connections_total");
  std::string u = send_proxied_session(proxy_header("192.0.2.7", 40001, 40), 10);
  EXPECT_EQ(last_source(u), "192.0.2.7");
  auto meta = server().meta();
  auto today = meta.command({"GET", "first_date"}).str;
  EXPECT_TRUE(eventually([&] {
    return meta.command({"ZSCORE", core::keys::stat_uuid_ip(today, u), "192.0.2.7"}).str == "10";
  })) << "statistics per source";
  EXPECT_EQ(meta.command({"ZSCORE", core::keys::stat_ip_uuid(today, "127.0.0.1"), u}).type,
            core::RedisReply::Type::Nil)
      << "nothing counted for the balancer";
  EXPECT_TRUE(eventually([&] { return counter("d4_server_proxied_connections_total") == proxied + 1; }));
  // The session's log lines carry the sensor's address and the balancer's.
  EXPECT_TRUE(eventually([&] {
    auto log = server().log();
    return log.find("\"source\":\"192.0.2.7\"") != std::string::npos &&
           log.find("\"source_port\":40001") != std::string::npos &&
           log.find("\"proxy\":\"127.0.0.1\"") != std::string::npos;
  })) << server().log();

  // IPv6 sensors behind an IPv4 balancer.
  std::string u6 = send_proxied_session(proxy_header("2001:db8:7::7", 40002), 3);
  EXPECT_EQ(last_source(u6), "2001:db8:7::7");
  EXPECT_TRUE(eventually([&] {
    return meta.command({"ZSCORE", core::keys::stat_uuid_ip(today, u6), "2001:db8:7::7"}).str == "3";
  }));
}

TEST_F(ProxyProtocol, BlockedProxiedAddressesAreRefusedAndRecordedForTheirNetwork) {
  auto meta = server().meta();
  meta.command({"SADD", core::keys::kBlocklistIp, "192.0.2.66", "2001:db8:66::/48"});
  const double before = rejects("blocked_ip");
  // Refused before TLS once the policy refresh (200 ms in tests) has the entry.
  ASSERT_TRUE(eventually([&] {
    try {
      SensorConnection c(server().tls_port(), true,
                         SensorConnection::BeforeTls{proxy_header("192.0.2.66", 5000), "127.0.0.1"});
      return false;
    } catch (const std::exception&) {
      return true;
    }
  })) << server().log();
  EXPECT_THROW(
      SensorConnection(server().tls_port(), true,
                       SensorConnection::BeforeTls{proxy_header("2001:db8:66::1", 5000), "127.0.0.1"}),
      std::exception);
  EXPECT_TRUE(eventually([&] { return network_rejects("192.0.2.0/24", "blocked_ip") >= 1; }));
  EXPECT_TRUE(eventually([&] { return network_rejects("2001:db8:66::/64", "blocked_ip") == 1; }));
  EXPECT_GE(rejects("blocked_ip"), before + 2);
  EXPECT_EQ(network_rejects("127.0.0.0/24", "blocked_ip"), 0) << "the balancer is not blamed";
  // Another sensor behind the same balancer still gets through.
  std::string u = send_proxied_session(proxy_header("192.0.2.67", 5001), 2);
  EXPECT_EQ(last_source(u), "192.0.2.67");
  meta.command({"SREM", core::keys::kBlocklistIp, "192.0.2.66", "2001:db8:66::/48"});
}

TEST_F(ProxyProtocol, HealthChecksAreClosedQuietly) {
  const double checks = counter("d4_server_proxy_health_checks_total");
  const double tls_rejects = rejects("tls_handshake"), invalid = rejects("proxy_header_invalid");
  {
    SensorConnection local(server().tls_port(), false,
                           SensorConnection::BeforeTls{local_header(), "127.0.0.1"});
  }
  { SensorConnection tcp_check(server().tls_port(), false); }  // connected, closed without a byte
  EXPECT_TRUE(eventually([&] { return counter("d4_server_proxy_health_checks_total") == checks + 2; }))
      << server().log();
  // A LOCAL check that goes on with TLS is served as the balancer itself.
  auto uuid = random_uuid();
  {
    SensorConnection c(server().tls_port(), true, SensorConnection::BeforeTls{local_header(), "127.0.0.1"});
    ASSERT_TRUE(c.send(make_packet(uuid, 1, kTestHmacKey, std::string(10, 'l'))));
    EXPECT_EQ(last_source(uuid.dashless()), "127.0.0.1");
  }
  EXPECT_TRUE(eventually([&] { return counter("d4_server_proxy_health_checks_total") == checks + 3; }));
  EXPECT_EQ(rejects("tls_handshake"), tls_rejects);
  EXPECT_EQ(rejects("proxy_header_invalid"), invalid);
}

TEST_F(ProxyProtocol, MalformedHeadersFromConfiguredSourcesAreRefusedAndCounted) {
  const double before = rejects("proxy_header_invalid");
  const long long recorded = network_rejects("127.0.0.0/24", "proxy_header_invalid");
  auto v1 = std::string("PROXY TCP4 192.0.2.7 127.0.0.1 40001 4443\r\n");
  auto huge = proxy_v2(kCommandProxy, kTcp4, std::vector<std::uint8_t>(12, 1), 60000);
  auto udp = proxy_v2(kCommandProxy, kUdp4, std::vector<std::uint8_t>(12, 1), 12);
  auto short_block = proxy_v2(kCommandProxy, kTcp6, std::vector<std::uint8_t>(12, 1), 12);
  auto truncated = proxy_header("192.0.2.7", 1);
  truncated.resize(20);  // then the connection closes
  const std::vector<std::vector<std::uint8_t>> bad = {std::vector<std::uint8_t>(v1.begin(), v1.end()), huge,
                                                      udp, short_block, truncated};
  for (const auto& header : bad) {
    SensorConnection c(server().tls_port(), false, SensorConnection::BeforeTls{header, "127.0.0.1"});
    if (&header != &bad.back()) {
      EXPECT_TRUE(c.wait_closed(10s)) << "refused at once";
    }
  }
  // A balancer not configured to send the header: the TLS handshake starts at once.
  EXPECT_THROW(SensorConnection(server().tls_port(), true), std::exception);
  const double expected = before + static_cast<double>(bad.size()) + 1;
  EXPECT_TRUE(eventually([&] { return rejects("proxy_header_invalid") == expected; }))
      << rejects("proxy_header_invalid") << "\n"
      << server().log();
  EXPECT_TRUE(eventually([&] {
    return network_rejects("127.0.0.0/24", "proxy_header_invalid") ==
           recorded + static_cast<long long>(bad.size()) + 1;
  }));
  auto log = server().log();
  EXPECT_NE(log.find("PROXY protocol version 1 (text) is not accepted"), std::string::npos);
  EXPECT_NE(log.find("declares 60000 bytes"), std::string::npos);
  EXPECT_NE(log.find("the connection starts with a TLS handshake"), std::string::npos);
}

TEST_F(ProxyProtocol, HeaderFromAnUnconfiguredSourceIsRefusedAsUnexpected) {
  const double before = rejects("proxy_header_unexpected");
  EXPECT_THROW(SensorConnection(server().tls_port(), true,
                                SensorConnection::BeforeTls{proxy_header("192.0.2.9", 1), "127.0.0.2"}),
               std::exception);
  EXPECT_TRUE(eventually([&] { return rejects("proxy_header_unexpected") == before + 1; })) << server().log();
  EXPECT_TRUE(eventually([&] { return network_rejects("127.0.0.0/24", "proxy_header_unexpected") >= 1; }));
  // The same address without a header is an ordinary sensor.
  auto uuid = random_uuid();
  SensorConnection c(server().tls_port(), true, {}, {}, "127.0.0.2");
  ASSERT_TRUE(c.send(make_packet(uuid, 1, kTestHmacKey, std::string(10, 'd'))));
  EXPECT_EQ(last_source(uuid.dashless()), "127.0.0.2");
}

// On the plain listener the header would otherwise reach the framer as a packet header of an
// unknown version: it is refused under the same reason as on the TLS listener.
TEST_F(ProxyProtocol, HeaderFromAnUnconfiguredSourceOnThePlainListenerIsRefusedAsUnexpected) {
  const double before = rejects("proxy_header_unexpected");
  SensorConnection stray(server().plain_port(), false,
                         SensorConnection::BeforeTls{proxy_header("192.0.2.9", 1), "127.0.0.2"});
  EXPECT_TRUE(stray.wait_closed(std::chrono::seconds(10)));
  EXPECT_TRUE(eventually([&] { return rejects("proxy_header_unexpected") == before + 1; })) << server().log();
  // Logged just after it is counted.
  EXPECT_TRUE(eventually([&] {
    return server().log().find(
               "a PROXY protocol header from 127.0.0.2, which is not in proxy_protocol_from") !=
           std::string::npos;
  })) << server().log();
}

TEST(ProxyProtocolTimeout, NoHeaderWithinTheHandshakeTimeoutIsRefusedAndCounted) {
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml = "proxy_protocol_from = [\"127.0.0.1\"]\nhandshake_timeout = 1\n";
  ServerProcess server(redis, o);
  SensorConnection silent(server.tls_port(), false);
  // The whole header, then no TLS: a handshake timeout.
  SensorConnection header_only(server.tls_port(), false,
                               SensorConnection::BeforeTls{proxy_header("192.0.2.7", 1), "127.0.0.1"});
  std::vector<std::uint8_t> part(kSignature.begin(), kSignature.begin() + 8);
  SensorConnection slow(server.tls_port(), false, SensorConnection::BeforeTls{part, "127.0.0.1"});
  EXPECT_TRUE(silent.wait_closed(20s));
  EXPECT_TRUE(slow.wait_closed(20s));
  EXPECT_TRUE(header_only.wait_closed(20s));
  auto timeouts = [&](const std::string& reason) {
    return metric(server.metrics_port(), "d4_server_rejects_total{reason=\"" + reason + "\"}").value_or(-1);
  };
  EXPECT_TRUE(eventually([&] { return timeouts("proxy_header_timeout") == 2; })) << server.log();
  EXPECT_TRUE(eventually([&] { return timeouts("handshake_timeout") == 1; })) << server.log();
}

// max_connections_per_ip applies to the sensor's address the header names, not to the balancer,
// whose own connections are not limited per address before their header.
TEST(ProxyProtocolLimits, ConnectionsPerAddressAreCountedForTheSensorBehindTheBalancer) {
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml = "proxy_protocol_from = [\"127.0.0.1\"]\nmax_connections_per_ip = 2\n";
  ServerProcess server(redis, o);
  auto connect = [&](const std::string& sensor_address) {
    return std::make_unique<SensorConnection>(
        server.tls_port(), true,
        SensorConnection::BeforeTls{proxy_header(sensor_address, 1000), "127.0.0.1"});
  };
  std::vector<std::unique_ptr<SensorConnection>> held;
  held.push_back(connect("192.0.2.50"));
  held.push_back(connect("192.0.2.50"));
  EXPECT_THROW(connect("192.0.2.50"), std::exception) << "a third connection from the same sensor address";
  for (int i = 0; i < 4; ++i) held.push_back(connect("192.0.2." + std::to_string(60 + i)));
  EXPECT_TRUE(eventually([&] {
    return metric(server.metrics_port(), "d4_server_rejects_total{reason=\"connection_limit_ip\"}") == 1.0;
  })) << server.log();
  EXPECT_EQ(metric(server.metrics_port(), "d4_server_connections"), 6.0)
      << "six connections through one balancer address, over its limit of 2";
  auto meta = server.meta();
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HGET", core::keys::ip_rejects("192.0.2.0/24"), "connection_limit_ip"}).str == "1";
  }));
  // Closing one frees the sensor address's place.
  held.erase(held.begin());
  EXPECT_TRUE(eventually([&] {
    try {
      held.push_back(connect("192.0.2.50"));
      return true;
    } catch (const std::exception&) {
      return false;
    }
  })) << server.log();
}
