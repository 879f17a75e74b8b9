// Notifications without storms, delivery and its failures, the metrics, the budget and the CLI,
// with the real d4-alerts daemon, a real webhook receiver and a real SMTP server (STARTTLS).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "alerts/alerts_harness.hpp"
#include "core/keys.hpp"
#include "protocol/clock.hpp"
#include "support/http.hpp"

using namespace d4;
using namespace d4::test;

namespace {

std::string silent_sensor_rule(AlertsHarness& h, std::vector<std::string> extra = {}) {
  set_last_seen(h.meta(), kSensor, clock::unix_seconds() - 600);
  std::vector<std::string> o{"--kind", "sensor_silent", "--scope", "sensor:" + kSensor, "--interval", "60"};
  o.insert(o.end(), extra.begin(), extra.end());
  return h.add_rule(o);
}

double metric_value(AlertsHarness& h, const std::string& prefix) {
  auto lines = h.metric_lines(prefix);
  return lines.empty() ? -1 : std::stod(lines[0].substr(lines[0].rfind(' ') + 1));
}

}  // namespace

TEST(AlertNotifications, FiringAlertIsRemindedAtTheRenotifyInterval) {
  AlertsHarness h;
  silent_sensor_rule(h, {"--renotify", "1"});
  h.start_daemon();
  ASSERT_TRUE(h.hook().wait_for_count(4, 30s)) << h.daemon_log();
  auto all = h.hook().received();
  EXPECT_EQ(all[0]["event"], "firing");
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(all[i]["event"], "reminder") << all[i].dump();
    EXPECT_NE(all[i]["text"].get<std::string>().find("STILL FIRING"), std::string::npos);
    double gap = all[i]["time"].get<double>() - all[i - 1]["time"].get<double>();
    EXPECT_GE(gap, 1.0) << "reminders no closer than the interval";
    EXPECT_LT(gap, 3.0) << "and not much later either";
  }
  EXPECT_EQ(all[3]["since"], all[0]["since"]) << "one alert, reminded";
}

TEST(AlertNotifications, FlappingConditionGivesOneFiringAndOneResolved) {
  AlertsHarness h;
  set_last_seen(h.meta(), kSensor, clock::unix_seconds());
  h.add_rule({"--kind", "sensor_error", "--resolve-after", "2"});
  h.start_daemon();
  // The Error field set and cleared every 150 ms for 3 s: seen set and clear by the 200 ms
  // evaluations many times over.
  long long before = h.evaluations();
  auto key = core::keys::sensor_metadata(kSensor);
  auto flap_until = std::chrono::steady_clock::now() + 3s;
  for (bool set = true; std::chrono::steady_clock::now() < flap_until; set = !set) {
    if (set)
      h.meta().command_ok({"HSET", key, "Error", "Error: Invalid Header"});
    else
      h.meta().command_ok({"HDEL", key, "Error"});
    std::this_thread::sleep_for(150ms);
  }
  h.meta().command_ok({"HDEL", key, "Error"});
  EXPECT_GE(h.evaluations() - before, 8) << "the flapping was observed";
  ASSERT_TRUE(h.hook().wait_for_count(2, 20s)) << h.daemon_log();
  ASSERT_TRUE(h.wait_evaluations(5));
  auto all = h.hook().received();
  ASSERT_EQ(all.size(), 2u) << h.daemon_log();
  EXPECT_EQ(all[0]["event"], "firing");
  EXPECT_EQ(all[1]["event"], "resolved");
  EXPECT_GE(all[1]["time"].get<double>() - all[0]["time"].get<double>(), 3.0);
}

TEST(AlertNotifications, WebhookReceiverDownIsRetriedAndCountedThenDelivered) {
  AlertsHarness h;
  int port = free_port();  // reserved for the receiver that comes later; nothing listens yet
  h.webhook_url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  h.write_config("");
  silent_sensor_rule(h);
  h.start_daemon();
  const std::string failed = "d4_alerts_notifications_failed_total{channel=\"hook\",type=\"webhook\"}";
  const std::string sent = "d4_alerts_notifications_sent_total{channel=\"hook\",type=\"webhook\"}";
  ASSERT_TRUE(eventually([&] { return metric(h.metrics_port(), failed).value_or(0) >= 2; }, 20s))
      << h.daemon_log();
  EXPECT_EQ(metric(h.metrics_port(), sent), 0);
  EXPECT_EQ(metric_value(h, "d4_alerts_notifications_pending "), 1);
  // The failure is counted during the evaluation pass; the alert's state and the daemon's
  // statistics are written to Redis at the end of it.
  json j;
  ASSERT_TRUE(eventually([&] {
    auto status = h.cli({"--json", "status"});
    if (status.status != 0) return false;
    j = json::parse(status.out);
    return j["alerts"].size() == 1 && j["alerts"][0].value("attempts", 0) >= 2 &&
           std::stoi(j["daemon"].value("notifications_failed", std::string("0"))) >= 2;
  })) << h.daemon_log();
  ASSERT_EQ(j["alerts"].size(), 1u);
  EXPECT_EQ(j["alerts"][0]["pending"]["hook"], "firing");
  EXPECT_GE(j["alerts"][0]["attempts"].get<int>(), 2);
  EXPECT_GE(std::stoi(j["daemon"]["notifications_failed"].get<std::string>()), 2);

  h.replace_hook(std::make_unique<WebhookReceiver>(static_cast<std::uint16_t>(port)));
  ASSERT_TRUE(h.hook().wait_for_count(1, 20s)) << h.daemon_log();
  EXPECT_TRUE(eventually([&] { return metric(h.metrics_port(), sent) == 1; }));
  ASSERT_TRUE(h.wait_evaluations(5));
  EXPECT_EQ(h.hook().received().size(), 1u) << "delivered once";
  EXPECT_EQ(h.hook().received()[0]["event"], "firing");
  EXPECT_EQ(metric_value(h, "d4_alerts_notifications_pending "), 0);
}

TEST(AlertNotifications, ReceiverErrorStatusIsAFailureAndTheResolveReplacesAnUndeliveredFiring) {
  AlertsHarness h;
  h.hook().status = 503;
  silent_sensor_rule(h);
  h.start_daemon();
  const std::string failed = "d4_alerts_notifications_failed_total{channel=\"hook\",type=\"webhook\"}";
  ASSERT_TRUE(eventually([&] { return metric(h.metrics_port(), failed).value_or(0) >= 1; }, 20s))
      << h.daemon_log();
  // Resolved before the receiver ever accepted the firing: it has nothing to be told.
  set_last_seen(h.meta(), kSensor, clock::unix_seconds());
  ASSERT_TRUE(eventually([&] { return metric_value(h, "d4_alerts_notifications_pending ") == 0; }, 20s));
  h.hook().status = 200;
  ASSERT_TRUE(h.wait_evaluations(5));
  EXPECT_TRUE(h.hook().received().empty());
}

// One daemon for the suite, with one rule whose sensor is silent: its alert fires at once. The
// last test resolves it. Run together (one CTest test, tests/alerts/CMakeLists.txt), the tests
// share the daemon; each also runs alone.
class AlertMetrics : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    h_ = new AlertsHarness();
    rule_id_ = new std::string(silent_sensor_rule(*h_, {"--name", "edge sensor quiet"}));
    h_->start_daemon();
  }
  static void TearDownTestSuite() {
    delete rule_id_;
    delete h_;
    rule_id_ = nullptr;
    h_ = nullptr;
  }

 protected:
  AlertsHarness& h() { return *h_; }
  std::string firing_series() const {
    return "d4_alerts_firing{rule=\"edge sensor quiet\",rule_id=\"" + *rule_id_ +
           "\",kind=\"sensor_silent\",scope=\"sensor:" + kSensor + "\",sensor=\"" + kSensor + "\"}";
  }
  // The rule's alert fires (at once in the suite, the sensor being silent since the start).
  bool firing() {
    return eventually([&] { return metric(h_->metrics_port(), firing_series()) == 1; }, 20s);
  }

 private:
  static inline AlertsHarness* h_ = nullptr;
  static inline std::string* rule_id_ = nullptr;
};

TEST_F(AlertMetrics, AFiringAlertHasItsGaugeLabelledWithRuleKindScopeAndSensor) {
  EXPECT_TRUE(firing()) << h().metrics_text();
}

TEST_F(AlertMetrics, TheFiringCountAndTheRuleCountFollowTheState) {
  ASSERT_TRUE(firing()) << h().metrics_text();
  EXPECT_EQ(metric_value(h(), "d4_alerts_firing_count "), 1);
  EXPECT_EQ(metric_value(h(), "d4_alerts_rules "), 1);
}

TEST_F(AlertMetrics, TheLastEvaluationHasItsTimeAndDuration) {
  ASSERT_TRUE(h().wait_evaluations(1));
  EXPECT_GT(metric_value(h(), "d4_alerts_last_evaluation_timestamp_seconds "),
            clock::unix_seconds_fractional() - 5);
  EXPECT_GT(metric_value(h(), "d4_alerts_last_evaluation_duration_seconds "), 0);
}

TEST_F(AlertMetrics, TheEvaluatingDaemonSaysItIsActiveAndHealthy) {
  ASSERT_TRUE(h().wait_evaluations(1));
  EXPECT_EQ(metric_value(h(), "d4_alerts_active "), 1);
  auto health = http_get(h().metrics_port(), "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
}

// Last of the suite: the sensor speaks again.
TEST_F(AlertMetrics, AResolvedAlertLeavesTheFiringGauges) {
  ASSERT_TRUE(firing()) << h().metrics_text();
  set_last_seen(h().meta(), kSensor, clock::unix_seconds());
  ASSERT_TRUE(eventually([&] { return h().metric_lines("d4_alerts_firing{").empty(); }, 20s))
      << h().metrics_text();
  EXPECT_EQ(metric_value(h(), "d4_alerts_firing_count "), 0);
}

TEST(AlertNotifications, EmailIsSentOverStartTlsWithAuthentication) {
  AlertsHarness h;
  SmtpReceiver smtp;
  h.write_config("", "[alerts.email.ops]\nurl = \"smtp://127.0.0.1:" + std::to_string(smtp.port()) +
                         "\"\nfrom = \"d4@example.org\"\nto = [\"noc@example.org\", \"oncall@example.org\"]\n"
                         "username = \"d4\"\npassword = \"secret\"\nca_file = \"" +
                         smtp.ca_file().string() + "\"\n");
  silent_sensor_rule(h, {"--channel", "ops", "--name", "edge sensör"});
  h.start_daemon();
  ASSERT_TRUE(smtp.wait_for_count(1, 30s)) << h.daemon_log();
  auto m = smtp.messages()[0];
  EXPECT_TRUE(m["tls"].get<bool>()) << "sent after STARTTLS";
  EXPECT_TRUE(m["auth"].get<bool>());
  EXPECT_EQ(m["mail_from"], "d4@example.org");
  EXPECT_EQ(m["rcpt_tos"], (json{"noc@example.org", "oncall@example.org"}));
  std::string data = m["data"];
  EXPECT_NE(data.find("Subject: =?UTF-8?B?"), std::string::npos) << "non-ASCII subject encoded: " << data;
  EXPECT_NE(data.find("[FIRING] edge sensör: sensor " + kSensor + " silent for"), std::string::npos) << data;
  EXPECT_NE(data.find("instance: sensor:" + kSensor), std::string::npos) << data;
  EXPECT_TRUE(h.hook().received().empty()) << "the rule names only the mail channel";
  set_last_seen(h.meta(), kSensor, clock::unix_seconds());
  ASSERT_TRUE(smtp.wait_for_count(2, 30s)) << h.daemon_log();
  EXPECT_NE(smtp.messages()[1]["data"].get<std::string>().find("[RESOLVED]"), std::string::npos);
}

TEST(AlertNotifications, EmailIsNotSentToAServerWithoutStartTls) {
  AlertsHarness h;
  SmtpReceiver plain(/*offer_starttls=*/false);
  h.write_config("", "[alerts.email.ops]\nurl = \"smtp://127.0.0.1:" + std::to_string(plain.port()) +
                         "\"\nfrom = \"d4@example.org\"\nto = [\"noc@example.org\"]\n");
  silent_sensor_rule(h, {"--channel", "ops"});
  h.start_daemon();
  const std::string failed = "d4_alerts_notifications_failed_total{channel=\"ops\",type=\"email\"}";
  ASSERT_TRUE(eventually([&] { return metric(h.metrics_port(), failed).value_or(0) >= 1; }, 20s))
      << h.daemon_log();
  ASSERT_TRUE(h.wait_evaluations(3));
  EXPECT_TRUE(plain.messages().empty()) << "nothing goes out in clear";
}

TEST(AlertNotifications, AlertInstancesBeyondTheBudgetAreCountedNotTracked) {
  AlertsHarness h;
  h.write_config("max_instances = 2");
  for (int i = 0; i < 5; ++i) {
    std::string u = std::string(31, 'a') + std::to_string(i);
    set_last_seen(h.meta(), u, clock::unix_seconds() - 600);
  }
  h.add_rule({"--kind", "sensor_silent", "--interval", "60"});
  h.start_daemon();
  ASSERT_TRUE(eventually([&] { return metric_value(h, "d4_alerts_instances_over_budget_total ") >= 3; }, 20s))
      << h.metrics_text();
  ASSERT_TRUE(h.wait_evaluations(3));
  EXPECT_EQ(h.hook().received().size(), 2u);
  EXPECT_EQ(h.meta().command({"HLEN", core::keys::kAlertState}).integer, 2);
  EXPECT_EQ(metric_value(h, "d4_alerts_firing_count "), 2);
  auto status = h.cli({"status"});
  EXPECT_NE(status.out.find("instances_over_budget: "), std::string::npos) << status.out;
}

TEST(AlertNotifications, OnlyOneOfTwoDaemonsNotifies) {
  AlertsHarness h;
  silent_sensor_rule(h);
  h.start_daemon();
  AlertsHarness::Standby standby = h.start_standby();
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  ASSERT_TRUE(h.wait_evaluations(10));
  EXPECT_EQ(h.hook().received().size(), 1u);
  EXPECT_EQ(metric(standby.metrics_port, "d4_alerts_active"), 0);
  // The evaluating daemon stops: the standby takes over, with the state kept in Redis (the alert
  // is still firing, so nothing new is sent), and tells the resolution.
  EXPECT_EQ(h.stop_daemon(), 0);
  ASSERT_TRUE(eventually([&] { return metric(standby.metrics_port, "d4_alerts_active") == 1; }, 20s));
  set_last_seen(h.meta(), kSensor, clock::unix_seconds());
  ASSERT_TRUE(h.hook().wait_for_count(2)) << read_text(standby.log);
  ASSERT_TRUE(h.wait_evaluations(5));
  auto all = h.hook().received();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1]["event"], "resolved");
}

// An organisation rule watches that organisation's sensors only: those assigned to it, or, for the
// default organisation, every sensor assigned to no other (core/organisations.hpp).
TEST(AlertNotifications, OrganisationRuleWatchesOnlyThatOrganisationsSensors) {
  AlertsHarness h;
  const std::string org_a = "5c1a3b5e00004000800000000000beef", org_b = "5c1a3b5e00004000800000000000cafe",
                    org_default = "5c1a3b5e00004000800000000000d00d";
  const std::string sensor_b = "8bd5b2b23c8a4a399a5e1a4f1f2b7c02",
                    unassigned = "8bd5b2b23c8a4a399a5e1a4f1f2b7c03";
  for (const auto& s : {kSensor, sensor_b, unassigned})
    set_last_seen(h.meta(), s, clock::unix_seconds() - 600);
  h.meta().command_ok({"SET", std::string(core::keys::kDefaultOrganisation), org_default});
  h.meta().command_ok(
      {"HSET", std::string(core::keys::kSensorOrganisation), kSensor, org_a, sensor_b, org_b});
  h.add_rule(
      {"--kind", "sensor_silent", "--interval", "60", "--scope", "org:5c1a3b5e-0000-4000-8000-00000000beef"});
  h.add_rule({"--kind", "sensor_silent", "--interval", "60", "--scope", "org:" + org_default});
  // Organisations' rules notify through their own channels: both organisations post to the receiver.
  h.write_config("org_webhook_allow_http = true\n");
  for (const auto& org : {org_a, org_default})
    h.meta().command_ok({"HSET", core::keys::org_channels(org), "hook",
                         json{{"type", "webhook"}, {"url", h.hook().url()}}.dump()});
  h.start_daemon();
  ASSERT_TRUE(h.hook().wait_for_count(2)) << h.daemon_log();
  ASSERT_TRUE(h.wait_evaluations(3));
  auto all = h.hook().received();
  ASSERT_EQ(all.size(), 2u) << "one alert per rule: org B's sensor is nobody's business here";
  std::map<std::string, std::string> sensor_by_scope;
  for (const auto& n : all) sensor_by_scope[n["rule"]["scope"]] = n["labels"]["sensor"];
  EXPECT_EQ(sensor_by_scope["org:" + org_a], kSensor);
  EXPECT_EQ(sensor_by_scope["org:" + org_default], unassigned);
}

// An organisation's rule notifies through the channels its administrators set (a webhook, and an
// e-mail sent by the server's relay), never through the server's own channel; a global rule still
// uses the server's channel only.
TEST(AlertNotifications, OrganisationRulesNotifyThroughTheOrganisationsOwnChannels) {
  AlertsHarness h;
  WebhookReceiver org_hook;
  SmtpReceiver smtp;
  const std::string org = "5c1a3b5e00004000800000000000beef", other_org = "5c1a3b5e00004000800000000000cafe";
  const std::string sensor_other = "8bd5b2b23c8a4a399a5e1a4f1f2b7c02";
  set_last_seen(h.meta(), kSensor, clock::unix_seconds() - 600);
  set_last_seen(h.meta(), sensor_other, clock::unix_seconds() - 600);
  h.meta().command_ok(
      {"HSET", std::string(core::keys::kSensorOrganisation), kSensor, org, sensor_other, other_org});
  h.write_config("org_webhook_allow_http = true\n",
                 "[alerts.org_email]\nurl = \"smtp://127.0.0.1:" + std::to_string(smtp.port()) +
                     "\"\nfrom = \"d4@example.org\"\nusername = \"d4\"\npassword = \"secret\"\nca_file = \"" +
                     smtp.ca_file().string() + "\"\n");
  h.meta().command_ok({"HSET", core::keys::org_channels(org), "soc",
                       json{{"type", "webhook"}, {"url", org_hook.url()}, {"headers", {"X-Org: a"}}}.dump(),
                       "mail", json{{"type", "email"}, {"to", {"soc@org-a.example"}}}.dump()});
  // The other organisation has no channel: its rule notifies nobody (its state and metrics remain).
  h.add_rule({"--kind", "sensor_silent", "--interval", "60", "--scope", "org:" + org, "--name", "org rule"});
  h.add_rule(
      {"--kind", "sensor_silent", "--interval", "60", "--scope", "org:" + other_org, "--name", "other"});
  h.add_rule({"--kind", "sensor_silent", "--interval", "60", "--scope", "sensor:" + sensor_other, "--name",
              "server rule"});
  h.start_daemon();
  ASSERT_TRUE(org_hook.wait_for_count(1)) << h.daemon_log();
  ASSERT_TRUE(smtp.wait_for_count(1, 30s)) << h.daemon_log();
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  ASSERT_TRUE(h.wait_evaluations(3));
  auto org_received = org_hook.received();
  ASSERT_EQ(org_received.size(), 1u);
  EXPECT_EQ(org_received[0]["rule"]["name"], "org rule");
  EXPECT_EQ(org_received[0]["labels"]["sensor"], kSensor);
  auto mail = smtp.messages();
  ASSERT_EQ(mail.size(), 1u);
  EXPECT_EQ(mail[0]["rcpt_tos"], json::array({"soc@org-a.example"}));
  EXPECT_TRUE(mail[0]["tls"].get<bool>());
  EXPECT_NE(mail[0]["data"].get<std::string>().find("org rule"), std::string::npos);
  auto server_received = h.hook().received();
  ASSERT_EQ(server_received.size(), 1u) << "the organisations' rules never reach the server's channel";
  EXPECT_EQ(server_received[0]["rule"]["name"], "server rule");
  EXPECT_EQ(metric_value(h, "d4_alerts_notifications_sent_total{channel=\"org:" + org + "/soc\""), 1.0);
}

TEST(AlertRulesCli, RulesAreAddedListedAndRemovedAndInvalidOnesRefusedWithTheReason) {
  AlertsHarness h;
  auto id = h.add_rule({"--kind", "queue_stalled", "--stall", "120", "--name", "pdns queue"});
  auto list = h.cli({"--json", "rule", "list"});
  ASSERT_EQ(list.status, 0) << list.err;
  auto j = json::parse(list.out);
  ASSERT_EQ(j["rules"].size(), 1u);
  EXPECT_EQ(j["rules"][0]["id"], id);
  EXPECT_EQ(j["rules"][0]["stall_seconds"], 120);
  EXPECT_EQ(j["rules"][0]["name"], "pdns queue");
  struct Bad {
    std::vector<std::string> args;
    std::string reason;
  };
  for (const auto& bad : std::vector<Bad>{
           {{"--kind", "sensor_quiet"}, "kind 'sensor_quiet'"},
           {{"--kind", "worker_down", "--scope", "sensor:" + kSensor}, "cannot have a sensor scope"},
           {{"--kind", "sensor_silent", "--scope", "sensor:nope"}, "not a UUID"},
           {{"--kind", "queue_full", "--fill-ratio", "1.5"}, "fill_ratio"},
           {{"--kind", "queue_stalled", "--stall", "0"}, "stall_seconds"},
           {{"--kind", "sensor_silent", "--reason", "hmac_mismatch"}, "reasons apply to sensor_error"},
       }) {
    std::vector<std::string> args{"rule", "add"};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    auto r = h.cli(args);
    EXPECT_EQ(r.status, 1) << bad.reason;
    EXPECT_NE(r.err.find(bad.reason), std::string::npos) << r.err;
  }
  auto removed = h.cli({"rule", "remove", id});
  EXPECT_EQ(removed.status, 0) << removed.err;
  EXPECT_EQ(h.cli({"rule", "remove", id}).status, 1);
  EXPECT_EQ(h.meta().command({"HLEN", core::keys::kAlertRules}).integer, 0);
}

TEST(AlertRulesCli, RemovingTheRuleOfAFiringAlertResolvesIt) {
  AlertsHarness h;
  auto id = silent_sensor_rule(h);
  h.start_daemon();
  ASSERT_TRUE(h.hook().wait_for_count(1)) << h.daemon_log();
  ASSERT_EQ(h.cli({"rule", "remove", id}).status, 0);
  ASSERT_TRUE(h.hook().wait_for_count(2)) << h.daemon_log();
  auto resolved = h.hook().received()[1];
  EXPECT_EQ(resolved["event"], "resolved");
  EXPECT_NE(resolved["summary"].get<std::string>().find("rule removed"), std::string::npos);
}

TEST(AlertRulesCli, TestCommandSendsThroughTheNamedChannel) {
  AlertsHarness h;
  auto r = h.cli({"test", "hook"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(h.hook().received().size(), 1u);
  EXPECT_NE(h.hook().received()[0]["text"].get<std::string>().find("test notification"), std::string::npos);
  EXPECT_EQ(h.cli({"test", "nope"}).status, 1);
}
