// d4-web in the cluster key layout on a real 3-master Redis Cluster, next to a d4-server of the same
// layout: the stream Redis, the users and the cache databases are the cluster (users and cache as
// the {d4:users}: and {d4:cache}: prefixes), the meta database is d4-server's meta Redis on one
// Redis (web_meta_cluster_test.cpp puts it on the cluster too). Signing in works there, the sensor list,
// detail pages and API show a sensor that streams through the cluster, and a kick or a block from the web
// reaches the running d4-server (the kick through the cluster's live slot, the block announced in
// server:policy_version).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "server/harness.hpp"
#include "support/http.hpp"
#include "support/redis_cluster.hpp"
#include "web_fixture.hpp"

using namespace d4::webtest;
namespace keys = d4::core::keys;
using d4::test::eventually;

namespace {

constexpr auto kCluster = keys::KeyLayout::Cluster;

// A sensor streaming type-1 packets into d4-server over TLS.
struct StreamingSensor {
  explicit StreamingSensor(int tls_port) : connection(tls_port, true) {}
  bool send(int packets) {
    for (int i = 0; i < packets; ++i)
      if (!connection.send(d4::test::make_packet(uuid, 1, d4::test::kTestHmacKey,
                                                 "packet " + std::to_string(sent++) + std::string(200, 'x'))))
        return false;
    return true;
  }
  std::string id() const { return uuid.dashless(); }
  d4::protocol::Uuid uuid = d4::test::random_uuid();
  d4::test::SensorConnection connection;
  int sent = 0;
};

}  // namespace

class WebOnACluster : public ::testing::Test {
 protected:
  struct Shared {
    d4::test::RedisCluster cluster;
    std::unique_ptr<WebInstance> web;
    std::unique_ptr<d4::test::ServerProcess> server;
    std::unique_ptr<SignedInAdmin> admin;
    std::unique_ptr<StreamingSensor> listed;  // the sensor the list and detail tests look for
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    ASSERT_TRUE(s.cluster.wait_ok());
    const std::string seeds = "redis-cluster://" + s.cluster.seeds();
    WebOptions o = admin_options();
    // The stream Redis (db 5 of the test layout) is the cluster; meta stays the instance's Redis.
    o.redis_endpoint = [seeds](const d4::test::RedisServer& r, int db) {
      return db == 5 ? seeds : "127.0.0.1:" + std::to_string(r.port()) + "/" + std::to_string(db);
    };
    o.extra_redis_config = "key_layout = \"cluster\"\nusers = \"" + seeds + "\"\ncache = \"" + seeds + "\"\n";
    s.web = std::make_unique<WebInstance>(o);
    d4::test::ServerOptions so;
    so.meta_redis = &s.web->redis();
    so.meta_db = 0;
    so.stream_endpoint = seeds;
    so.key_layout = "cluster";
    s.server = std::make_unique<d4::test::ServerProcess>(s.web->redis(), so);
    s.admin = std::make_unique<SignedInAdmin>(*s.web);
    s.listed = std::make_unique<StreamingSensor>(s.server->tls_port());
    ASSERT_TRUE(s.listed->send(5));
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(shared_ && shared_->admin && shared_->listed) << "the suite's set-up failed";
  }

  static Shared& s() { return *shared_; }
  static Client api() { return bearer_client(*s().web, s().admin->token); }
  static d4::core::RedisClient cluster_client() {
    return d4::core::RedisClient(*d4::core::RedisEndpoint::parse("redis-cluster://" + s().cluster.seeds()));
  }
  static double server_metric(const std::string& sample) {
    return d4::test::metric(s().server->metrics_port(), sample).value_or(-1);
  }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(WebOnACluster, UsersAndSessionsLiveUnderTheirHashTagsOnTheCluster) {
  auto cluster = cluster_client();
  EXPECT_EQ(cluster.command({"HEXISTS", "{d4:users}:user:all", kAdmin}).integer, 1);
  EXPECT_EQ(cluster.command({"HGET", std::string("{d4:users}:user_metadata:") + kAdmin, "role"}).str,
            "admin");
  EXPECT_GE(cluster.command({"ZCARD", "{d4:cache}:d4:web:sessions"}).integer, 1) << "the admin's session";
  EXPECT_EQ(s().web->meta().command({"EXISTS", "user:all"}).integer, 0);
  EXPECT_EQ(s().web->users().command({"EXISTS", "user:all"}).integer, 0) << "no users database number";
  // Another sign-in and an API token both work from there.
  Client again = s().web->client();
  EXPECT_EQ(again.login(kAdmin, kPassword).header("Location"), "/");
  EXPECT_EQ(again.get("/profile").status, 200);
  EXPECT_EQ(api().get("/api/v1/me").status, 200);
}

TEST_F(WebOnACluster, TheSensorListAndDetailShowASensorStreamingThroughTheCluster) {
  const std::string uuid = s().listed->id();
  Client c = api();
  // Listed once d4-server's statistics flush indexed it, connected from the cluster's live slot.
  ASSERT_TRUE(eventually(
      [&] {
        const auto list = c.get("/api/v1/sensors").json();
        for (const auto& row : list["items"])
          if (row["uuid"] == uuid && row["connected"] == true && !row["last_seen"].is_null()) return true;
        return false;
      },
      std::chrono::seconds(30)))
      << c.get("/api/v1/sensors").body << s().server->log();
  auto detail = c.get("/api/v1/sensors/" + uuid).json();
  EXPECT_EQ(detail["connected"], true) << detail.dump();
  EXPECT_EQ(detail["connected_types"], nlohmann::json::array({"1"})) << detail.dump();
  EXPECT_FALSE(detail["first_seen"].is_null());
  auto page = s().admin->session.get("/sensors");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find(uuid), std::string::npos);
  auto sensor_page = s().admin->session.get("/sensors/" + uuid);
  EXPECT_EQ(sensor_page.status, 200) << sensor_page.body;
  // The dashboard counts it among the connected sensors (the live slot's active_connection).
  EXPECT_EQ(
      cluster_client().command({"SISMEMBER", keys::live(kCluster, keys::kActiveConnection), uuid}).integer,
      1);
  auto connected = c.get("/api/v1/dashboard").json()["connected_sensors"];
  EXPECT_NE(std::find(connected.begin(), connected.end(), uuid), connected.end()) << connected.dump();
}

TEST_F(WebOnACluster, AKickFromTheWebClosesTheSensorsConnectionOnTheServer) {
  StreamingSensor kicked(s().server->tls_port());
  ASSERT_TRUE(kicked.send(3));
  ASSERT_TRUE(eventually([&] {
    return cluster_client()
               .command({"SISMEMBER", keys::live(kCluster, keys::kActiveConnection), kicked.id()})
               .integer == 1;
  }));
  const double before = server_metric("d4_server_rejects_total{reason=\"kicked\"}");
  auto r = api().call("POST", "/api/v1/sensors/" + kicked.id() + "/kick");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(kicked.connection.wait_closed(std::chrono::seconds(30))) << s().server->log();
  EXPECT_TRUE(
      eventually([&] { return server_metric("d4_server_rejects_total{reason=\"kicked\"}") == before + 1; }));
  EXPECT_EQ(cluster_client()
                .command({"EXISTS", keys::live(kCluster, keys::temp_blocklist_uuid(kicked.id()))})
                .integer,
            1)
      << "refused for a while, in the live slot";
}

TEST_F(WebOnACluster, BlockingASensorFromTheWebReachesTheRunningServer) {
  StreamingSensor blocked(s().server->tls_port());
  ASSERT_TRUE(blocked.send(3));
  ASSERT_TRUE(eventually([&] {
    return cluster_client()
               .command({"SISMEMBER", keys::live(kCluster, keys::kActiveConnection), blocked.id()})
               .integer == 1;
  }));
  auto& meta = s().web->meta();
  const long long version = meta.command({"GET", std::string(keys::kPolicyVersion)}).as_integer().value_or(0);
  const double before = server_metric("d4_server_rejects_total{reason=\"blocked_uuid\"}");
  auto r = api().call("POST", "/api/v1/sensors/" + blocked.id() + "/block");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GT(meta.command({"GET", std::string(keys::kPolicyVersion)}).as_integer().value_or(0), version)
      << "the change is announced";
  EXPECT_TRUE(blocked.connection.wait_closed(std::chrono::seconds(30))) << s().server->log();
  EXPECT_TRUE(eventually([&] {
    return server_metric("d4_server_rejects_total{reason=\"blocked_uuid\"}") == before + 1;
  })) << s().server->log();
  // A new connection of the sensor is refused too.
  StreamingSensor again_uuid(s().server->tls_port());
  again_uuid.uuid = blocked.uuid;
  again_uuid.send(1);
  EXPECT_TRUE(again_uuid.connection.wait_closed(std::chrono::seconds(30)));
  EXPECT_TRUE(eventually([&] {
    return server_metric("d4_server_rejects_total{reason=\"blocked_uuid\"}") == before + 2;
  })) << s().server->log();
}
