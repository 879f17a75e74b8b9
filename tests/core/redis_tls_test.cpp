// Redis endpoints past one plain connection: the endpoint syntax (TLS files, ACL users, password
// files, Sentinel), and both clients against a real redis-server with TLS (client certificates
// required or not, a wrong CA, a wrong name) and with ACL users of restricted rights.
#include <gtest/gtest.h>

#include <memory>

#include "async_loop.hpp"
#include "core/redis_async.hpp"
#include "core/redis_client.hpp"
#include "support/redis_server.hpp"
#include "support/test_pki.hpp"

using namespace d4::core;
using namespace std::chrono_literals;

namespace {

std::string resp_of(std::initializer_list<std::string_view> args) {
  std::string s;
  RespWriter(s).command(args);
  return s;
}

// The PKI of the suite: made once (several openssl runs).
class RedisTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<d4::test::TempDir>();
    pki_ = std::make_unique<d4::test::TestPki>(dir_->path().string());
  }
  static void TearDownTestSuite() {
    pki_.reset();
    dir_.reset();
  }
  static const d4::test::TestPki& pki() { return *pki_; }

  d4::test::RedisServerOptions tls_options(bool require_client_cert) {
    d4::test::RedisServerOptions o;
    o.tls_cert = pki().server_crt;
    o.tls_key = pki().server_key;
    o.tls_ca = pki().ca_crt;
    o.tls_auth_clients = require_client_cert;
    return o;
  }
  // rediss:// to `redis`'s TLS port as `host`, with `query` appended.
  static RedisEndpoint tls_endpoint(const d4::test::RedisServer& redis, const std::string& query,
                                    const std::string& credentials = "",
                                    const std::string& host = "127.0.0.1", int db = 0) {
    std::string text = "rediss://" + credentials + host + ":" + std::to_string(redis.tls_port()) + "/" +
                       std::to_string(db) + "?" + query;
    std::string error;
    auto e = RedisEndpoint::parse(text, &error);
    if (!e) throw std::runtime_error(error);
    return *e;
  }
  static std::string ca_query() { return "ca=" + pki().ca_crt; }
  static std::string client_cert_query() {
    return "ca=" + pki().ca_crt + "&cert=" + pki().client_crt + "&key=" + pki().client_key;
  }

  // The blocking client's error for `e`, "" when it connects.
  static std::string blocking_error(const RedisEndpoint& e) {
    try {
      RedisClient c(e, {2000ms, 5000ms});
      auto r = c.command({"PING"});
      return r.str == "PONG" ? "" : "unexpected " + r.describe();
    } catch (const RedisError& err) {
      return err.what();
    }
  }
  // The async client's reason for not connecting to `e` within a few seconds, "" when it connects.
  static std::string async_error(const RedisEndpoint& e) {
    d4::test::Loop loop;
    AsyncRedis::Options o;
    o.connect_timeout = 2000ms;
    AsyncRedis r(loop.ioc, e, o);
    loop.run([&] { return r.start(), 0; });
    std::string error;
    bool settled = d4::test::eventually(
        [&] {
          error = loop.run([&] { return r.connected() ? std::string("connected") : r.last_error(); });
          return !error.empty();
        },
        10s, 5ms);
    loop.run([&] { return r.stop(), 0; });
    if (!settled) return "neither connected nor failed";
    return error == "connected" ? "" : error;
  }

 private:
  inline static std::unique_ptr<d4::test::TempDir> dir_;
  inline static std::unique_ptr<d4::test::TestPki> pki_;
};

}  // namespace

TEST(RedisEndpointSyntax, ParsesTlsFilesAndServerName) {
  auto e = RedisEndpoint::parse(
      "rediss://worker:pw@redis.example:6380/2?ca=/etc/d4/ca.pem&cert=/c.pem&key=/k.pem&sni=r1");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->tls.enabled);
  EXPECT_EQ(e->host, "redis.example");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 2);
  EXPECT_EQ(e->username, "worker");
  EXPECT_EQ(e->password, "pw");
  EXPECT_EQ(e->tls.ca_file, "/etc/d4/ca.pem");
  EXPECT_EQ(e->tls.cert_file, "/c.pem");
  EXPECT_EQ(e->tls.key_file, "/k.pem");
  EXPECT_EQ(e->tls.server_name, "r1");
  EXPECT_EQ(e->to_string(), "rediss://redis.example:6380/2") << "no credentials, no query";
  auto plain = RedisEndpoint::parse("redis://10.0.0.1:6379/1");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->tls.enabled);
}

TEST(RedisEndpointSyntax, RefusesMisplacedOrUnknownSettingsWithoutShowingPasswords) {
  std::string err;
  EXPECT_FALSE(RedisEndpoint::parse("redis://u:topsecret@h:1/0?ca=/x", &err));
  EXPECT_NE(err.find("rediss://"), std::string::npos) << err;
  EXPECT_EQ(err.find("topsecret"), std::string::npos) << err;
  EXPECT_FALSE(RedisEndpoint::parse("rediss://h:1/0?cert=/c.pem", &err));
  EXPECT_NE(err.find("key="), std::string::npos) << err;
  EXPECT_FALSE(RedisEndpoint::parse("rediss://h:1/0?colour=blue", &err));
  EXPECT_NE(err.find("unknown query parameter \"colour\""), std::string::npos) << err;
  EXPECT_FALSE(RedisEndpoint::parse("redis-shard://h:1", &err));
  EXPECT_NE(err.find("unknown scheme"), std::string::npos) << err;
  EXPECT_FALSE(RedisEndpoint::parse("redis://h:1/0?sentinel_password=x", &err));
  EXPECT_FALSE(
      RedisEndpoint::parse("redis-sentinel://s1,s2/m/0?sentinel_password=hush&sentinel_user=a&x=1", &err));
  EXPECT_EQ(err.find("hush"), std::string::npos) << err;
  EXPECT_NE(err.find("sentinel_password=***"), std::string::npos) << err;
}

TEST(RedisEndpointSyntax, ReadsPasswordFilesAndNamesAMissingOne) {
  d4::test::TempDir dir;
  d4::test::write_text(dir / "pw", "s3cret\n");
  d4::test::write_text(dir / "spw", "sentinel-secret\n");
  auto e = RedisEndpoint::parse("redis://ingest@127.0.0.1:6379/0?password_file=" + (dir / "pw").string());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->username, "ingest");
  EXPECT_EQ(e->password, "s3cret") << "the final line break is dropped";
  auto s = RedisEndpoint::parse("redis-sentinel://s1:26380,[::1],s3/mymaster/3?sentinel_password_file=" +
                                (dir / "spw").string());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->sentinel_password, "sentinel-secret");
  std::string err;
  EXPECT_FALSE(RedisEndpoint::parse("redis://u:inline@h/0?password_file=" + (dir / "pw").string(), &err));
  EXPECT_NE(err.find("twice"), std::string::npos) << err;
  EXPECT_FALSE(RedisEndpoint::parse("redis://u@h/0?password_file=" + (dir / "absent").string(), &err));
  EXPECT_NE(err.find("cannot read password file"), std::string::npos) << err;
  EXPECT_NE(err.find("absent"), std::string::npos) << err;
}

TEST(RedisEndpointSyntax, ParsesSentinelLists) {
  auto e = RedisEndpoint::parse(
      "redis-sentinel://app:pw@s1:26380,[::1],s3/mymaster/3?sentinel_user=mon&sentinel_password=x");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->uses_sentinel());
  EXPECT_EQ(e->sentinel_master, "mymaster");
  EXPECT_EQ(e->db, 3);
  ASSERT_EQ(e->sentinels.size(), 3u);
  EXPECT_EQ(e->sentinels[0], (RedisNode{"s1", 26380}));
  EXPECT_EQ(e->sentinels[1], (RedisNode{"::1", 26379}));
  EXPECT_EQ(e->sentinels[2], (RedisNode{"s3", 26379}));
  EXPECT_EQ(e->username, "app");
  EXPECT_EQ(e->password, "pw");
  EXPECT_EQ(e->sentinel_username, "mon");
  EXPECT_EQ(e->sentinel_password, "x");
  EXPECT_EQ(e->to_string(), "redis-sentinel://s1:26380,[::1]:26379,s3:26379/mymaster/3");
  auto node = e->at_node({"10.0.0.9", 6379});
  EXPECT_FALSE(node.uses_sentinel());
  EXPECT_EQ(node.to_string(), "10.0.0.9:6379/3");
  auto t = RedisEndpoint::parse("rediss-sentinel://s1/m?ca=/ca.pem");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->tls.enabled);
  EXPECT_EQ(t->db, 0);
  std::string err;
  EXPECT_FALSE(RedisEndpoint::parse("redis-sentinel://s1:26379", &err));
  EXPECT_NE(err.find("master"), std::string::npos) << err;
}

TEST_F(RedisTlsTest, BothClientsTalkTlsWithTheCaAndWithoutAClientCertificate) {
  d4::test::RedisServer redis(tls_options(false));
  RedisEndpoint e = tls_endpoint(redis, ca_query(), "", "127.0.0.1", 2);
  RedisClient c(e);
  EXPECT_EQ(c.command({"SET", "k", "v"}).str, "OK");
  EXPECT_EQ(redis.cli({"GET", "k"}, 2), "v\n") << "written over TLS into db 2";
  d4::test::Loop loop;
  AsyncRedis r(loop.ioc, e);
  loop.run([&] { return r.start(), 0; });
  ASSERT_TRUE(d4::test::wait_connected(loop, r)) << loop.run([&] { return r.last_error(); });
  auto [ec, replies] = d4::test::exec(loop, r, resp_of({"INCR", "n"}) + resp_of({"GET", "k"}), 2, true);
  ASSERT_FALSE(ec);
  EXPECT_EQ(replies[0].integer, 1);
  EXPECT_EQ(replies[1].str, "v");
  EXPECT_EQ(redis.cli({"GET", "n"}, 2), "1\n");
  loop.run([&] { return r.stop(), 0; });
}

TEST_F(RedisTlsTest, AServerThatRequiresAClientCertificateAcceptsOursAndRefusesNone) {
  d4::test::RedisServer redis(tls_options(true));
  EXPECT_EQ(blocking_error(tls_endpoint(redis, client_cert_query())), "");
  EXPECT_EQ(async_error(tls_endpoint(redis, client_cert_query())), "");
  std::string blocking = blocking_error(tls_endpoint(redis, ca_query()));
  EXPECT_NE(blocking.find("set cert= and key="), std::string::npos) << blocking;
  std::string async = async_error(tls_endpoint(redis, ca_query()));
  EXPECT_NE(async.find("set cert= and key="), std::string::npos) << async;
}

TEST_F(RedisTlsTest, AWrongCaOrAWrongNameIsRefusedAndSaidSo) {
  d4::test::RedisServer redis(tls_options(false));
  auto wrong_ca = tls_endpoint(redis, "ca=" + pki().other_ca_crt, "app:hunter2@");
  for (const std::string& error : {blocking_error(wrong_ca), async_error(wrong_ca)}) {
    EXPECT_NE(error.find("certificate was refused"), std::string::npos) << error;
    EXPECT_NE(error.find(pki().other_ca_crt), std::string::npos) << "names the CA file: " << error;
    EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  }
  // The certificate names localhost and 127.0.0.1: another expected name is refused, and the
  // name can be set apart from the address (sni=).
  auto wrong_name = tls_endpoint(redis, ca_query() + "&sni=redis.example");
  for (const std::string& error : {blocking_error(wrong_name), async_error(wrong_name)})
    EXPECT_NE(error.find("set sni="), std::string::npos) << error;
  EXPECT_EQ(blocking_error(tls_endpoint(redis, ca_query() + "&sni=localhost")), "");
  EXPECT_EQ(blocking_error(tls_endpoint(redis, ca_query(), "", "localhost")), "");
  auto missing_ca = tls_endpoint(redis, "ca=" + pki().dir + "/absent.pem");
  for (const std::string& error : {blocking_error(missing_ca), async_error(missing_ca)})
    EXPECT_NE(error.find("cannot load CA file " + pki().dir + "/absent.pem"), std::string::npos) << error;
}

TEST_F(RedisTlsTest, AclUsersAreSentByBothClientsAndMissingRightsAreNamed) {
  auto o = tls_options(false);
  o.acl_users = {{"ingest", "on", ">ingest-pw", "~*", "+@all"},
                 {"reader", "on", ">reader-pw", "~*", "+ping", "+get"}};
  d4::test::RedisServer redis(o);
  d4::test::TempDir dir;
  d4::test::write_text(dir / "pw", "ingest-pw\n");
  RedisEndpoint ingest =
      tls_endpoint(redis, ca_query() + "&password_file=" + (dir / "pw").string(), "ingest@");
  RedisClient c(ingest);
  EXPECT_EQ(c.command({"ACL", "WHOAMI"}).str, "ingest") << "AUTH ingest <password>, password from the file";
  d4::test::Loop loop;
  AsyncRedis r(loop.ioc, ingest);
  loop.run([&] { return r.start(), 0; });
  ASSERT_TRUE(d4::test::wait_connected(loop, r)) << loop.run([&] { return r.last_error(); });
  auto [ec, replies] = d4::test::exec(loop, r, resp_of({"ACL", "WHOAMI"}), 1, true);
  ASSERT_FALSE(ec);
  EXPECT_EQ(replies[0].str, "ingest");
  loop.run([&] { return r.stop(), 0; });

  std::string wrong = blocking_error(tls_endpoint(redis, ca_query(), "ingest:not-it@"));
  EXPECT_NE(wrong.find("WRONGPASS"), std::string::npos) << wrong;
  EXPECT_EQ(wrong.find("not-it"), std::string::npos) << wrong;
  // "reader" may not SELECT: its handshake fails, naming the right it lacks.
  auto reader_db1 = tls_endpoint(redis, ca_query(), "reader:reader-pw@", "127.0.0.1", 1);
  std::string async = async_error(reader_db1);
  EXPECT_NE(async.find("SELECT: NOPERM"), std::string::npos) << async;
  EXPECT_NE(async.find("needs +select"), std::string::npos) << async;
  RedisClient reader(reader_db1);
  EXPECT_THROW(reader.command({"GET", "k"}), RedisError);
  RedisClient reader0(tls_endpoint(redis, ca_query(), "reader:reader-pw@"));
  auto denied = reader0.command({"SET", "k", "v"});
  ASSERT_TRUE(denied.is_error());
  EXPECT_NE(denied.str.find("NOPERM"), std::string::npos) << denied.str;
}
