// QueueStore and QueueRouter against a real redis-server: reference-compatible keys, group
// queues, counted max-size trims and consumer observation.
#include <gtest/gtest.h>

#include "core/keys.hpp"
#include "queues/queue_store.hpp"
#include "support/redis_server.hpp"

namespace d4::queues {
namespace {
namespace keys = core::keys;

class QueueStoreTest : public ::testing::Test {
 protected:
  QueueStoreTest()
      : meta(core::RedisEndpoint{"127.0.0.1", redis.port(), {}, 0, {}}),
        analyzer(core::RedisEndpoint{"127.0.0.1", redis.port(), {}, 2, {}}),
        store(meta, analyzer, 1000) {
    meta.command_ok({"SADD", keys::kAcceptedTypes, "1", "3", "8", "254"});
    meta.command_ok({"SADD", keys::kAcceptedExtendedTypes, "ja3-jl"});
  }
  test::RedisServer redis;
  core::RedisClient meta, analyzer;
  QueueStore store;
};

TEST_F(QueueStoreTest, CreateWritesTheReferenceKeys) {
  QueueSpec spec;
  spec.target = QueueTarget::parse("8");
  spec.id = "0894517855F047D2A77B4473D3A9CC5B";  // any spelling; stored dashed lowercase
  spec.description = "passive DNS";
  spec.max_size = 50;
  auto q = store.create(spec);
  EXPECT_EQ(q.id, "08945178-55f0-47d2-a77b-4473d3a9cc5b");
  EXPECT_EQ(q.list_key(), "analyzer:8:08945178-55f0-47d2-a77b-4473d3a9cc5b");
  EXPECT_EQ(meta.command({"HGET", "analyzer:" + q.id, "type"}).str, "8");
  EXPECT_EQ(meta.command({"HGET", "analyzer:" + q.id, "max_size"}).str, "50");
  EXPECT_EQ(meta.command({"SISMEMBER", "analyzer:8", q.id}).integer, 1);
  EXPECT_EQ(meta.command({"SISMEMBER", "all_analyzer_queues", q.id}).integer, 1);
  EXPECT_EQ(store.get("0894517855f047d2a77b4473d3a9cc5b")->id, q.id);  // lookup by another spelling
  EXPECT_THROW(store.create(spec), QueueError);                        // already exists

  QueueSpec ext;
  ext.target = QueueTarget::parse("ja3-jl");
  ext.sensors = {"8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01"};
  auto g = store.create(ext);
  EXPECT_EQ(meta.command({"HGET", "analyzer:" + g.id, "type"}).str, "254");
  EXPECT_EQ(meta.command({"HGET", "analyzer:" + g.id, "metatype"}).str, "ja3-jl");
  EXPECT_EQ(meta.command({"SISMEMBER", "analyzer_uuid_group:254:ja3-jl", g.id}).integer, 1);
  EXPECT_EQ(
      meta.command({"SISMEMBER", "sensor:queues:ja3-jl:8bd5b2b23c8a4a399a5e1a4f1f2b7c01", g.id}).integer, 1);
  EXPECT_EQ(g.list_key(), "analyzer:ja3-jl:" + g.id);
}

TEST_F(QueueStoreTest, RejectsTypesTheServerDoesNotAccept) {
  QueueSpec spec;
  spec.target = QueueTarget::numeric(5);
  EXPECT_THROW(store.create(spec), QueueError);
  spec.require_accepted_type = false;
  EXPECT_NO_THROW(store.create(spec));
  EXPECT_THROW(QueueTarget::parse("254"), QueueError);
  EXPECT_THROW(QueueTarget::parse("../x"), QueueError);
  EXPECT_THROW(QueueTarget::parse("0"), QueueError);
}

TEST_F(QueueStoreTest, NumericGroupQueuesAreFedByTheirSensorsOnly) {
  const std::string s1 = "0a0b0c0d0e0f40008000000000000001", s2 = "0a0b0c0d0e0f40008000000000000002";
  QueueSpec all;
  all.target = QueueTarget::numeric(3);
  auto a = store.create(all);
  QueueSpec grp;
  grp.target = QueueTarget::numeric(3);
  grp.sensors = {s1};
  auto g = store.create(grp);
  // The reference indexed numeric group queues under sensor:queues:list:<sensor>; ours are
  // under the numeric type, where producers look.
  EXPECT_EQ(meta.command({"SISMEMBER", "sensor:queues:3:" + s1, g.id}).integer, 1);
  QueueRouter router(meta, 1000);
  auto ids = [](const std::vector<QueueDestination>& d) {
    std::set<std::string> s;
    for (const auto& x : d) s.insert(x.id);
    return s;
  };
  EXPECT_EQ(ids(router.destinations(QueueTarget::numeric(3), s1)), (std::set<std::string>{a.id, g.id}));
  EXPECT_EQ(ids(router.destinations(QueueTarget::numeric(3), s2)), (std::set<std::string>{a.id}));
  store.add_sensors(g.id, {s2});
  router.invalidate();
  EXPECT_EQ(ids(router.destinations(QueueTarget::numeric(3), s2)), (std::set<std::string>{a.id, g.id}));
  store.remove_sensors(g.id, {s1});
  router.invalidate();
  EXPECT_EQ(ids(router.destinations(QueueTarget::numeric(3), s1)), (std::set<std::string>{a.id}));
  // Adding sensors to an all-sensor queue makes it a group queue.
  store.add_sensors(a.id, {s1});
  router.invalidate();
  EXPECT_EQ(ids(router.destinations(QueueTarget::numeric(3), s2)), (std::set<std::string>{g.id}));
}

TEST_F(QueueStoreTest, MaxSizeKeepsTheNewestAndCountsEveryDrop) {
  QueueSpec spec;
  spec.target = QueueTarget::numeric(8);
  spec.max_size = 3;
  auto q = store.create(spec);
  EXPECT_EQ(store.push(q.id, {"a", "b", "c", "d", "e"}), 2);
  EXPECT_EQ(analyzer.command({"RPOP", q.list_key()}).str, "c");  // FIFO for RPOP consumers
  EXPECT_EQ(store.push(q.id, {"f"}), 0);
  auto s = store.stats(q.id);
  EXPECT_EQ(s.pushed, 6);
  EXPECT_EQ(s.dropped, 2);
  EXPECT_EQ(s.consumed, 1);
  EXPECT_EQ(s.length, 3);
  EXPECT_GT(s.last_consumer_activity, 0);
  analyzer.command_ok({"RPOP", q.list_key()});
  analyzer.command_ok({"RPOP", q.list_key()});
  s = store.stats(q.id);
  EXPECT_EQ(s.consumed, 3);
  EXPECT_EQ(s.length, 1);
  store.set_max_size(q.id, std::nullopt);
  EXPECT_EQ(store.effective_max_size(store.require(q.id)), 1000);
  EXPECT_EQ(store.empty(q.id), 1);
  EXPECT_EQ(store.stats(q.id).dropped, 3);
}

TEST_F(QueueStoreTest, RemoveDeletesTheRealListAndEveryIndex) {
  QueueSpec spec;
  spec.target = QueueTarget::extended("ja3-jl");
  spec.sensors = {"0a0b0c0d0e0f40008000000000000001"};
  auto q = store.create(spec);
  store.push(q.id, {"x"});
  store.remove(q.id);
  EXPECT_FALSE(store.get(q.id));
  EXPECT_EQ(analyzer.command({"EXISTS", q.list_key()}).integer, 0);
  EXPECT_EQ(meta.command({"EXISTS", "analyzer:" + q.id}).integer, 0);
  EXPECT_EQ(meta.command({"EXISTS", "sensor:queues:ja3-jl:0a0b0c0d0e0f40008000000000000001"}).integer, 0);
  EXPECT_EQ(meta.command({"SCARD", "all_analyzer_queues"}).integer, 0);
}

}  // namespace
}  // namespace d4::queues
