// The d4server source: forwarding a Redis analyzer queue to a D4 receiver (real redis-server,
// real d4-client binary, real TLS receiver on loopback). Checks FIFO order, elements larger than
// snaplen, the processing list, waiting on an empty queue, and no loss across receiver restarts,
// Redis restarts and a SIGKILL of the client.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "client/options.hpp"
#include "client/resp.hpp"
#include "support/redis_acl.hpp"
#include "support/redis_server.hpp"

#include "process.hpp"
#include "receiver.hpp"

using namespace d4::test;
using namespace std::chrono_literals;

namespace {

const std::string kQueue = "analyzer:3:0d5a6b9c-1d8e-4f57-9e2a-7b1c3d4e5f60";
std::string processing_key() {
  // Default forwarder id: the sensor UUID without dashes.
  std::string id = kTestUuid;
  id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
  return kQueue + ":processing:" + id;
}

std::string element(int i, std::size_t size = 40) {
  std::string s = "element " + std::to_string(i) + " ";
  while (s.size() < size) s += static_cast<char>('a' + (s.size() + static_cast<std::size_t>(i)) % 26);
  return s;
}

long long list_length(RedisServer& redis, const std::string& key) {
  std::string out = redis.cli({"LLEN", key});
  return std::stoll(out.empty() ? "-1" : out);
}

// Pushes elements the way a D4 server fills an analyzer queue: LPUSH at the head, so elements[0]
// is the oldest.
void push(RedisServer& redis, const std::vector<std::string>& elements) {
  const std::size_t batch = 200;
  for (std::size_t i = 0; i < elements.size(); i += batch) {
    std::vector<std::string> args = {"LPUSH", kQueue};
    for (std::size_t j = i; j < std::min(elements.size(), i + batch); ++j) args.push_back(elements[j]);
    redis.cli(args);
  }
}

// The complete lines the receiver got, session by session, in order (a line cut by a lost
// connection is incomplete and left out).
std::vector<std::string> received_lines(Receiver& rx, std::uint8_t type = 3) {
  std::vector<std::string> lines;
  for (auto& s : rx.sessions()) {
    std::string text;
    for (auto& p : s.packets)
      if (p.header.type == type) text.append(p.payload.begin(), p.payload.end());
    std::size_t start = 0;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
      lines.push_back(text.substr(start, nl - start));
  }
  return lines;
}

bool has_all(const std::vector<std::string>& got, const std::vector<std::string>& want) {
  std::multiset<std::string> have(got.begin(), got.end());
  for (auto& w : want)
    if (have.find(w) == have.end()) return false;
  return true;
}

class Forward : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SuitePki::make(); }
  static void TearDownTestSuite() { SuitePki::remove(); }
  const TestPki& pki() { return *SuitePki::pki; }
  ReceiverOptions tls_receiver(int port = 0) {
    ReceiverOptions o;
    o.cert_file = SuitePki::pki->server_crt;
    o.key_file = SuitePki::pki->server_key;
    o.port = port;
    return o;
  }
  // A configuration directory for the d4server source.
  std::string config(RedisServer& redis, int type = 3, int snaplen = 4096) {
    std::string conf = tmp_ / "conf";
    make_config(conf, type, snaplen);
    write_file(conf + "/source", "d4server\n");
    write_file(conf + "/redis_d4", redis.endpoint(0) + "\n");
    write_file(conf + "/redis_queue", kQueue + "\n");
    return conf;
  }
  std::vector<std::string> args(const std::string& conf, const std::string& dest,
                                std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {
        client_binary(), "-c",   conf,  "--destination", dest,  "--ca-file", SuitePki::pki->ca_crt,
        "--retry-min",   "50ms", "-rt", "300ms",         "-ct", "5s",        "-v"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // SIGTERM and a clean exit.
  void stop(ClientProcess& p) {
    p.signal(SIGTERM);
    auto rc = p.wait(20s);
    ASSERT_TRUE(rc.has_value()) << p.err();
    EXPECT_EQ(*rc, 0) << p.err();
  }

  ClientTempDir tmp_;
};

TEST(RedisAddress, Forms) {
  using d4::client::parse_redis_address;
  auto a = parse_redis_address("127.0.0.1:6380/2", "redis_d4");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, "6380");
  EXPECT_EQ(a.db, 2);
  EXPECT_FALSE(a.unix_socket);
  auto b = parse_redis_address("[::1]:6400/3", "redis_d4");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, "6400");
  EXPECT_EQ(b.db, 3);
  auto c = parse_redis_address("localhost", "redis_d4");
  EXPECT_EQ(c.port, "6379");
  EXPECT_EQ(c.db, 0);
  auto d = parse_redis_address("unix:/run/redis/redis.sock/5", "redis_d4");
  EXPECT_TRUE(d.unix_socket);
  EXPECT_EQ(d.path, "/run/redis/redis.sock");
  EXPECT_EQ(d.db, 5);
  auto e = parse_redis_address("redis://:s3cr:et@db.example:6381/1", "redis_d4");
  EXPECT_EQ(e.password, "s3cr:et");
  EXPECT_EQ(e.user, "");
  EXPECT_EQ(e.host, "db.example");
  EXPECT_EQ(e.db, 1);
  auto f = parse_redis_address("redis://fwd:pw@[::1]:6379/0", "redis_d4");
  EXPECT_EQ(f.user, "fwd");
  EXPECT_EQ(f.password, "pw");
  EXPECT_EQ(f.host, "::1");
  EXPECT_EQ(f.describe(), "[::1]:6379/0");  // never shows the password
  auto g = parse_redis_address("unix:///var/run/redis.sock?db=4", "redis_d4");
  EXPECT_EQ(g.path, "/var/run/redis.sock");
  EXPECT_EQ(g.db, 4);
  for (const char* bad : {"", ":6379", "::1:6379/0", "host:0/0", "host:6379/x", "[::1:6379", "unix:"})
    EXPECT_THROW(parse_redis_address(bad, "redis_d4"), d4::client::UsageError) << bad;
}

// The server-side endpoint syntax (docs/configuration.md, "Redis endpoints"): TLS files, an ACL
// user whose password is in a file; Sentinel is refused (the client follows one master).
TEST(RedisAddress, TlsAclUserAndPasswordFile) {
  using d4::client::parse_redis_address;
  ClientTempDir dir;
  write_file(dir / "pw", "forward-pw\n");
  auto a = parse_redis_address(
      "rediss://fwd@redis.example:6380/2?ca=/etc/d4/ca.pem&cert=/c.pem&key=/k.pem&sni=r1&"
      "password_file=" +
          (dir / "pw"),
      "redis_d4");
  EXPECT_TRUE(a.tls);
  EXPECT_EQ(a.user, "fwd");
  EXPECT_EQ(a.password, "forward-pw");
  EXPECT_EQ(a.host, "redis.example");
  EXPECT_EQ(a.db, 2);
  EXPECT_EQ(a.tls_settings.ca_file, "/etc/d4/ca.pem");
  EXPECT_EQ(a.tls_settings.cert_file, "/c.pem");
  EXPECT_EQ(a.tls_settings.key_file, "/k.pem");
  EXPECT_EQ(a.tls_settings.server_name, "r1");
  EXPECT_EQ(a.describe(), "rediss://redis.example:6380/2");
  for (const char* bad :
       {"redis://h:1/0?ca=/x", "rediss://h:1/0?cert=/c", "rediss://h:1/0?colour=1",
        "redis-sentinel://s1:26379/mymaster/0", "redis://u:p@h/0?password_file=/nonexistent"})
    EXPECT_THROW(parse_redis_address(bad, "redis_d4"), d4::client::UsageError) << bad;
}

TEST(RespParser, SplitRepliesAndNesting) {
  d4::client::RespParser p;
  std::string wire = "+OK\r\n-ERR no\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:7\r\n";
  std::vector<d4::client::RespReply> got;
  for (char c : wire) {  // one byte at a time: every reply must wait for its last byte
    p.feed(&c, 1);
    while (auto r = p.next()) got.push_back(*r);
  }
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].text, "OK");
  EXPECT_TRUE(got[1].is_error());
  EXPECT_EQ(got[2].integer, 42);
  EXPECT_EQ(got[3].text, "he\r\nl");
  EXPECT_EQ(got[4].kind, d4::client::RespReply::Kind::Nil);
  ASSERT_EQ(got[5].elements.size(), 2u);
  EXPECT_EQ(got[5].elements[1].elements[0].integer, 7);
  d4::client::RespParser bad;
  bad.feed("?x\r\n", 4);
  EXPECT_THROW(bad.next(), std::runtime_error);
}

TEST_F(Forward, ConfigurationErrors) {
  RedisServer redis;
  std::string conf = config(redis);
  auto run = [&](std::vector<std::string> extra) {
    ClientProcess p(args(conf, "127.0.0.1:1", std::move(extra)));
    auto rc = p.wait(10s);
    EXPECT_TRUE(rc.has_value());
    return std::make_pair(rc.value_or(-1), p.err());
  };
  std::filesystem::remove(conf + "/redis_queue");
  auto [rc1, err1] = run({});
  EXPECT_EQ(rc1, 2);
  EXPECT_NE(err1.find("redis_queue"), std::string::npos) << err1;
  auto [rc2, err2] = run({"--redis-queue", kQueue, "--type", "1"});
  EXPECT_EQ(rc2, 2);
  EXPECT_NE(err2.find("folder source"), std::string::npos) << err2;
  auto [rc3, err3] = run({"--redis-queue", kQueue, "--overflow", "drop"});
  EXPECT_EQ(rc3, 2);
  auto [rc4, err4] = run({"--redis-queue", kQueue, "--redis-d4", "host:port"});
  EXPECT_EQ(rc4, 2);
  EXPECT_NE(err4.find("--redis-d4"), std::string::npos) << err4;
}

// Oldest first, elements larger than snaplen arrive whole, the queue and the processing list end
// empty, and an empty queue makes the client wait, not exit.
TEST_F(Forward, FifoWholeElementsAndWaitingOnEmptyQueue) {
  RedisServer redis;
  Receiver rx(tls_receiver());
  std::vector<std::string> want;
  for (int i = 0; i < 300; ++i)
    want.push_back(element(i, i % 50 == 7 ? 5000 : 40 + static_cast<std::size_t>(i)));
  want.push_back("");  // an empty element is an empty line
  want.push_back(element(999, 20000));
  push(redis, want);
  ClientProcess p(args(config(redis, 3, 1000), rx.destination()));
  ASSERT_TRUE(rx.wait_until([&] { return received_lines(rx).size() >= want.size(); }, 30s)) << p.err();
  EXPECT_EQ(received_lines(rx), want);
  // Split elements: packets are never above snaplen.
  for (auto& s : rx.sessions())
    for (auto& pk : s.packets) EXPECT_LE(pk.payload.size(), 1000u);
  EXPECT_TRUE(eventually([&] { return list_length(redis, processing_key()) == 0; }, 10s)) << p.err();
  EXPECT_EQ(list_length(redis, kQueue), 0);

  // Empty queue: the client keeps waiting (in a blocking move on the queue); a new element is forwarded.
  ASSERT_TRUE(eventually([&] {
    return redis.cli({"INFO", "clients"}).find("blocked_clients:1") != std::string::npos;
  })) << p.err();
  ASSERT_TRUE(p.running()) << p.err();
  push(redis, {"late arrival"});
  ASSERT_TRUE(rx.wait_until([&] { return received_lines(rx).size() == want.size() + 1; }, 10s)) << p.err();
  EXPECT_EQ(received_lines(rx).back(), "late arrival");
  EXPECT_TRUE(eventually([&] { return list_length(redis, processing_key()) == 0; }, 10s));
  stop(p);
  EXPECT_EQ(rx.sessions().size(), 1u);
}

// The queue on a TLS Redis that requires client certificates, read by an ACL user with list rights
// only, its password in a file.
TEST_F(Forward, RedissWithAnAclUserAndAPasswordFile) {
  RedisServerOptions ro;
  ro.tls_cert = pki().server_crt;
  ro.tls_key = pki().server_key;
  ro.tls_ca = pki().ca_crt;
  ro.tls_auth_clients = true;
  ro.acl_users = {d4::test::acl_user("forwarder", "forward-pw", d4::test::kForwarderAclRules)};
  RedisServer redis(ro);
  Receiver rx(tls_receiver());
  std::vector<std::string> want = {element(1), element(2), element(3)};
  push(redis, want);
  std::string conf = config(redis);
  write_file(tmp_ / "redis.pass", "forward-pw\n");
  std::string tls = "ca=" + pki().ca_crt + "&cert=" + pki().client_crt + "&key=" + pki().client_key;
  write_file(conf + "/redis_d4", "rediss://forwarder@localhost:" + std::to_string(redis.tls_port()) + "/0?" +
                                     tls + "&password_file=" + (tmp_ / "redis.pass") + "\n");
  ClientProcess p(args(conf, rx.destination()));
  ASSERT_TRUE(rx.wait_until([&] { return received_lines(rx).size() >= want.size(); }, 30s)) << p.err();
  EXPECT_EQ(received_lines(rx), want);
  EXPECT_TRUE(eventually([&] { return list_length(redis, processing_key()) == 0; }, 10s)) << p.err();
  stop(p);
  EXPECT_EQ(redis.cli({"ACL", "LOG"}).find("forwarder"), std::string::npos) << "the rights above suffice";

  // Without the client certificate the server refuses the connection, and the client says why.
  write_file(conf + "/redis_d4", "rediss://forwarder@localhost:" + std::to_string(redis.tls_port()) +
                                     "/0?ca=" + pki().ca_crt + "&password_file=" + (tmp_ / "redis.pass") +
                                     "\n");
  ClientProcess refused(args(conf, rx.destination()));
  ASSERT_TRUE(eventually([&] { return refused.err().find("cert= and key=") != std::string::npos; }, 20s))
      << refused.err();
  EXPECT_EQ(refused.err().find("forward-pw"), std::string::npos);
  refused.signal(SIGTERM);
  EXPECT_TRUE(refused.wait(20s).has_value());
}

// Elements stay in the processing list until acknowledged: with no receiver they wait there; a
// SIGKILLed client leaves them, and the next run sends them first, in order.
TEST_F(Forward, ProcessingListSurvivesSigkill) {
  RedisServer redis;
  int port = free_port();
  std::string conf = config(redis);
  std::vector<std::string> want;
  for (int i = 0; i < 50; ++i) want.push_back(element(i));
  push(redis, want);
  {
    ClientProcess p(args(conf, "127.0.0.1:" + std::to_string(port)));
    ASSERT_TRUE(eventually([&] { return list_length(redis, processing_key()) == 50; }, 10s)) << p.err();
    EXPECT_EQ(list_length(redis, kQueue), 0);
    // Delivery failed and was retried, twice: still nothing is removed.
    ASSERT_TRUE(p.wait_stderr("retrying in", 20s, 2)) << p.err();
    EXPECT_EQ(list_length(redis, processing_key()), 50) << "nothing is removed before delivery";
    p.signal(SIGKILL);
    ASSERT_TRUE(p.wait(10s).has_value());
  }
  push(redis, {"after the crash"});
  Receiver rx(tls_receiver(port));
  ClientProcess p(args(conf, rx.destination()));
  ASSERT_TRUE(rx.wait_until([&] { return received_lines(rx).size() >= 51; }, 30s)) << p.err();
  auto got = received_lines(rx);
  auto all = want;
  all.push_back("after the crash");
  EXPECT_EQ(got, all);
  EXPECT_TRUE(eventually([&] { return list_length(redis, processing_key()) == 0; }, 10s)) << p.err();
  EXPECT_TRUE(p.wait_stderr("sent again first", 1s)) << p.err();
  stop(p);
}

// The receiver resets the connection mid-stream (unread data lost) and comes back: every element
// arrives at least once, and the processing list ends empty.
TEST_F(Forward, ReceiverRestartLosesNothing) {
  RedisServer redis;
  Receiver rx(tls_receiver());
  rx.crash_after(150'000, 700ms);
  std::vector<std::string> want;
  for (int i = 0; i < 3000; ++i) want.push_back(element(i, 200));
  push(redis, want);
  ClientProcess p(args(config(redis), rx.destination()));
  ASSERT_TRUE(rx.wait_until([&] { return has_all(received_lines(rx), want); }, 60s)) << p.err();
  EXPECT_EQ(rx.crashes(), 1);
  EXPECT_GE(rx.sessions().size(), 2u);
  EXPECT_TRUE(eventually([&] { return list_length(redis, processing_key()) == 0; }, 10s)) << p.err();
  EXPECT_EQ(list_length(redis, kQueue), 0);
  // Oldest first: the first occurrences of the elements come in queue order.
  std::vector<std::string> first_seen;
  std::set<std::string> seen;
  for (auto& l : received_lines(rx))
    if (seen.insert(l).second) first_seen.push_back(l);
  EXPECT_EQ(first_seen, want);
  stop(p);
}

// Redis goes away (with elements in transit) and comes back: the client reconnects and nothing
// is lost.
TEST_F(Forward, RedisRestartLosesNothing) {
  RedisServer redis(true);  // append-only file: the lists survive the restart
  Receiver rx(tls_receiver());
  std::vector<std::string> first, second;
  for (int i = 0; i < 500; ++i) first.push_back(element(i, 100));
  for (int i = 500; i < 1000; ++i) second.push_back(element(i, 100));
  ClientProcess p(args(config(redis), rx.destination()));
  push(redis, first);
  ASSERT_TRUE(rx.wait_until([&] { return has_all(received_lines(rx), first); }, 30s)) << p.err();
  redis.stop();
  ASSERT_TRUE(p.wait_stderr("d4server: Redis", 20s)) << "the outage is noticed and retried: " << p.err();
  ASSERT_TRUE(p.running()) << p.err();
  redis.start();
  push(redis, second);
  auto all = first;
  all.insert(all.end(), second.begin(), second.end());
  ASSERT_TRUE(rx.wait_until([&] { return has_all(received_lines(rx), all); }, 30s)) << p.err();
  EXPECT_TRUE(eventually([&] { return list_length(redis, processing_key()) == 0; }, 15s)) << p.err();
  EXPECT_EQ(list_length(redis, kQueue), 0);
  EXPECT_EQ(received_lines(rx), all) << "one session, no duplicates expected here";
  EXPECT_TRUE(p.wait_stderr("reachable again", 1s)) << p.err();
  stop(p);
}

// Type 254: the meta header (extended type and tags) is sent as type 2 first, byte for byte.
TEST_F(Forward, ExtendedTypeKeepsMetaHeader) {
  RedisServer redis;
  Receiver rx(tls_receiver());
  std::string conf = config(redis, 254);
  const std::string meta =
      R"({"type": "ja3-jl", "tags": ["tlp:white", "misp-galaxy:threat-actor=\"Example\""], "source": "partner-a"})";
  write_file(conf + "/metaheader.json", meta);
  std::vector<std::string> want = {R"({"ja3": "771,4865", "n": 1})", R"({"ja3": "771,4866", "n": 2})"};
  push(redis, want);
  ClientProcess p(args(conf, rx.destination()));
  ASSERT_TRUE(rx.wait_until([&] { return received_lines(rx, 254).size() >= 2; }, 30s)) << p.err();
  EXPECT_EQ(received_lines(rx, 254), want);
  auto sessions = rx.sessions();
  ASSERT_FALSE(sessions.empty());
  ASSERT_FALSE(sessions[0].packets.empty());
  EXPECT_EQ(sessions[0].packets[0].header.type, 2);
  std::string got_meta(sessions[0].packets[0].payload.begin(), sessions[0].packets[0].payload.end());
  EXPECT_EQ(got_meta, meta);
  stop(p);
}

}  // namespace
