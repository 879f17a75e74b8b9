// Analyzer queues created by the reference server (d4-core, server/lib/Analyzer_Queue.py) keep
// working after a migration: the layout is written with redis-cli, command for command as the
// reference's create_queues() and edit_queue_sensors_set() issue them, then the real d4-worker
// feeds them. The reference indexed numeric group queues under sensor:queues:list:<sensor> and
// its edit path put added sensors (as typed, dashes included) under sensor:queues:254:<sensor>,
// so neither implementation fed them before the router read the group sets themselves.
#include <gtest/gtest.h>

#include <fstream>

#include "core/keys.hpp"
#include "queues/queue_store.hpp"
#include "support/text.hpp"
#include "workers/worker_fixture.hpp"

namespace d4::test {
namespace {
namespace fs = std::filesystem;

// Sensors: S1 is in both groups, S2 joins the extended-type group through the reference's edit
// path (dashed, as typed in its form), S3 is in no group.
const std::string kS1 = "11111111222243338444555555555501";
const std::string kS2Dashed = "11111111-2222-4333-8444-555555555502";
const std::string kS2 = "11111111222243338444555555555502";
const std::string kS3 = "11111111222243338444555555555503";
// Queue ids as the reference stores them (the UI's uuid4, with dashes).
const std::string kGroup3 = "6c7e2a2e-52a1-4a43-9d5b-0c2f8f1b7a01";
const std::string kAll3 = "6c7e2a2e-52a1-4a43-9d5b-0c2f8f1b7a02";
const std::string kGroupExt = "6c7e2a2e-52a1-4a43-9d5b-0c2f8f1b7a03";

// create_queues(3, queue_uuid=kAll3): an every-sensor queue of type 3.
// create_queues(3, queue_uuid=kGroup3, l_uuid=[S1], description=...): queue_type keeps its
// default 'list' for numeric types, hence sensor:queues:list:<S1>.
// create_queues(254, queue_uuid=kGroupExt, l_uuid=[S1], metatype_name='d4-telemetry'), then
// edit_queue_sensors_set(kGroupExt, {S1, S2 dashed}): the edit path uses the numeric type (254)
// and the sensor id as given.
std::string reference_layout() {
  return "SADD server:accepted_type 3 254\n"
         "SADD server:accepted_extended_type d4-telemetry\n"
         // kAll3
         "HSET analyzer:" +
         kAll3 +
         " type 3\n"
         "SADD all:analyzer:format_type 3\n"
         "SADD all:analyzer:by:format_type:3 " +
         kAll3 +
         "\n"
         "SADD analyzer:3 " +
         kAll3 +
         "\n"
         "SADD all_analyzer_queues " +
         kAll3 +
         "\n"
         // kGroup3
         "HSET analyzer:" +
         kGroup3 +
         " type 3\n"
         "HSET analyzer:" +
         kGroup3 +
         " description \"sensor one only\"\n"
         "SADD all:analyzer:format_type 3\n"
         "SADD all:analyzer:by:format_type:3 " +
         kGroup3 +
         "\n"
         "SADD analyzer_uuid_group:3 " +
         kGroup3 +
         "\n"
         "SADD analyzer_sensor_group:" +
         kGroup3 + " " + kS1 +
         "\n"
         "SADD sensor:queues:list:" +
         kS1 + " " + kGroup3 +
         "\n"
         "SADD all_analyzer_queues " +
         kGroup3 +
         "\n"
         // kGroupExt, created
         "HSET analyzer:" +
         kGroupExt +
         " type 254\n"
         "SADD all:analyzer:format_type 254\n"
         "SADD all:analyzer:by:format_type:254 " +
         kGroupExt +
         "\n"
         "SADD analyzer_uuid_group:254:d4-telemetry " +
         kGroupExt +
         "\n"
         "HSET analyzer:" +
         kGroupExt +
         " metatype d4-telemetry\n"
         "SADD all:analyzer:by:extended_type:d4-telemetry " +
         kGroupExt +
         "\n"
         "SADD all:analyzer:extended_type d4-telemetry\n"
         "SADD analyzer_sensor_group:" +
         kGroupExt + " " + kS1 +
         "\n"
         "SADD sensor:queues:d4-telemetry:" +
         kS1 + " " + kGroupExt +
         "\n"
         "SADD all_analyzer_queues " +
         kGroupExt +
         "\n"
         // kGroupExt, edited
         "SADD analyzer_sensor_group:" +
         kGroupExt + " " + kS2Dashed +
         "\n"
         "SADD sensor:queues:254:" +
         kS2Dashed + " " + kGroupExt + "\n";
}

class ReferenceQueues : public WorkerTest {
 protected:
  void SetUp() override {
    auto commands = dir / "reference-layout.redis";
    write_text(commands, reference_layout());
    Process::Options o;
    o.stdin_file = commands;
    o.stdout_file = dir / "redis-cli.out";
    Process cli({"redis-cli", "-p", std::to_string(meta_redis.port()), "-n", "0"}, o);
    ASSERT_EQ(cli.wait(std::chrono::seconds(20)), 0);
    ASSERT_EQ(read_text(dir / "redis-cli.out").find("ERR"), std::string::npos)
        << read_text(dir / "redis-cli.out");
  }

  // One ended session of `sensor` with the given lines: of a numeric type, or of an extended
  // type (a type-2 meta header, then type-254 data).
  void session(int type, const std::string& id, const std::string& sensor, const std::string& lines,
               const std::string& ext = {}) {
    if (!ext.empty()) {
      add_packets(2, id, {R"({"type":")" + ext + R"("})"}, sensor);
      type = 254;
    }
    add_packets(type, id, chunk(lines, 7), sensor);
    end_session(id);
  }
};

TEST_F(ReferenceQueues, NumericGroupQueueReceivesItsSensorsLinesOnly) {
  session(3, "aaaaaaaa-0000-4000-8000-000000000001", kS1, "one-a\none-b\n");
  session(3, "aaaaaaaa-0000-4000-8000-000000000002", kS3, "three-a\n");
  auto w = start_worker("", {"--types", "3"});
  ASSERT_TRUE(wait_cleaned(3, "aaaaaaaa-0000-4000-8000-000000000001"));
  ASSERT_TRUE(wait_cleaned(3, "aaaaaaaa-0000-4000-8000-000000000002"));
  EXPECT_EQ(queue_items("3", kGroup3), (std::vector<std::string>{"one-a", "one-b"}));
  auto all = queue_items("3", kAll3);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"one-a", "one-b", "three-a"}));
  // The reference's bookkeeping field, read by its web UI, is kept up to date.
  EXPECT_FALSE(meta.command({"HGET", "analyzer:" + kGroup3, "last_updated"}).is_nil());
  w.stop();
}

TEST_F(ReferenceQueues, ExtendedTypeGroupQueueReceivesSensorsAddedByTheReferenceEditPath) {
  session(2, "bbbbbbbb-0000-4000-8000-000000000001", kS1, "s1\n", "d4-telemetry");
  session(2, "bbbbbbbb-0000-4000-8000-000000000002", kS2, "s2\n", "d4-telemetry");
  session(2, "bbbbbbbb-0000-4000-8000-000000000003", kS3, "s3\n", "d4-telemetry");
  auto w = start_worker("", {"--types", "2"});
  for (const char* s : {"bbbbbbbb-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002",
                        "bbbbbbbb-0000-4000-8000-000000000003"})
    ASSERT_TRUE(wait_cleaned(2, s)) << s;
  auto items = queue_items("d4-telemetry", kGroupExt);
  std::sort(items.begin(), items.end());
  EXPECT_EQ(items, (std::vector<std::string>{"s1", "s2"}));
  w.stop();
}

// d4-queue and the web UI (QueueStore) see the reference's group queue as such, and deleting it
// clears the reference's misindexed entries too.
TEST_F(ReferenceQueues, StoreReadsAndRemovesReferenceGroupQueues) {
  queues::QueueStore store(meta, analyzer, 100'000'000);
  auto q = store.require(kGroup3);
  EXPECT_TRUE(q.group);
  EXPECT_EQ(q.sensors, (std::vector<std::string>{kS1}));
  EXPECT_EQ(q.description, "sensor one only");
  EXPECT_EQ(q.list_key(), "analyzer:3:" + kGroup3);
  auto e = store.require(kGroupExt);
  EXPECT_TRUE(e.group);
  EXPECT_EQ(e.target, queues::QueueTarget::extended("d4-telemetry"));
  store.remove(kGroup3);
  EXPECT_EQ(meta.command({"EXISTS", "sensor:queues:list:" + kS1}).integer, 0);
  EXPECT_EQ(meta.command({"SISMEMBER", "analyzer_uuid_group:3", kGroup3}).integer, 0);
  EXPECT_EQ(meta.command({"EXISTS", "analyzer_sensor_group:" + kGroup3}).integer, 0);
}

}  // namespace
}  // namespace d4::test
