// Analyzer queues in the cluster key layout on a real 3-master Redis Cluster
// (support/redis_cluster.hpp): create, edit and delete without a transaction across slots, the
// queue's statistics in its list's slot, and the outbox relay that pushes a worker's committed
// items to each queue exactly once, including after a relay interrupted before or after its pushes.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/keys.hpp"
#include "core/redis_cluster.hpp"
#include "queues/queue_outbox.hpp"
#include "queues/queue_store.hpp"
#include "support/redis_cluster.hpp"

namespace d4::queues {
namespace {
namespace keys = core::keys;
using Commands = std::vector<std::vector<std::string>>;

core::RedisEndpoint cluster_endpoint(test::RedisCluster& cluster) {
  std::string error;
  auto e = core::RedisEndpoint::parse("redis-cluster://" + cluster.seeds(), &error);
  if (!e) throw std::runtime_error(error);
  return *e;
}

// Every key of the cluster: SCAN on each master.
std::set<std::string> all_keys(test::RedisCluster& cluster) {
  std::set<std::string> out;
  for (std::size_t n = 0; n < cluster.size(); ++n) {
    core::RedisClient node(core::RedisEndpoint{"127.0.0.1", cluster.node(n).port(), {}, 0, {}});
    std::string cursor = "0";
    do {
      auto r = node.command({"SCAN", cursor, "COUNT", "1000"});
      cursor = r.elements.at(0).str;
      for (auto& k : r.elements.at(1).as_strings()) out.insert(std::move(k));
    } while (cursor != "0");
  }
  return out;
}

class QueueClusterTest : public ::testing::Test {
 protected:
  QueueClusterTest()
      : meta(cluster_endpoint(cluster)),
        analyzer(cluster_endpoint(cluster)),
        store(meta, analyzer, 1000, core::keys::KeyLayout::Cluster) {
    meta.command_ok({"SADD", keys::kAcceptedTypes, "1", "3", "8", "254"});
    meta.command_ok({"SADD", keys::kAcceptedExtendedTypes, "ja3-jl"});
  }
  std::vector<std::string> items_of(const QueueInfo& q) {  // oldest first, as RPOP sees them
    auto v = analyzer.command({"LRANGE", q.list_key(), "0", "-1"}).as_strings();
    std::reverse(v.begin(), v.end());
    return v;
  }
  // What stays after every queue was removed: the accepted types and the reference web UI's
  // indexes of the types that ever had a queue (never removed, as the reference does).
  static std::set<std::string> kept_keys() {
    return {std::string(keys::kAcceptedTypes), std::string(keys::kAcceptedExtendedTypes),
            "all:analyzer:format_type", "all:analyzer:extended_type"};
  }
  test::RedisCluster cluster;
  core::RedisClient meta, analyzer;
  QueueStore store;
};

const std::string kSensorA = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";
const std::string kSensorB = "0123456789abcdef0123456789abcdef";

TEST_F(QueueClusterTest, CreateEditDeleteAcrossSlotsWithoutTransactions) {
  QueueSpec spec;
  spec.target = QueueTarget::parse("8");
  spec.max_size = 3;
  auto q = store.create(spec);
  // The statistics hash is tagged by the list's own name: the same slot, so the scripts run.
  const std::string stats = store.stats_key(q);
  EXPECT_EQ(stats, "d4:queue_stats:{" + q.list_key() + "}");
  EXPECT_EQ(core::cluster_key_slot(stats), core::cluster_key_slot(q.list_key()));
  // The queue's keys lie in several slots (what a MULTI could not cover).
  std::set<int> slots{core::cluster_key_slot(keys::analyzer_queue_meta(q.id)),
                      core::cluster_key_slot(keys::kAllAnalyzerQueues), core::cluster_key_slot("analyzer:8")};
  EXPECT_GT(slots.size(), 1u);

  EXPECT_EQ(store.push(q.id, {"a", "b", "c", "d"}), 1);  // trimmed to 3, counted
  EXPECT_EQ(items_of(q), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(analyzer.command({"RPOP", q.list_key()}).str, "b");
  auto st = store.stats(q.id);
  EXPECT_EQ(st.pushed, 4);
  EXPECT_EQ(st.dropped, 1);
  EXPECT_EQ(st.consumed, 1);
  EXPECT_EQ(st.length, 2);

  QueueRouter router(meta, 1000, std::chrono::milliseconds(0), core::keys::KeyLayout::Cluster);
  auto ids = [&](const std::string& sensor) {
    std::vector<std::string> out;
    for (const auto& d : router.destinations(QueueTarget::numeric(8), sensor)) {
      EXPECT_EQ(d.stats_key, "d4:queue_stats:{" + d.list_key + "}");
      out.push_back(d.id);
    }
    return out;
  };
  EXPECT_EQ(ids(kSensorA), std::vector<std::string>{q.id});
  EXPECT_EQ(ids(kSensorB), std::vector<std::string>{q.id});

  // Edits: the queue becomes a group queue of sensor A, then loses it.
  store.add_sensors(q.id, {kSensorA});
  auto edited = store.require(q.id);
  EXPECT_TRUE(edited.group);
  EXPECT_EQ(edited.sensors, std::vector<std::string>{kSensorA});
  EXPECT_EQ(ids(kSensorA), std::vector<std::string>{q.id});
  EXPECT_TRUE(ids(kSensorB).empty());
  store.set_description(q.id, "edited");
  store.set_max_size(q.id, 10);
  EXPECT_EQ(store.require(q.id).description, "edited");
  EXPECT_EQ(store.require(q.id).max_size, 10);
  store.remove_sensors(q.id, {kSensorA});
  EXPECT_TRUE(store.require(q.id).sensors.empty());
  EXPECT_TRUE(ids(kSensorA).empty());
  EXPECT_EQ(store.empty(q.id), 2);

  QueueSpec ext;
  ext.target = QueueTarget::parse("ja3-jl");
  ext.sensors = {kSensorB};
  auto g = store.create(ext);
  ASSERT_EQ(store.list().size(), 2u);
  store.push(g.id, {"x"});

  store.remove(q.id);
  store.remove(g.id);
  EXPECT_FALSE(store.get(q.id));
  EXPECT_TRUE(store.list().empty());
  EXPECT_TRUE(ids(kSensorA).empty());
  // Nothing of either queue is left on any master.
  EXPECT_EQ(all_keys(cluster), kept_keys());
}

TEST_F(QueueClusterTest, AnInterruptedRemovalIsCompletedByRepeatingIt) {
  QueueSpec spec;
  spec.target = QueueTarget::parse("8");
  spec.sensors = {kSensorA};
  auto q = store.create(spec);
  store.push(q.id, {"a"});
  // The first step of a removal (producers no longer find the queue), as a process killed right
  // after it leaves it.
  meta.pipeline({{"SREM", keys::sensor_group_queues("8", kSensorA), q.id},
                 {"SREM", keys::analyzer_group_queues("8"), q.id}});
  QueueRouter router(meta, 1000, std::chrono::milliseconds(0), core::keys::KeyLayout::Cluster);
  EXPECT_TRUE(router.destinations(QueueTarget::numeric(8), kSensorA).empty());
  auto listed = store.require(q.id);  // still listed, with its type: the removal can be repeated
  EXPECT_EQ(listed.list_key(), q.list_key());
  store.remove(q.id);
  EXPECT_FALSE(store.get(q.id));
  auto kept = kept_keys();
  kept.erase("all:analyzer:extended_type");  // no queue of an extended type here
  EXPECT_EQ(all_keys(cluster), kept);
}

TEST(QueueOutboxEntry, EncodesBinaryItemsAndRefusesWhatIsNotAnEntry) {
  OutboxEntry e;
  e.seq = 42;
  e.destination = {"id", "analyzer:8:q", "d4:queue_stats:{analyzer:8:q}", 7};
  e.now = 1700000000.25;
  e.items = {"line\nwith newline", std::string("\0bin\r\n", 6), "12\n34"};
  std::string text = encode_outbox_entry(e);
  OutboxEntry back;
  ASSERT_TRUE(decode_outbox_entry(text, back));
  EXPECT_EQ(back.seq, 42u);
  EXPECT_EQ(back.destination.list_key, e.destination.list_key);
  EXPECT_EQ(back.destination.stats_key, e.destination.stats_key);
  EXPECT_EQ(back.destination.max_size, 7);
  EXPECT_DOUBLE_EQ(back.now, e.now);
  EXPECT_EQ(back.items, e.items);
  EXPECT_FALSE(decode_outbox_entry(text.substr(0, text.size() - 1), back));  // truncated
  EXPECT_FALSE(decode_outbox_entry(text + "x", back));                       // trailing bytes
  EXPECT_FALSE(decode_outbox_entry("garbage", back));
}

// A worker's two steps, as runner.cpp does them: the commit (one transaction in the session's
// slot: the outbox entries and the progress) and the relay.
class OutboxTest : public QueueClusterTest {
 protected:
  // Three queues: one on each master, so that the relay crosses nodes as well as slots.
  OutboxTest() {
    std::set<int> owners;
    for (int n = 1; queues.size() < 3 && n < 1000; ++n) {
      QueueSpec spec;
      spec.target = QueueTarget::parse("8");
      spec.id = fmt::format("00000000-0000-4000-8000-{:012}", n);
      int owner = cluster.owner_of(core::cluster_key_slot(keys::analyzer_list("8", spec.id)));
      if (!owners.insert(owner).second) continue;
      queues.push_back(store.create(spec));
    }
  }
  // Commits `items` for every queue; returns the items committed.
  void commit(const std::vector<std::string>& items) {
    Commands cmds{{"MULTI"}};
    for (const auto& q : queues) {
      QueueDestination d{q.id, q.list_key(), store.stats_key(q), 0};
      append_outbox_commands(cmds, outbox, seq, d, items.begin(), items.end(), epoch_now());
    }
    cmds.push_back({"HSET", progress, "outbox_seq", std::to_string(seq)});
    cmds.push_back({"EXEC"});
    auto replies = analyzer.pipeline(cmds);
    ASSERT_EQ(replies.back().elements.size(), cmds.size() - 2) << replies.back().describe();
    for (const auto& i : items) committed.push_back(i);
  }
  std::vector<std::string> outbox_entries() {
    return analyzer.command({"LRANGE", outbox, "0", "-1"}).as_strings();
  }
  // Puts entries back at the head of the outbox: the state of a relay killed after pushing them
  // but before removing them.
  void restore_head(const std::vector<std::string>& entries) {
    Commands cmds;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) cmds.push_back({"LPUSH", outbox, *it});
    for (const auto& r : analyzer.pipeline(cmds)) ASSERT_FALSE(r.is_error()) << r.str;
  }
  void expect_every_queue_has_each_item_once_in_order() {
    for (const auto& q : queues) {
      EXPECT_EQ(items_of(q), committed) << q.list_key();
      EXPECT_EQ(store.stats(q.id).pushed, static_cast<long long>(committed.size()));
    }
  }

  std::vector<QueueInfo> queues;
  const std::string session = "c0c0c0c0-0000-4000-8000-000000000001";
  const std::string origin = "8:" + session;
  const std::string outbox = keys::worker_outbox("8", session);
  const std::string progress = keys::worker_progress("8", session, core::keys::KeyLayout::Cluster);
  std::uint64_t seq = 1;
  std::vector<std::string> committed;
};

TEST_F(OutboxTest, TheQueuesLieInOtherSlotsThanTheSessionsOutbox) {
  EXPECT_EQ(core::cluster_key_slot(outbox), core::cluster_key_slot(progress));
  EXPECT_EQ(core::cluster_key_slot(outbox),
            core::cluster_key_slot(keys::worker_lease("8", session, core::keys::KeyLayout::Cluster)));
  ASSERT_EQ(queues.size(), 3u);
  for (const auto& q : queues) {
    EXPECT_EQ(core::cluster_key_slot(queue_applied_record(q.list_key(), origin)),
              core::cluster_key_slot(q.list_key()));
    // A transaction over a queue and the progress is what the cluster cannot run.
    if (core::cluster_key_slot(q.list_key()) == core::cluster_key_slot(progress)) continue;
    Commands tx{{"MULTI"}, {"LPUSH", q.list_key(), "x"}, {"HSET", progress, "f", "v"}, {"EXEC"}};
    EXPECT_THROW(analyzer.pipeline(tx), core::RedisError);
  }
}

TEST_F(OutboxTest, KilledAfterTheCommitTheNextRelayPushesEverything) {
  commit({"a1", "a2"});
  commit({"b1"});
  // Killed here: nothing relayed. The committed progress numbers the next entries.
  EXPECT_EQ(analyzer.command({"HGET", progress, "outbox_seq"}).str, "7");  // 3 queues x 2 commits
  EXPECT_EQ(outbox_entries().size(), 6u);
  for (const auto& q : queues) EXPECT_TRUE(items_of(q).empty());
  auto r = relay_outbox(analyzer, outbox, origin);
  EXPECT_TRUE(r.empty);
  EXPECT_EQ(r.entries, 6u);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_TRUE(outbox_entries().empty());
  expect_every_queue_has_each_item_once_in_order();
}

TEST_F(OutboxTest, KilledAfterPushingBeforeRemovingTheEntriesNothingIsPushedTwice) {
  std::vector<std::string> many;
  for (int i = 0; i < 2500; ++i) many.push_back("item" + std::to_string(i));  // slices of 1000
  commit(many);
  commit({"last"});
  auto before = outbox_entries();
  ASSERT_EQ(before.size(), 12u);  // 3 queues x (3 slices + 1)
  // Part of the relay: 4 entries pushed and removed; then everything pushed but nothing removed.
  auto part = relay_outbox(analyzer, outbox, origin, 4);
  EXPECT_EQ(part.entries, 4u);
  EXPECT_FALSE(part.empty);
  auto rest = outbox_entries();
  ASSERT_EQ(rest.size(), 8u);
  auto pushed = relay_outbox(analyzer, outbox, origin);
  EXPECT_EQ(pushed.entries, 8u);
  restore_head(rest);  // the removals lost: the next owner finds the 8 entries again
  auto again = relay_outbox(analyzer, outbox, origin);
  EXPECT_EQ(again.entries, 8u);
  EXPECT_EQ(again.skipped, 8u) << "every entry was already in its queue";
  EXPECT_TRUE(again.empty);
  expect_every_queue_has_each_item_once_in_order();
  // Later commits continue after the records.
  commit({"after"});
  EXPECT_EQ(relay_outbox(analyzer, outbox, origin).skipped, 0u);
  expect_every_queue_has_each_item_once_in_order();
}

TEST_F(OutboxTest, TwoRelaysOfOneOutboxAtOnceApplyEachEntryOnce) {
  // A worker that stalled past its lease and the next owner relay the same entries.
  for (int c = 0; c < 20; ++c) {
    std::vector<std::string> items;
    for (int i = 0; i < 50; ++i) items.push_back("c" + std::to_string(c) + "-" + std::to_string(i));
    commit(items);
  }
  core::RedisClient other(cluster_endpoint(cluster));
  RelayResult theirs;
  std::thread t([&] { theirs = relay_outbox(other, outbox, origin); });
  auto mine = relay_outbox(analyzer, outbox, origin);
  t.join();
  EXPECT_TRUE(mine.empty);
  EXPECT_TRUE(theirs.empty);
  EXPECT_TRUE(outbox_entries().empty());
  expect_every_queue_has_each_item_once_in_order();
}

TEST_F(OutboxTest, AnEntryThatIsNotOneStopsTheRelayAndStays) {
  commit({"a"});
  analyzer.command_ok({"RPUSH", outbox, "not an entry"});
  commit({"b"});
  EXPECT_THROW(relay_outbox(analyzer, outbox, origin), QueueError);  // after the entries before it
  auto left = outbox_entries();
  ASSERT_EQ(left.size(), 4u) << "the bad entry and the 3 after it stay";
  EXPECT_EQ(left.front(), "not an entry");
  for (const auto& q : queues) EXPECT_EQ(items_of(q), std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace d4::queues
