// d4-server end to end: real binary, real redis-server, real TLS. Data lands in the reference
// key layout, byte for byte.
#include <gtest/gtest.h>

#include <algorithm>

#include <thread>

#include "core/keys.hpp"
#include "server/harness.hpp"
#include "support/bytes.hpp"

using namespace d4;
using namespace d4::test;
namespace keys = d4::core::keys;

namespace {

constexpr const char* kVectorUuid = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";

}  // namespace

// The three streams made by the reference C client land intact: the concatenated message fields
// equal the input file, with uuid/timestamp/version fields as the reference stores them.
class ReferenceVectors : public ::testing::TestWithParam<std::tuple<const char*, const char*, int>> {};

TEST_P(ReferenceVectors, LandInRedisIntact) {
  auto [stream_file, input_file, type] = GetParam();
  RedisServer redis;
  ServerProcess server(redis);
  auto input = as_string(read_file(vector_path(input_file)));
  auto d4stream = read_file(vector_path(stream_file));
  {
    SensorConnection c(server.tls_port(), true);
    // Dribble the stream in odd-sized writes: packet boundaries must not matter.
    std::size_t off = 0, step = 1;
    while (off < d4stream.size()) {
      std::size_t n = std::min(step, d4stream.size() - off);
      ASSERT_TRUE(c.send(std::span<const std::uint8_t>(d4stream.data() + off, n)));
      off += n;
      step = step * 7 % 5003 + 1;
    }
    auto stream = server.stream();
    std::string key;
    auto data = wait_stream(stream, type, input.size(), &key);
    EXPECT_EQ(data.size(), input.size());
    EXPECT_TRUE(data == input) << "payloads differ from " << input_file;
    // Entry fields exactly as the reference writes them.
    auto first = stream.command({"XRANGE", key, "-", "+", "COUNT", "1"});
    ASSERT_EQ(first.elements.size(), 1u);
    const auto& f = first.elements[0].elements[1].elements;
    ASSERT_EQ(f.size(), 8u);
    EXPECT_EQ(f[0].str, "message");
    EXPECT_EQ(f[2].str, "uuid");
    EXPECT_EQ(f[3].str, kVectorUuid);
    EXPECT_EQ(f[4].str, "timestamp");
    EXPECT_GT(std::stoll(f[5].str), 1600000000);
    EXPECT_EQ(f[6].str, "version");
    EXPECT_EQ(f[7].str, "1");
    std::string session = key.substr(key.rfind(':') + 1);
    EXPECT_EQ(session.size(), 36u) << "session ids are dashed UUIDs like the reference";
    EXPECT_EQ(stream.command({"SISMEMBER", keys::sessions_of_type(std::to_string(type)), session}).integer,
              1);
    EXPECT_EQ(stream.command({"SISMEMBER", keys::active_connection_type(std::to_string(type)), kVectorUuid})
                  .integer,
              1);
    EXPECT_EQ(stream.command({"SISMEMBER", keys::sessions_of_sensor(kVectorUuid), session}).integer, 1);
    c.close();
    EXPECT_TRUE(eventually([&] {
      return stream.command({"SISMEMBER", "ended_session", session}).integer == 1;
    }));
    EXPECT_TRUE(eventually([&] {
      return stream.command({"EXISTS", keys::active_connection_by_uuid(kVectorUuid)}).integer == 0;
    }));
    EXPECT_EQ(stream.command({"SISMEMBER", "active_connection", kVectorUuid}).integer, 0);
  }
  EXPECT_EQ(server.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(CClient, ReferenceVectors,
                         ::testing::Values(std::make_tuple("c-client-type1-dns.d4", "dns.pcap", 1),
                                           std::make_tuple("c-client-type3-log.d4", "auth.log", 3),
                                           std::make_tuple("c-client-type8-passivedns.d4",
                                                           "dns.passivedns.csv", 8)));

TEST(ServerIngest, ReferenceStatisticsMetadataAndByteCounters) {
  RedisServer redis;
  ServerProcess server(redis);
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  {
    SensorConnection c(server.tls_port(), true);
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE(
          c.send(make_packet(uuid, 8, "d4-test-key", std::string(100, static_cast<char>('a' + i)) + "\n")));
    auto stream = server.stream();
    ASSERT_EQ(wait_stream(stream, 8, 1010).size(), 1010u);
  }
  auto meta = server.meta();
  auto today = meta.command({"GET", "first_date"}).str;
  ASSERT_EQ(today.size(), 8u);
  ASSERT_TRUE(eventually([&] { return meta.command({"ZSCORE", keys::daily_uuid(today), u}).str == "10"; }));
  // The seven reference zsets count packets.
  EXPECT_EQ(meta.command({"ZSCORE", keys::daily_ip(today), "127.0.0.1"}).str, "10");
  EXPECT_EQ(meta.command({"ZSCORE", keys::daily_type(today), "8"}).str, "10");
  EXPECT_EQ(meta.command({"ZSCORE", keys::stat_uuid_ip(today, u), "127.0.0.1"}).str, "10");
  EXPECT_EQ(meta.command({"ZSCORE", keys::stat_ip_uuid(today, "127.0.0.1"), u}).str, "10");
  EXPECT_EQ(meta.command({"ZSCORE", keys::stat_type_uuid(today, "8"), u}).str, "10");
  EXPECT_EQ(meta.command({"ZSCORE", keys::stat_uuid_type(today, u), "8"}).str, "10");
  // Ours count bytes.
  EXPECT_EQ(meta.command({"ZSCORE", keys::daily_uuid_bytes(today), u}).str, "1010");
  EXPECT_EQ(meta.command({"ZSCORE", keys::daily_type_bytes(today), "8"}).str, "1010");
  // Metadata as the reference.
  auto md = meta.command({"HGETALL", keys::sensor_metadata(u)}).as_strings();
  EXPECT_NE(std::find(md.begin(), md.end(), "first_seen"), md.end());
  EXPECT_NE(std::find(md.begin(), md.end(), "last_seen"), md.end());
  EXPECT_EQ(meta.command({"HEXISTS", keys::sensor_type_metadata(u, "8"), "first_seen"}).integer, 1);
  EXPECT_EQ(meta.command({"SISMEMBER", keys::sensor_all_types(u), "8"}).integer, 1);
  auto ips = meta.command({"LRANGE", keys::sensor_last_ips(u), "0", "-1"}).as_strings();
  ASSERT_EQ(ips.size(), 1u);
  EXPECT_EQ(ips[0].rfind("127.0.0.1-", 0), 0u);
  EXPECT_EQ(ips[0].size(), std::string("127.0.0.1-").size() + 14);
  // Defaults written at start, accepted types only because the set did not exist.
  EXPECT_EQ(meta.command({"GET", "server:hmac_default_key"}).str, "d4-test-key");
  auto types = meta.command({"SMEMBERS", "server:accepted_type"}).as_strings();
  std::sort(types.begin(), types.end());
  // Every type a worker exists for (1-8) and 254.
  EXPECT_EQ(types, (std::vector<std::string>{"1", "2", "254", "3", "4", "5", "6", "7", "8"}));
  meta.command({"SREM", "server:accepted_type", "5"});
  server.stop();
  server.start();
  EXPECT_EQ(meta.command({"SISMEMBER", "server:accepted_type", "5"}).integer, 0)
      << "a type removed by the operator does not come back at restart";
  // Metrics.
  EXPECT_EQ(metric(server.metrics_port(), "d4_server_up"), 1.0);
}

TEST(ServerIngest, MetaHeaderThenType254OnOneConnection) {
  RedisServer redis;
  ServerProcess server(redis);
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  SensorConnection c(server.tls_port(), true);
  // A meta header split over two type-2 packets (with a newline the worker ignores).
  ASSERT_TRUE(c.send(make_packet(uuid, 2, "d4-test-key", "{\"type\": \"ja3")));
  ASSERT_TRUE(c.send(make_packet(uuid, 2, "d4-test-key", "-jl\",\n \"tags\": [1]}")));
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(c.send(make_packet(uuid, 254, "d4-test-key", "{\"line\": " + std::to_string(i) + "}\n")));
  auto stream = server.stream();
  ASSERT_TRUE(
      eventually([&] { return stream_keys(stream, 254).size() == 1 && stream_keys(stream, 2).size() == 1; }));
  std::string k254 = stream_keys(stream, 254)[0];
  std::string session = k254.substr(k254.rfind(':') + 1);
  ASSERT_TRUE(eventually([&] {
    std::size_t n = 0;
    stream_payloads(stream, k254, &n);
    return n == 3;
  }));
  EXPECT_EQ(stream_payloads(stream, "stream:2:" + session), "{\"type\": \"ja3-jl\",\n \"tags\": [1]}");
  // The type-2 worker owns both streams: only session_uuid:2 announces the session.
  EXPECT_EQ(stream.command({"SISMEMBER", "session_uuid:2", session}).integer, 1);
  EXPECT_EQ(stream.command({"EXISTS", "session_uuid:254"}).integer, 0);
  EXPECT_EQ(stream.command({"SISMEMBER", keys::active_uuid_type254(u), session}).integer, 1);
  EXPECT_EQ(stream.command({"SISMEMBER", keys::active_connection_by_uuid(u), "254"}).integer, 1);
  EXPECT_EQ(stream.command({"EXISTS", keys::active_uuid_type2(u)}).integer, 0);
  c.close();
  EXPECT_TRUE(eventually([&] {
    return stream.command({"SISMEMBER", "ended_session", session}).integer == 1;
  }));
  EXPECT_TRUE(eventually([&] {
    return stream.command({"EXISTS", keys::active_uuid_type254(u)}).integer == 0;
  }));

  // Parallel type-2/254 connections of one sensor are allowed (reference rule).
  SensorConnection a(server.tls_port(), true), b(server.tls_port(), true);
  ASSERT_TRUE(a.send(make_packet(uuid, 2, "d4-test-key", "{\"type\":\"ja3-jl\"}")));
  ASSERT_TRUE(b.send(make_packet(uuid, 2, "d4-test-key", "{\"type\":\"ja3-jl\"}")));
  EXPECT_TRUE(eventually([&] { return stream.command({"SCARD", keys::active_uuid_type2(u)}).integer == 2; }));
  EXPECT_FALSE(a.wait_closed(300ms));
  EXPECT_FALSE(b.wait_closed(10ms));
}

namespace {
// `count` type-3 packets of one line each ("line 0\n", "line 1\n"...), back to back; `expect`
// receives the text they carry.
std::vector<std::uint8_t> numbered_line_packets(const protocol::Uuid& uuid, int count, std::string& expect) {
  std::vector<std::uint8_t> all;
  for (int i = 0; i < count; ++i) {
    std::string p = "line " + std::to_string(i) + "\n";
    expect += p;
    auto pk = make_packet(uuid, 3, "d4-test-key", p);
    all.insert(all.end(), pk.begin(), pk.end());
  }
  return all;
}
}  // namespace

TEST(ServerIngest, PlainTcpListenerAndIdsStrictlyIncrease) {
  RedisServer redis;
  ServerProcess server(redis);
  auto uuid = random_uuid();
  SensorConnection c(server.plain_port(), false);
  std::string expect;
  auto all = numbered_line_packets(uuid, 500, expect);
  ASSERT_TRUE(c.send(all));
  auto stream = server.stream();
  std::string key;
  EXPECT_EQ(wait_stream(stream, 3, expect.size(), &key), expect);
  auto r = stream.command({"XRANGE", key, "-", "+"});
  ASSERT_EQ(r.elements.size(), 500u);
  std::string prev;
  for (const auto& e : r.elements) {
    const std::string& id = e.elements[0].str;
    auto parse = [](const std::string& s) {
      auto d = s.find('-');
      return std::make_pair(std::stoull(s.substr(0, d)), std::stoull(s.substr(d + 1)));
    };
    if (!prev.empty()) {
      EXPECT_LT(parse(prev), parse(id));
    }
    prev = id;
  }
}

// With coalescing, the 500 packets become fewer entries of at most coalesce_max_bytes whose
// concatenated messages are the same bytes; the metrics count packets and entries apart.
TEST(ServerIngest, CoalescedEntriesHoldConsecutivePacketsUpToTheBound) {
  RedisServer redis;
  ServerOptions options;
  options.coalesce_max_bytes = 1024;
  ServerProcess server(redis, options);
  auto uuid = random_uuid();
  SensorConnection c(server.plain_port(), false);
  std::string expect;
  auto all = numbered_line_packets(uuid, 500, expect);
  ASSERT_TRUE(c.send(all));
  auto stream = server.stream();
  std::string key;
  EXPECT_EQ(wait_stream(stream, 3, expect.size(), &key), expect);
  auto r = stream.command({"XRANGE", key, "-", "+"});
  // 4,390 bytes in entries of at most 1,024: at least 5 entries, far fewer than 500 packets.
  EXPECT_GE(r.elements.size(), 5u);
  EXPECT_LT(r.elements.size(), 100u);
  for (const auto& e : r.elements) {
    const auto& kv = e.elements[1].elements;
    ASSERT_EQ(kv[0].str, "message");
    EXPECT_LE(kv[1].str.size(), 1024u);
    EXPECT_EQ(kv[1].str.back(), '\n');  // whole packets only
    EXPECT_EQ(kv[2].str, "uuid");
    EXPECT_EQ(kv[3].str, uuid.dashless());
  }
  EXPECT_TRUE(eventually([&] {
    return metric(server.metrics_port(), "d4_server_packets_total{type=\"3\"}") == 500.0 &&
           metric(server.metrics_port(), "d4_server_stream_entries_total") ==
               static_cast<double>(r.elements.size());
  }));
}

// The project's own sensor client interoperates (skipped, and reported as such, when d4-client
// has not been built in this build tree).
TEST(ServerIngest, ProjectClientInteroperates) {
  auto client = bin_dir() / "d4-client";
  if (!std::filesystem::exists(client)) {
    GTEST_SKIP() << "d4-client not built in " << bin_dir();
  }
  RedisServer redis;
  ServerProcess server(redis);
  TempDir cfg;
  auto uuid = random_uuid();
  write_text(cfg / "key", "d4-test-key\n");
  auto input = vector_path("dns.pcap");
  Process p({client.string(), "--uuid", uuid.dashed(), "--key-file", (cfg / "key").string(), "--type", "1",
             "--source", "file", "--file", input, "--destination",
             "127.0.0.1:" + std::to_string(server.tls_port()), "--insecure", "-rt", "0"},
            Process::Options{{}, cfg / "client.out", cfg / "client.err", {}, {}});
  int rc = p.wait(60s);
  auto stream = server.stream();
  auto expect = as_string(read_file(input));
  auto data = wait_stream(stream, 1, expect.size());
  EXPECT_EQ(rc, 0) << read_text(cfg / "client.err");
  EXPECT_TRUE(data == expect) << "d4-client's data differs (" << data.size() << " of " << expect.size()
                              << " bytes)\n"
                              << read_text(cfg / "client.err");
}

// Back-pressure instead of loss: with a backlog limit of 5 packets the server stops reading the
// sensor (no disconnect, no drop) until a worker consumes entries, then continues.
TEST(ServerIngest, BacklogLimitPausesReadingInsteadOfDisconnecting) {
  RedisServer redis;
  ServerProcess server(redis);
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  auto meta = server.meta();
  meta.command({"HSET", "stream_max_size_by_uuid", u, "5"});
  SensorConnection c(server.tls_port(), true);
  std::string expect;
  std::thread sender([&] {
    for (int i = 0; i < 40; ++i) {
      std::string p = std::string(1000, static_cast<char>('A' + i % 26)) + "\n";
      expect += p;
      if (!c.send(make_packet(uuid, 3, "d4-test-key", p))) return;
    }
  });
  auto stream = server.stream();
  std::string key;
  ASSERT_TRUE(eventually([&] {
    auto ks = stream_keys(stream, 3);
    if (ks.empty()) return false;
    key = ks[0];
    return stream.command({"XLEN", key}).integer >= 5;
  }));
  // The session pauses at the backlog limit and stays paused while nothing consumes.
  EXPECT_TRUE(eventually(
      [&] { return metric(server.metrics_port(), "d4_server_paused_sessions{cause=\"backlog\"}") == 1.0; }));
  long long len = stream.command({"XLEN", key}).integer;
  EXPECT_GE(len, 5);
  EXPECT_LT(len, 40) << "reading stopped at the backlog limit";
  // A worker consumes: read and delete entries until everything arrived.
  std::string consumed;
  std::size_t total = 40 * 1001;
  ASSERT_TRUE(eventually(
      [&] {
        auto r = stream.command({"XRANGE", key, "-", "+", "COUNT", "3"});
        for (const auto& e : r.elements) {
          consumed += e.elements[1].elements[1].str;
          stream.command({"XDEL", key, e.elements[0].str});
        }
        return consumed.size() >= total;
      },
      30s, 10ms));
  sender.join();
  EXPECT_TRUE(consumed == expect);
  EXPECT_FALSE(c.wait_closed(100ms)) << "the sensor was never disconnected";
  EXPECT_EQ(metric(server.metrics_port(), "d4_server_rejects_total{reason=\"idle_timeout\"}"), 0.0);
}

// The sensor index the web interface lists: sensors whose data the server stored, and sensors of
// data written before the index existed (indexed once at start).
TEST(ServerIngest, SensorsAreIndexedForTheWebInterfaceIncludingEarlierData) {
  RedisServer redis;
  const std::string earlier = "0f6c2a4e5d3b4c2a9e1f2b3c4d5e6f70";
  redis.cli({"HSET", "metadata_uuid:" + earlier, "first_seen", "1600000000"}, 1);
  ServerProcess server(redis);
  auto meta = server.meta();
  EXPECT_EQ(meta.command({"SISMEMBER", std::string(keys::kSensorIndex), earlier}).integer, 1);
  auto uuid = random_uuid();
  SensorConnection c(server.tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 3, "d4-test-key", "line\n")));
  EXPECT_TRUE(eventually([&] {
    return meta.command({"SISMEMBER", std::string(keys::kSensorIndex), uuid.dashless()}).integer == 1;
  }));
  EXPECT_EQ(meta.command({"SCARD", std::string(keys::kSensorIndex)}).integer, 2);
}
