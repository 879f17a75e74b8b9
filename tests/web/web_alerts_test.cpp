// Alert rules and alerts in d4-web: the real d4-web on a real redis-server manages the rules that
// the daemon reads (checked with d4-alerts' own rule store), refuses invalid ones with the reason,
// keeps global and organisation rules to administrators, and shows the alerts that the real
// d4-alerts daemon fires and resolves, with since when.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "alerts/rule_store.hpp"
#include "core/keys.hpp"
#include "protocol/clock.hpp"
#include "support/process.hpp"
#include "web_fixture.hpp"

using d4::webtest::Client;
using d4::webtest::kUserPassword;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kAlertingSensor = "6d2a2b3e4f5a4b6c8d7e9f0a1b2c3d4e";
constexpr int kMaxRules = 6;
// The [alerts] settings d4-web shares with d4-alerts: the rule budget and the channel names.
const std::string kAlertsConfig =
    "\n[alerts]\ninterval_ms = 200\nmax_rules = " + std::to_string(kMaxRules) +
    "\n\n[alerts.webhook.ops]\nurl = \"http://127.0.0.1:9/hook\"\ntimeout_ms = 500\n";

class WebAlertsTest : public d4::webtest::SignedInWebTest {
 protected:
  d4::webtest::WebOptions options() const override { return d4::webtest::admin_options(kAlertsConfig); }
  void SetUp() override {
    SignedInWebTest::SetUp();
    user_token = make_user("user@example.test", "user");
  }
  d4::alerts::RuleStore store() { return d4::alerts::RuleStore(web->meta(), kMaxRules); }
  std::string created_id(const d4::webtest::HttpResult& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json()["rule"]["id"].get<std::string>() : std::string();
  }
  // A global sensor_silent rule (300 s, resolved after 30 s, notifying "ops"), created through the
  // API by the administrator.
  std::string create_silent_sensor_rule() {
    return created_id(with_token(admin_token)
                          .call("POST", "/api/v1/alerts/rules",
                                {{"kind", "sensor_silent"},
                                 {"scope", "global"},
                                 {"interval_seconds", 300},
                                 {"channels", json::array({"ops"})},
                                 {"resolve_seconds", 30}}));
  }

  std::string user_token;
};

TEST_F(WebAlertsTest, ACreatedRuleIsStoredAsTheDaemonReadsIt) {
  auto id = create_silent_sensor_rule();
  auto stored = store().get(id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(d4::alerts::to_string(stored->kind), "sensor_silent");
  EXPECT_EQ(stored->scope.to_string(), "global");
  EXPECT_EQ(stored->interval_seconds, 300);
  EXPECT_EQ(stored->channels, std::vector<std::string>{"ops"});
  EXPECT_EQ(stored->resolve_seconds.value_or(-1), 30);
}

TEST_F(WebAlertsTest, TheRuleListShowsEachRuleTheBudgetAndTheChannels) {
  auto id = create_silent_sensor_rule();
  auto list = with_token(admin_token).get("/api/v1/alerts/rules");
  ASSERT_EQ(list.status, 200);
  auto lj = list.json();
  ASSERT_EQ(lj["items"].size(), 1u);
  EXPECT_EQ(lj["items"][0]["id"], id);
  EXPECT_EQ(lj["items"][0]["display_name"], "sensor_silent global");
  EXPECT_EQ(lj["max_rules"], kMaxRules);
  EXPECT_EQ(lj["channels"], json::array({"ops"}));
}

TEST_F(WebAlertsTest, AnEditChangesTheFieldsGivenKeepsTheOthersAndNullPutsADefaultBack) {
  auto id = create_silent_sensor_rule();
  auto put = with_token(admin_token)
                 .call("PUT", "/api/v1/alerts/rules/" + id,
                       {{"name", "quiet sensors"}, {"interval_seconds", 600}, {"resolve_seconds", nullptr}});
  ASSERT_EQ(put.status, 200) << put.body;
  auto stored = store().get(id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->name, "quiet sensors");
  EXPECT_EQ(stored->interval_seconds, 600);
  EXPECT_FALSE(stored->resolve_seconds);
  EXPECT_EQ(stored->channels, std::vector<std::string>{"ops"});
}

TEST_F(WebAlertsTest, AnEditToAnotherKindDropsTheOldKindsParameters) {
  auto id = create_silent_sensor_rule();
  auto put = with_token(admin_token)
                 .call("PUT", "/api/v1/alerts/rules/" + id, {{"kind", "sensor_error"}, {"threshold", 3}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json()["rule"]["threshold"], 3);
  EXPECT_FALSE(put.json()["rule"].contains("interval_seconds"));
  EXPECT_EQ(d4::alerts::to_string(store().get(id)->kind), "sensor_error");
}

// The same through the page's form, as a browser without JavaScript posts it.
TEST_F(WebAlertsTest, TheRulePagesFormEditsTheRule) {
  auto id = create_silent_sensor_rule();
  ASSERT_EQ(with_token(admin_token)
                .call("PUT", "/api/v1/alerts/rules/" + id, {{"kind", "sensor_error"}, {"threshold", 3}})
                .status,
            200);
  auto page = admin.get("/alerts/rules/" + id);
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("name=\"threshold\""), std::string::npos);
  auto form = admin.form("/api/v1/alerts/rules/" + id, {{"csrf_token", admin.csrf},
                                                        {"_method", "PUT"},
                                                        {"next", "/alerts/rules/" + id},
                                                        {"kind", "sensor_error"},
                                                        {"scope", "global"},
                                                        {"window_seconds", "900"},
                                                        {"threshold", "5"},
                                                        {"fill_ratio", ""},
                                                        {"renotify_seconds", ""},
                                                        {"channels", "ops"},
                                                        {"enabled", "false"}});
  EXPECT_EQ(form.status, 303) << form.body;
  auto stored = store().get(id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->window_seconds, 900);
  EXPECT_EQ(stored->threshold, 5);
  EXPECT_FALSE(stored->enabled);
}

TEST_F(WebAlertsTest, ADeletedRuleIsGoneAndAnEditDoesNotBringItBack) {
  auto id = create_silent_sensor_rule();
  Client a = with_token(admin_token);
  auto del = a.call("DELETE", "/api/v1/alerts/rules/" + id);
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_FALSE(store().get(id));
  EXPECT_EQ(a.get("/api/v1/alerts/rules/" + id).status, 404);
  EXPECT_EQ(a.call("PUT", "/api/v1/alerts/rules/" + id, {{"threshold", 2}}).status, 404);
  EXPECT_FALSE(store().get(id)) << "an edit does not bring a deleted rule back";
}

TEST_F(WebAlertsTest, InvalidRulesAreRefusedWithTheReasonAndTheBudgetHolds) {
  Client a = with_token(admin_token);
  auto refused = [&](const json& body, const std::string& reason_part) {
    auto r = a.call("POST", "/api/v1/alerts/rules", body);
    EXPECT_EQ(r.status, 400) << body.dump() << " " << r.body;
    EXPECT_NE(r.json().value("reason", "").find(reason_part), std::string::npos) << r.body;
  };
  refused({{"scope", "global"}}, "'kind' is required");
  refused({{"kind", "sensor_sleepy"}}, "kind 'sensor_sleepy' is not one of");
  refused({{"kind", "worker_down"}, {"scope", std::string("sensor:") + kAlertingSensor}},
          "cannot have a sensor scope");
  refused({{"kind", "queue_full"}, {"fill_ratio", 2}}, "fill_ratio");
  refused({{"kind", "sensor_silent"}, {"scope", "sensor:not-a-uuid"}}, "sensor");
  refused({{"kind", "sensor_silent"}, {"intervall_seconds", 60}}, "unknown rule field 'intervall_seconds'");
  refused({{"kind", "sensor_silent"}, {"channels", json::array({"pager"})}},
          "no notification channel named 'pager'");
  EXPECT_EQ(store().load().rules.size(), 0u) << "nothing refused was stored";

  for (int i = 0; i < kMaxRules; ++i)
    created_id(
        a.call("POST", "/api/v1/alerts/rules", {{"kind", "queue_stalled"}, {"stall_seconds", 60 + i}}));
  auto over = a.call("POST", "/api/v1/alerts/rules", {{"kind", "queue_stalled"}});
  EXPECT_EQ(over.status, 409) << over.body;
  EXPECT_NE(over.json().value("reason", "").find("max_rules"), std::string::npos);
  EXPECT_EQ(store().load().rules.size(), static_cast<std::size_t>(kMaxRules));
}

TEST_F(WebAlertsTest, OnlyAdministratorsManageGlobalAndOrganisationRules) {
  Client a = with_token(admin_token);
  Client u = with_token(user_token);
  const std::string sensor_scope = std::string("sensor:") + kAlertingSensor;
  const std::string org_scope = "org:0f0e0d0c0b0a49088706050403020100";
  for (const auto& scope : {std::string("global"), org_scope}) {
    auto r = u.call("POST", "/api/v1/alerts/rules", {{"kind", "sensor_silent"}, {"scope", scope}});
    EXPECT_EQ(r.status, 403) << scope << " " << r.body;
    EXPECT_NE(r.json().value("reason", "").find("only administrators"), std::string::npos);
  }
  EXPECT_EQ(store().load().rules.size(), 0u);

  auto mine = created_id(
      u.call("POST", "/api/v1/alerts/rules", {{"kind", "sensor_silent"}, {"scope", sensor_scope}}));
  auto global = created_id(a.call("POST", "/api/v1/alerts/rules", {{"kind", "queue_stalled"}}));
  auto org =
      created_id(a.call("POST", "/api/v1/alerts/rules", {{"kind", "sensor_error"}, {"scope", org_scope}}));

  // A user's own sensor rule stays a sensor rule.
  EXPECT_EQ(u.call("PUT", "/api/v1/alerts/rules/" + mine, {{"scope", "global"}}).status, 403);
  EXPECT_EQ(store().get(mine)->scope.to_string(), sensor_scope);
  EXPECT_EQ(u.call("PUT", "/api/v1/alerts/rules/" + mine, {{"interval_seconds", 120}}).status, 200);
  // The administrators' rules are read-only to a user.
  for (const auto& id : {global, org}) {
    EXPECT_EQ(u.call("PUT", "/api/v1/alerts/rules/" + id, {{"scope", sensor_scope}}).status, 403);
    EXPECT_EQ(u.call("DELETE", "/api/v1/alerts/rules/" + id).status, 403);
    EXPECT_TRUE(store().get(id)) << id;
    auto g = u.get("/api/v1/alerts/rules/" + id);
    ASSERT_EQ(g.status, 200);
    EXPECT_EQ(g.json()["editable"], false);
  }
  auto list = u.get("/api/v1/alerts/rules").json();
  ASSERT_EQ(list["items"].size(), 3u);
  for (const auto& r : list["items"]) EXPECT_EQ(r["editable"], r["id"] == mine) << r.dump();
  // An administrator may change any of them; a user may delete a sensor rule.
  EXPECT_EQ(a.call("PUT", "/api/v1/alerts/rules/" + mine, {{"scope", "global"}}).status, 200);
  EXPECT_EQ(u.call("DELETE", "/api/v1/alerts/rules/" + mine).status, 403) << "it is global now";
  EXPECT_EQ(a.call("PUT", "/api/v1/alerts/rules/" + mine, {{"scope", sensor_scope}}).status, 200);
  EXPECT_EQ(u.call("DELETE", "/api/v1/alerts/rules/" + mine).status, 200);

  // The pages say the same: no form for a user on a global rule, a form for the administrator.
  Client us = web->client();
  ASSERT_EQ(us.login("user@example.test", kUserPassword).status, 303);
  auto ro = us.get("/alerts/rules/" + global);
  ASSERT_EQ(ro.status, 200);
  EXPECT_NE(ro.body.find("Only administrators change global and organisation rules"), std::string::npos);
  EXPECT_EQ(ro.body.find("data-method=\"PUT\""), std::string::npos);
  auto rw = admin.get("/alerts/rules/" + global);
  EXPECT_NE(rw.body.find("data-method=\"PUT\""), std::string::npos);
  EXPECT_NE(rw.body.find("Delete the rule"), std::string::npos);
}

// The whole path, once for the suite: a user sets a rule on a sensor silent for an hour in the web
// interface, the real d4-alerts daemon evaluates it and the alert fires. The tests read what the
// web interface shows; the last one has the sensor send again, and the alert resolves.
class WebAlertsOfTheDaemon : public ::testing::Test {
 protected:
  struct Shared {
    double t0 = d4::clock::unix_seconds_fractional();
    std::unique_ptr<d4::webtest::WebInstance> web;
    std::unique_ptr<d4::webtest::SignedInAdmin> site;
    std::string user_token, rule_id;
    d4::test::Process::Options daemon_output;
    std::unique_ptr<d4::test::Process> daemon;
    json firing;  // the alert as the API first listed it firing
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    s.web = d4::webtest::start_web(kAlertsConfig);
    s.site = std::make_unique<d4::webtest::SignedInAdmin>(*s.web);
    s.user_token = s.site->make_user("user@example.test", "user");
    auto& meta = s.web->meta();
    const std::string when = std::to_string(static_cast<long long>(s.t0) - 3600);
    meta.command_ok(
        {"HSET", d4::core::keys::sensor_metadata(kAlertingSensor), "first_seen", when, "last_seen", when});
    meta.command_ok({"SADD", d4::core::keys::kSensorIndex, kAlertingSensor});
    auto created = user().call("POST", "/api/v1/alerts/rules",
                               {{"kind", "sensor_silent"},
                                {"scope", std::string("sensor:") + kAlertingSensor},
                                {"name", "edge sensor quiet"},
                                {"interval_seconds", 60},
                                {"resolve_seconds", 0}});
    ASSERT_EQ(created.status, 200) << created.body;
    s.rule_id = created.json()["rule"]["id"];
    s.daemon_output.stdout_file = s.web->config_path().parent_path() / "alerts.log";
    s.daemon_output.stderr_file = s.daemon_output.stdout_file;
    const std::string redis = "127.0.0.1:" + std::to_string(s.web->redis().port());
    s.daemon = std::make_unique<d4::test::Process>(
        std::vector<std::string>{(d4::test::bin_dir() / "d4-alerts").string(), "-c",
                                 s.web->config_path().string(), "--meta", redis + "/0", "--analyzer",
                                 redis + "/2", "run"},
        s.daemon_output);
    ASSERT_TRUE(d4::test::eventually(
        [&] {
          auto items = user().get("/api/v1/alerts?status=firing").json()["items"];
          if (!items.empty()) s.firing = items[0];
          return !items.empty();
        },
        15s, 100ms))
        << d4::test::read_text(s.daemon_output.stdout_file);
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override { ASSERT_TRUE(shared_ && !shared_->firing.is_null()) << "the suite's set-up failed"; }

  static Shared& s() { return *shared_; }
  static Client user() { return d4::webtest::bearer_client(*s().web, s().user_token); }
  static Client user_session() { return d4::webtest::signed_in(*s().web, "user@example.test"); }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(WebAlertsOfTheDaemon, AFiringAlertNamesItsRuleAndSensorAndSinceWhen) {
  const json& alert = s().firing;
  EXPECT_EQ(alert["rule_id"], s().rule_id);
  EXPECT_EQ(alert["rule_name"], "edge sensor quiet");
  EXPECT_EQ(alert["status"], "firing");
  EXPECT_EQ(alert["labels"]["sensor"], kAlertingSensor);
  const double fired = alert["since"].get<double>();
  EXPECT_GE(fired, s().t0 - 1);
  EXPECT_LE(fired, d4::clock::unix_seconds_fractional() + 1);
}

TEST_F(WebAlertsOfTheDaemon, TheAlertListCountsTheFiringAlertsAndFiltersBySensorAndStatus) {
  Client u = user();
  EXPECT_EQ(u.get("/api/v1/alerts").json()["firing"], 1);
  EXPECT_TRUE(u.get(std::string("/api/v1/alerts?sensor=") + kAlertingSensor).json()["items"].size() == 1);
  EXPECT_TRUE(u.get("/api/v1/alerts?sensor=00000000000040008000000000000000").json()["items"].empty());
  EXPECT_EQ(u.get("/api/v1/alerts?status=sleeping").status, 400);
}

TEST_F(WebAlertsOfTheDaemon, TheAlertsPageAndTheSensorPageShowTheFiringAlert) {
  Client us = user_session();
  auto page = us.get("/alerts");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("badge bad\">firing"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("edge sensor quiet"), std::string::npos);
  EXPECT_NE(page.body.find(kAlertingSensor), std::string::npos);
  EXPECT_NE(page.body.find(" ago)"), std::string::npos) << "since when";
  auto sensor_page = us.get(std::string("/sensors/") + kAlertingSensor);
  EXPECT_NE(sensor_page.body.find("badge bad\">firing"), std::string::npos);
  EXPECT_NE(sensor_page.body.find(std::string("/alerts/rules/new?scope=sensor:") + kAlertingSensor),
            std::string::npos);
}

// The suite's last test: the sensor sends again, and the daemon is stopped.
TEST_F(WebAlertsOfTheDaemon, TheAlertResolvesWhenTheSensorSendsAgainAndSaysSinceWhen) {
  s().web->meta().command_ok({"HSET", d4::core::keys::sensor_metadata(kAlertingSensor), "last_seen",
                              std::to_string(static_cast<long long>(d4::clock::unix_seconds_fractional()))});
  Client u = user();
  json alert;
  ASSERT_TRUE(d4::test::eventually(
      [&] {
        auto items = u.get("/api/v1/alerts?status=resolved").json()["items"];
        if (!items.empty()) alert = items[0];
        return !items.empty();
      },
      15s, 100ms));
  EXPECT_EQ(alert["status"], "resolved");
  EXPECT_GE(alert["since"].get<double>(), s().firing["since"].get<double>());
  EXPECT_EQ(u.get("/api/v1/alerts").json()["firing"], 0);
  EXPECT_NE(user_session().get("/alerts?status=resolved").body.find("badge ok\">resolved"),
            std::string::npos);
  EXPECT_EQ(s().daemon->stop(), 0);
}

}  // namespace
