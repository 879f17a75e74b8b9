// A session's stream batch executed by a real redis-server: with entry coalescing, consecutive
// packets of a byte-stream type share one entry (payloads concatenated, the first packet's header
// fields), so a known input costs an exact number of XADDs (INFO commandstats); the meta header
// and extended types keep one entry per packet; off, one entry per packet as the reference.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "core/redis_cluster.hpp"
#include "server/scripts.hpp"
#include "server/stream_batch.hpp"
#include "support/redis_server.hpp"

using namespace d4;
using d4::server::StreamBatch;

namespace {

constexpr std::string_view kStreamBatchUuid = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";

// The commands of a RESP request made of several arrays ("*N\r\n$len\r\n...\r\n..." ...).
std::vector<std::vector<std::string>> commands_of_request(const std::string& resp) {
  std::vector<std::vector<std::string>> out;
  std::size_t pos = 0;
  while (pos < resp.size()) {
    std::size_t eol = resp.find("\r\n", pos);
    std::size_t n = std::stoul(resp.substr(pos + 1, eol - pos - 1));
    pos = eol + 2;
    std::vector<std::string> args;
    for (std::size_t i = 0; i < n; ++i) {
      eol = resp.find("\r\n", pos);
      std::size_t len = std::stoul(resp.substr(pos + 1, eol - pos - 1));
      args.push_back(resp.substr(eol + 2, len));
      pos = eol + 2 + len + 2;
    }
    out.push_back(std::move(args));
  }
  return out;
}

struct BatchRun {
  std::vector<std::string> payloads;  // sent, in order
  std::uint64_t entries = 0;          // counted by the batch
};

class StreamBatchRedis : public ::testing::Test {
 protected:
  core::RedisClient client() { return core::RedisClient(*core::RedisEndpoint::parse(redis.endpoint(0))); }

  // Stores `count` packets of `type` with `size`-byte payloads (timestamps 1000, 1001...) as one
  // sealed batch and executes it; returns what was sent.
  BatchRun store(const std::string& key, std::uint8_t type, int count, std::size_t size,
                 std::uint64_t coalesce_max) {
    server::StreamIds ids;
    StreamBatch batch;
    BatchRun run;
    std::vector<std::uint8_t> buf;
    for (int i = 0; i < count; ++i) {
      std::string payload(size, static_cast<char>('a' + i % 26));
      payload[0] = static_cast<char>('0' + i % 10);
      run.payloads.push_back(payload);
      protocol::Packet p;
      p.header.type = type;
      p.header.timestamp = 1000 + static_cast<std::uint64_t>(i);
      p.header.size = static_cast<std::uint32_t>(size);
      p.payload = std::span(reinterpret_cast<const std::uint8_t*>(run.payloads.back().data()), size);
      batch.add({key, kStreamBatchUuid, ids, coalesce_max}, p,
                1'700'000'000'000ULL + static_cast<std::uint64_t>(i), StreamBatch::Clock::now());
    }
    batch.seal({"session-1", kStreamBatchUuid, key, std::to_string(type), "instance-1", "live"});
    run.entries = batch.entries;
    EXPECT_EQ(batch.packets, static_cast<std::uint64_t>(count));
    EXPECT_EQ(batch.bytes, static_cast<std::uint64_t>(count) * size);
    auto c = client();
    auto replies = c.pipeline(commands_of_request(batch.resp));
    auto outcome = server::batch_outcome(replies, batch.commands, batch.entries);
    EXPECT_TRUE(outcome.stored) << outcome.failure;
    EXPECT_EQ(outcome.duplicates, 0u);
    EXPECT_EQ(outcome.xlen->as_integer().value_or(-1), static_cast<long long>(batch.entries));
    return run;
  }
  long long xadd_calls() {
    auto info = client().command({"INFO", "commandstats"}).str;
    auto at = info.find("cmdstat_xadd:calls=");
    if (at == std::string::npos) return 0;
    return std::stoll(info.substr(at + 19));
  }
  // The entries of a stream: message and timestamp fields.
  std::vector<std::pair<std::string, std::string>> entries_of(const std::string& key) {
    std::vector<std::pair<std::string, std::string>> out;
    auto r = client().command({"XRANGE", key, "-", "+"});
    for (const auto& e : r.elements) {
      std::pair<std::string, std::string> m;
      const auto& kv = e.elements[1].elements;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
        if (kv[i].str == "message") m.first = kv[i + 1].str;
        if (kv[i].str == "timestamp") m.second = kv[i + 1].str;
        if (kv[i].str == "uuid") {
          EXPECT_EQ(kv[i + 1].str, kStreamBatchUuid);
        }
      }
      out.push_back(m);
    }
    return out;
  }

  test::RedisServer redis;
};

std::string concatenated(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += p;
  return s;
}

TEST_F(StreamBatchRedis, CoalescingCutsXaddsByTheByteBoundAndKeepsTheBytes) {
  // 1 MiB of 4,000-byte packets: 262 packets; 64 KiB entries hold 16 packets (64,000 bytes).
  const int count = 262;
  long long before = xadd_calls();
  auto off = store("stream:8:off", 8, count, 4000, 0);
  long long off_calls = xadd_calls() - before;
  auto on = store("stream:8:on", 8, count, 4000, 64 * 1024);
  long long on_calls = xadd_calls() - before - off_calls;
  EXPECT_EQ(off_calls, count);
  EXPECT_EQ(off.entries, static_cast<std::uint64_t>(count));
  EXPECT_EQ(on_calls, (count + 15) / 16);  // 17: 16 full entries and one of 6 packets
  EXPECT_EQ(on.entries, 17u);

  // Readers concatenating `message` fields rebuild the same bytes either way.
  auto off_entries = entries_of("stream:8:off");
  auto on_entries = entries_of("stream:8:on");
  std::string off_bytes, on_bytes;
  for (const auto& e : off_entries) off_bytes += e.first;
  for (const auto& e : on_entries) on_bytes += e.first;
  EXPECT_EQ(off_bytes, concatenated(off.payloads));
  EXPECT_EQ(on_bytes, off_bytes);
  // Each coalesced entry keeps its first packet's timestamp; none exceeds the bound.
  ASSERT_EQ(on_entries.size(), 17u);
  for (std::size_t i = 0; i < on_entries.size(); ++i) {
    EXPECT_EQ(on_entries[i].second, std::to_string(1000 + 16 * i));
    EXPECT_LE(on_entries[i].first.size(), 64u * 1024);
  }
  EXPECT_EQ(on_entries.back().first.size(), 6u * 4000);
}

TEST_F(StreamBatchRedis, PcapCoalescesAndAPacketOverTheBoundStaysAlone) {
  long long before = xadd_calls();
  // 10 packets of 30,000 bytes under a 64 KiB bound: 2 per entry.
  auto small = store("stream:1:a", 1, 10, 30'000, 64 * 1024);
  EXPECT_EQ(small.entries, 5u);
  // Packets of 70,000 bytes exceed the bound: one entry each.
  auto large = store("stream:1:b", 1, 3, 70'000, 64 * 1024);
  EXPECT_EQ(large.entries, 3u);
  EXPECT_EQ(xadd_calls() - before, 8);
  std::string rebuilt;
  for (const auto& e : entries_of("stream:1:a")) rebuilt += e.first;
  EXPECT_EQ(rebuilt, concatenated(small.payloads));
}

TEST_F(StreamBatchRedis, MetaHeaderAndExtendedTypesAreNeverCoalesced) {
  long long before = xadd_calls();
  auto meta = store("stream:2:s", 2, 5, 100, 64 * 1024);
  auto ext = store("stream:254:s", 254, 7, 100, 64 * 1024);
  EXPECT_EQ(meta.entries, 5u);
  EXPECT_EQ(ext.entries, 7u);
  EXPECT_EQ(xadd_calls() - before, 12);
  auto entries = entries_of("stream:254:s");
  ASSERT_EQ(entries.size(), 7u);
  for (std::size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(entries[i].first, ext.payloads[i]);
  EXPECT_FALSE(server::coalescable_type(2));
  EXPECT_FALSE(server::coalescable_type(254));
  for (int t : {1, 3, 4, 6, 8}) EXPECT_TRUE(server::coalescable_type(static_cast<std::uint8_t>(t))) << t;
}

TEST_F(StreamBatchRedis, ABatchReSentAfterItWasStoredCountsAllItsEntriesAsDuplicates) {
  server::StreamIds ids;
  StreamBatch batch;
  std::string payload(1000, 'x');
  protocol::Packet p;
  p.header.type = 3;
  p.payload = std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
  for (int i = 0; i < 40; ++i)
    batch.add({"stream:3:dup", kStreamBatchUuid, ids, 16 * 1024}, p, 1'700'000'000'000ULL,
              StreamBatch::Clock::now());
  batch.seal({"session-1", kStreamBatchUuid, "stream:3:dup", "3", "instance-1", "live"});
  EXPECT_EQ(batch.entries, 3u);  // 16 + 16 + 8 packets
  auto commands = commands_of_request(batch.resp);
  auto c = client();
  auto first = server::batch_outcome(c.pipeline(commands), batch.commands, batch.entries);
  ASSERT_TRUE(first.stored);
  auto again = server::batch_outcome(c.pipeline(commands), batch.commands, batch.entries);
  EXPECT_TRUE(again.stored);
  EXPECT_EQ(again.duplicates, 3u);
  EXPECT_EQ(c.command({"XLEN", "stream:3:dup"}).integer, 3);
}

// wait_replicas: one WAIT after EXEC (not inside the transaction, where it would not wait), its
// answer in the outcome; without it, no WAIT at all.
TEST_F(StreamBatchRedis, AReplicaWaitFollowsTheTransactionAndItsAnswerIsInTheOutcome) {
  struct Sent {
    std::vector<std::vector<std::string>> commands;
    core::RedisReplies replies;  // the outcome points into them
    server::BatchOutcome outcome;
  };
  auto run = [&](const std::string& key, const server::ReplicaWait& wait) {
    server::StreamIds ids;
    StreamBatch batch;
    std::string payload(100, 'w');
    protocol::Packet p;
    p.header.type = 1;
    p.payload = std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
    batch.add({key, kStreamBatchUuid, ids, 0}, p, 1'700'000'000'000ULL, StreamBatch::Clock::now());
    batch.seal({"session-1", kStreamBatchUuid, key, "1", "instance-1", "live"}, wait);
    auto sent = std::make_unique<Sent>();
    sent->commands = commands_of_request(batch.resp);
    EXPECT_EQ(sent->commands.size(), batch.commands);
    auto c = client();
    sent->replies = c.pipeline(sent->commands);
    sent->outcome =
        server::batch_outcome(sent->replies, batch.commands, batch.entries, batch.waits_for_replicas);
    return sent;
  };
  auto plain = run("stream:1:no-wait", {});
  EXPECT_EQ(plain->commands.back().front(), "EXEC");
  EXPECT_TRUE(plain->outcome.stored);
  EXPECT_FALSE(plain->outcome.replicas);
  // This Redis has no replica: WAIT answers 0 once its 50 ms are over; the batch itself is stored.
  auto waited = run("stream:1:wait", {1, std::chrono::milliseconds(50)});
  const auto& commands = waited->commands;
  ASSERT_GE(commands.size(), 2u);
  EXPECT_EQ(commands[commands.size() - 2].front(), "EXEC");
  EXPECT_EQ(commands.back(), (std::vector<std::string>{"WAIT", "1", "50"}));
  const auto& outcome = waited->outcome;
  EXPECT_TRUE(outcome.stored) << outcome.failure;
  ASSERT_TRUE(outcome.replicas);
  EXPECT_EQ(*outcome.replicas, 0);
  ASSERT_NE(outcome.xlen, nullptr);
  EXPECT_EQ(outcome.xlen->integer, 1);
}

}  // namespace

// Cluster layout: the batch's transaction touches its session's slot only (the stream and the
// outbox); its outbox item, relayed to the live slot, counts once however often it is relayed
// (a relay re-sent after a reconnect or a failover, or sent again by the reaper of a dead
// instance), and a stale relay (an older batch number) changes nothing.
TEST_F(StreamBatchRedis, ClusterLayoutBatchesStayInTheSessionSlotAndTheirRelayCountsOnce) {
  constexpr auto kCluster = core::keys::KeyLayout::Cluster;
  const std::string session = "5e2f4c1e-3b7a-4c55-9d0e-1a2b3c4d5e6f";
  const std::string key = core::keys::stream(kCluster, "1", session);
  auto c = client();
  auto store_batch = [&](std::uint64_t number, server::StreamIds& ids, std::uint64_t first_ms) {
    StreamBatch batch;
    std::string payload(100, static_cast<char>('a' + number));
    protocol::Packet p;
    p.header.type = 1;
    p.payload = std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
    for (int i = 0; i < 3; ++i)
      batch.add({key, kStreamBatchUuid, ids, 0}, p, first_ms + static_cast<std::uint64_t>(i),
                StreamBatch::Clock::now());
    batch.seal({session, kStreamBatchUuid, key, "1", "instance-1", "live", kCluster, number});
    auto commands = commands_of_request(batch.resp);
    const int slot = core::cluster_key_slot(key);
    for (const auto& cmd : commands) {
      std::vector<std::string_view> args(cmd.begin(), cmd.end());
      for (auto k : core::cluster_command_keys(args))
        EXPECT_EQ(core::cluster_key_slot(k), slot) << cmd.front() << " " << k;
    }
    auto replies = c.pipeline(commands);
    auto outcome = server::batch_outcome(replies, batch.commands, batch.entries, false, batch.outbox);
    EXPECT_TRUE(outcome.stored) << outcome.failure;
    EXPECT_EQ(outcome.session_bytes, nullptr) << "counted by the relay, not in the session's slot";
    return std::make_pair(commands, batch.bytes);
  };
  server::StreamIds ids;
  auto [first, first_bytes] = store_batch(1, ids, 1'700'000'000'000ULL);
  auto [second, second_bytes] = store_batch(2, ids, 1'700'000'001'000ULL);
  // Re-sent after a reconnect: every XADD a duplicate, the outbox item the same.
  auto again = c.pipeline(first);
  EXPECT_EQ(server::batch_outcome(again, static_cast<std::uint32_t>(first.size()), 3, false, true).duplicates,
            3u);
  EXPECT_EQ(c.command({"XLEN", key}).integer, 6);

  auto outbox = c.command({"HGETALL", core::keys::session_outbox(session)}).as_strings();
  ASSERT_EQ(outbox.size(), 4u);
  auto item = server::parse_outbox_item(c.command({"HGET", core::keys::session_outbox(session), "1"}).str);
  ASSERT_TRUE(item);
  EXPECT_EQ(item->bytes, first_bytes);
  EXPECT_EQ(item->uuid, kStreamBatchUuid);
  EXPECT_EQ(item->worker_type, "1");
  EXPECT_FALSE(server::parse_outbox_item("12 only-two"));
  EXPECT_FALSE(server::parse_outbox_item("x uuid 1"));

  auto relay = [&](std::uint64_t number, std::uint64_t bytes) {
    auto keys = server::scripts::key_sets::relay(kCluster, kStreamBatchUuid, "1", "instance-1");
    const int slot = core::cluster_key_slot(keys.front());
    for (const auto& k : keys) EXPECT_EQ(core::cluster_key_slot(k), slot) << k;
    std::vector<std::string> cmd = {"EVAL", std::string(server::scripts::kRelayScript),
                                    std::to_string(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    for (auto a : {session, std::to_string(number), std::to_string(bytes), std::string(kStreamBatchUuid),
                   std::string("live value")})
      cmd.push_back(a);
    return c.command(cmd);
  };
  auto applied = relay(1, first_bytes);
  ASSERT_EQ(applied.elements.size(), 3u) << applied.describe();
  EXPECT_EQ(applied.elements[0].integer, 1);
  EXPECT_EQ(relay(1, first_bytes).elements[0].integer, 0) << "sent twice: applied once";
  EXPECT_EQ(relay(2, second_bytes).elements[0].integer, 1);
  EXPECT_EQ(relay(1, first_bytes).elements[0].integer, 0) << "stale: an older batch number";
  auto live = [](std::string_view name) { return core::keys::live(kCluster, name); };
  const auto total = static_cast<long long>(first_bytes + second_bytes);
  EXPECT_EQ(c.command({"HGET", live(core::keys::kBacklogBytesBySession), session}).as_integer(), total);
  EXPECT_EQ(c.command({"HGET", live(core::keys::kBacklogBytesBySensor), std::string(kStreamBatchUuid)})
                .as_integer(),
            total);
  EXPECT_EQ(c.command({"SISMEMBER", live(core::keys::sessions_of_type("1")), session}).integer, 1);
  EXPECT_EQ(c.command({"HGET", live(core::keys::server_instance_sessions("instance-1")), session}).str,
            "live value");
}
