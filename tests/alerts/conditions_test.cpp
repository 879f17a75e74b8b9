// Each alert condition, observed on real state (a real redis-server written by the real d4-server,
// d4-worker and analyzer, or by the queue library they use), fires once and resolves once through
// the real d4-alerts daemon, seen by a real webhook receiver.
#include <gtest/gtest.h>
#include <signal.h>

#include "alerts/alerts_harness.hpp"
#include "core/keys.hpp"
#include "core/sensors.hpp"
#include "protocol/clock.hpp"
#include "queues/queue_store.hpp"
#include "server/harness.hpp"
#include "support/json_logs.hpp"

using namespace d4;
using namespace d4::test;

namespace {

std::vector<std::string> events_of(const WebhookReceiver& hook, const std::string& instance) {
  std::vector<std::string> out;
  for (const auto& b : hook.received())
    if (b.value("instance", "") == instance) out.push_back(b.value("event", ""));
  return out;
}

// The instance's notifications reach `n` and stay there for five more evaluations.
void expect_events(AlertsHarness& h, const std::string& instance, const std::vector<std::string>& want) {
  ASSERT_TRUE(eventually([&] { return events_of(h.hook(), instance).size() >= want.size(); }, 30s))
      << "got " << h.hook().received().size() << " notification(s)\n"
      << h.daemon_log();
  ASSERT_TRUE(h.wait_evaluations(5));
  EXPECT_EQ(events_of(h.hook(), instance), want) << h.daemon_log();
}

queues::QueueInfo make_queue(AlertsHarness& h, int type, long long max_size) {
  queues::QueueStore store(h.meta(), h.analyzer(), 1000);
  queues::QueueSpec spec;
  spec.target = queues::QueueTarget::numeric(type);
  spec.max_size = max_size;
  spec.require_accepted_type = false;
  return store.create(spec);
}

void push(AlertsHarness& h, const queues::QueueInfo& q, int n) {
  queues::QueueStore store(h.meta(), h.analyzer(), 1000);
  std::vector<std::string> items;
  for (int i = 0; i < n; ++i) items.push_back("item-" + std::to_string(i));
  store.push(q.id, items);
}

Process start_worker(AlertsHarness& h, const std::string& name) {
  Process::Options po;
  po.stderr_file = h.dir() / ("worker-" + name + ".log");
  return Process({(bin_dir() / "d4-worker").string(), "--stream", h.redis().endpoint(0), "--meta",
                  h.redis().endpoint(0), "--analyzer", h.redis().endpoint(2), "--name", name, "-t", "3",
                  "--archive-dir", (h.dir() / "archive").string()},
                 po);
}

Process start_analyzer(AlertsHarness& h, const std::string& queue, const std::string& consumer) {
  Process::Options po;
  po.stderr_file = h.dir() / ("analyzer-" + consumer + ".log");
  po.stdout_file = h.dir() / ("analyzer-" + consumer + ".out");
  return Process({(bin_dir() / "d4-tls-fingerprint").string(), "-u", queue, "--analyzer-redis",
                  h.redis().endpoint(2), "--consumer", consumer},
                 po);
}

bool heartbeat_fresh(AlertsHarness& h, const std::string& key) {
  auto updated = h.analyzer().command({"HGET", key, "updated"}).as_integer();
  return updated && clock::unix_seconds() - *updated <= 1;
}

}  // namespace

TEST(AlertConditions, SilentSensorFiresOnceAndResolvesOnceWhenItSendsAgain) {
  AlertsHarness h;
  set_last_seen(h.meta(), kSensor, clock::unix_seconds() - 120);
  h.add_rule({"--kind", "sensor_silent", "--scope", "sensor:" + kSensor, "--interval", "30"});
  h.start_daemon();
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  auto first = h.hook().received()[0];
  EXPECT_EQ(first["event"], "firing");
  EXPECT_EQ(first["labels"]["sensor"], kSensor);
  EXPECT_EQ(first["rule"]["kind"], "sensor_silent");
  EXPECT_NE(first["text"].get<std::string>().find("[FIRING]"), std::string::npos) << first.dump();
  EXPECT_NE(first["summary"].get<std::string>().find("silent for 2m"), std::string::npos) << first.dump();
  ASSERT_TRUE(h.wait_evaluations(5));
  EXPECT_EQ(h.hook().received().size(), 1u) << "still silent: nothing more to say";
  set_last_seen(h.meta(), kSensor, clock::unix_seconds());
  expect_events(h, "sensor:" + kSensor, {"firing", "resolved"});
}

// With log_format = "json", each change of an alert is one line naming the rule, the instance and
// the event as members.
TEST(AlertJsonLogs, ChangeLinesCarryRuleInstanceAndEvent) {
  JsonLogsForChildren json_logs;
  AlertsHarness h;
  set_last_seen(h.meta(), kSensor, clock::unix_seconds() - 120);
  const std::string rule =
      h.add_rule({"--kind", "sensor_silent", "--scope", "sensor:" + kSensor, "--interval", "30"});
  h.start_daemon();
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  set_last_seen(h.meta(), kSensor, clock::unix_seconds());
  ASSERT_TRUE(h.hook().wait_for_count(2)) << h.daemon_log();

  auto lines = json_log_lines(h.daemon_log());
  for (const std::string event : {"firing", "resolved"}) {
    auto line = json_log_line_with(lines, "alert " + event);
    EXPECT_EQ(line.value("component", ""), "d4-alerts") << line.dump();
    EXPECT_EQ(line.value("rule", ""), rule) << line.dump();
    EXPECT_EQ(line.value("instance", ""), "sensor:" + kSensor) << line.dump();
    EXPECT_EQ(line.value("event", ""), event) << line.dump();
  }
}

TEST(AlertConditions, GlobalSilenceRuleUsesEachSensorsMonitoringInterval) {
  AlertsHarness h;
  const std::string monitored = "11111111111141118111111111111111",
                    quiet = "22222222222242228222222222222222", fresh = "33333333333343338333333333333333";
  set_last_seen(h.meta(), monitored, clock::unix_seconds() - 60);  // expected every 10 s: silent
  set_last_seen(h.meta(), quiet, clock::unix_seconds() - 86400);   // not monitored, no interval: not watched
  set_last_seen(h.meta(), fresh, clock::unix_seconds());           // monitored, seen now
  for (const auto& [u, delta] : {std::pair{monitored, "10"}, std::pair{fresh, "3600"}}) {
    h.meta().command_ok({"SADD", "to_monitor:sensors", u});
    h.meta().command_ok({"HSET", "to_monitor:sensor:" + u, "delta_time", delta});
  }
  h.add_rule({"--kind", "sensor_silent"});
  h.start_daemon();
  expect_events(h, "sensor:" + monitored, {"firing"});
  EXPECT_EQ(h.hook().received().size(), 1u) << "only the monitored, silent sensor";
  set_last_seen(h.meta(), monitored, clock::unix_seconds());
  expect_events(h, "sensor:" + monitored, {"firing", "resolved"});
}

// A packet that does not verify on a connection whose sensor already proved its key is recorded
// in the sensor's own record by d4-server (before that, the attempt belongs to the peer's network:
// anyone can name any UUID).
TEST(AlertConditions, HmacFailuresReportedByTheServerFireOnceAndResolveOnceWhenTheyStop) {
  AlertsHarness h(/*meta_db=*/1);  // where the server harness keeps its metadata
  ServerProcess server(h.redis());
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  h.add_rule({"--kind", "sensor_error", "--scope", "sensor:" + u, "--reason", "hmac_mismatch", "--threshold",
              "3", "--window", "10"});  // wide enough for three TLS sessions on a loaded machine
  h.start_daemon();
  ASSERT_TRUE(h.wait_evaluations(3));
  auto stream = server.stream();
  for (int i = 0; i < 3; ++i) {
    SensorConnection c(server.tls_port(), true);
    ASSERT_TRUE(c.send(make_packet(uuid, 3, "d4-test-key", "hello\n")));
    c.send(make_packet(uuid, 3, "a wrong key", "x\n"));
    EXPECT_TRUE(c.wait_closed(5s));
    // The next session must find the (uuid, type) slot free, or it is refused as a duplicate
    // instead of reaching its HMAC mismatch: the server releases the slot after the close.
    ASSERT_TRUE(eventually([&] {
      return stream.command({"SISMEMBER", "active_connection:3", u}).integer == 0;
    }));
  }
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  auto fired = h.hook().received()[0];
  EXPECT_EQ(fired["event"], "firing");
  EXPECT_NE(fired["summary"].get<std::string>().find("hmac_mismatch x3"), std::string::npos) << fired.dump();
  // The failures age out of the 10 s window: resolved, once.
  expect_events(h, "sensor:" + u, {"firing", "resolved"});
}

TEST(AlertConditions, ErrorFieldFiresOnceAndResolvesOnceWhenCleared) {
  AlertsHarness h;
  set_last_seen(h.meta(), kSensor, clock::unix_seconds());
  h.add_rule({"--kind", "sensor_error"});
  h.start_daemon();
  ASSERT_TRUE(h.wait_evaluations(3));
  EXPECT_TRUE(h.hook().received().empty());
  h.meta().command_ok({"HSET", core::keys::sensor_metadata(kSensor), "Error", "Error: HMAC don't match"});
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  EXPECT_NE(h.hook().received()[0]["summary"].get<std::string>().find("HMAC don't match"), std::string::npos);
  h.meta().command_ok({"HDEL", core::keys::sensor_metadata(kSensor), "Error"});
  expect_events(h, "sensor:" + kSensor, {"firing", "resolved"});
}

TEST(AlertConditions, QueueFilledToTheRatioFiresOnceAndResolvesOnceWhenConsumed) {
  AlertsHarness h;
  auto q = make_queue(h, 3, 10);
  h.add_rule({"--kind", "queue_full", "--target", q.id, "--fill-ratio", "0.8"});
  h.start_daemon();
  push(h, q, 7);
  ASSERT_TRUE(h.wait_evaluations(3));
  EXPECT_TRUE(h.hook().received().empty()) << "70% is below the ratio";
  push(h, q, 2);
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  EXPECT_EQ(h.hook().received()[0]["labels"]["queue"], q.id);
  EXPECT_EQ(h.hook().received()[0]["labels"]["type"], "3");
  h.analyzer().command_ok({"DEL", q.list_key()});  // an analyzer took everything
  expect_events(h, "queue:" + q.id, {"firing", "resolved"});
}

TEST(AlertConditions, QueueDroppingElementsFiresOnceAndResolvesOnceWhenDropsStop) {
  AlertsHarness h;
  auto q = make_queue(h, 3, 10);
  h.add_rule({"--kind", "queue_full", "--target", q.id, "--fill-ratio", "1", "--window", "2"});
  h.start_daemon();
  ASSERT_TRUE(h.wait_evaluations(2));  // the daemon knows the drop counter before the drops
  // 12 pushed into 10 places (2 dropped) and 5 consumed, at once: never full when observed.
  std::vector<std::vector<std::string>> cmds{{"MULTI"}};
  std::vector<std::string> items(12, "x");
  queues::append_push_commands(cmds, {q.id, q.list_key(), core::keys::analyzer_queue_stats(q.id), 10}, items,
                               clock::unix_seconds_fractional());
  for (int i = 0; i < 5; ++i) cmds.push_back({"RPOP", q.list_key()});
  cmds.push_back({"EXEC"});
  h.analyzer().pipeline(cmds);
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  EXPECT_NE(h.hook().received()[0]["summary"].get<std::string>().find("dropping"), std::string::npos)
      << h.hook().received()[0].dump();
  expect_events(h, "queue:" + q.id, {"firing", "resolved"});
}

TEST(AlertConditions, QueueNotConsumedFiresOnceAndResolvesOnceWhenConsumed) {
  AlertsHarness h;
  auto q = make_queue(h, 3, 100);
  h.add_rule({"--kind", "queue_stalled", "--stall", "2"});
  h.start_daemon();
  push(h, q, 3);
  double pushed = clock::unix_seconds_fractional();
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  EXPECT_GE(clock::unix_seconds_fractional() - pushed, 2.0) << "not before the stall time";
  EXPECT_NE(h.hook().received()[0]["summary"].get<std::string>().find("3 element(s) waiting"),
            std::string::npos);
  for (int i = 0; i < 3; ++i) h.analyzer().command_ok({"RPOP", q.list_key()});
  expect_events(h, "queue:" + q.id, {"firing", "resolved"});
}

TEST(AlertConditions, WorkerKilledFiresOnceAndResolvesOnceWhenItRunsAgain) {
  AlertsHarness h;
  auto worker = start_worker(h, "w1");
  ASSERT_TRUE(eventually([&] { return heartbeat_fresh(h, core::keys::worker_stats("w1")); }, 30s));
  h.add_rule({"--kind", "worker_down", "--stall", "3"});
  h.start_daemon();
  ASSERT_TRUE(h.wait_evaluations(5));
  EXPECT_TRUE(h.hook().received().empty()) << h.daemon_log();
  worker.signal(SIGKILL);
  worker.wait(5s);
  ASSERT_TRUE(h.hook().wait_for_count(1, 30s)) << h.daemon_log();
  EXPECT_EQ(h.hook().received()[0]["labels"]["worker"], "w1");
  auto again = start_worker(h, "w1");  // same name: waits for the old name lock, then publishes
  expect_events(h, "worker:w1", {"firing", "resolved"});
  EXPECT_TRUE(again.running());
}

TEST(AlertConditions, AnalyzerKilledFiresOnceAndResolvesOnceWhenItRunsAgainAndACleanStopIsNoAlert) {
  AlertsHarness h;
  auto q = make_queue(h, 1, 100);
  auto analyzer = start_analyzer(h, q.id, "tls-1");
  const auto key = core::keys::analyzer_consumer("tls-1");
  ASSERT_TRUE(eventually([&] { return heartbeat_fresh(h, key); }, 30s));
  EXPECT_EQ(h.analyzer().command({"HGET", key, "queue"}).str, q.list_key());
  h.add_rule({"--kind", "analyzer_down", "--stall", "3"});
  h.start_daemon();
  ASSERT_TRUE(h.wait_evaluations(5));
  EXPECT_TRUE(h.hook().received().empty()) << h.daemon_log();
  analyzer.signal(SIGKILL);
  analyzer.wait(5s);
  ASSERT_TRUE(h.hook().wait_for_count(1, 30s)) << h.daemon_log();
  EXPECT_EQ(h.hook().received()[0]["labels"]["consumer"], "tls-1");
  auto again = start_analyzer(h, q.id, "tls-1");
  expect_events(h, "consumer:tls-1", {"firing", "resolved"});
  // A clean stop withdraws the consumer: nothing is down, nothing is said.
  EXPECT_EQ(again.stop(), 0);
  EXPECT_EQ(h.analyzer().command({"SISMEMBER", core::keys::kAnalyzerConsumers, "tls-1"}).integer, 0);
  EXPECT_EQ(h.analyzer().command({"EXISTS", key}).integer, 0);
  ASSERT_TRUE(h.wait_evaluations(5));
  EXPECT_EQ(events_of(h.hook(), "consumer:tls-1"), (std::vector<std::string>{"firing", "resolved"}));
}
