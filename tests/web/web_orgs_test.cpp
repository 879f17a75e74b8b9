// Organisations on one server (docs/web.md#organisations): the real d4-web on a real redis-server
// with three organisations (A, B and the default one), a sensor, its statistics, errors, tags, a
// queue and an alert rule in each. Every role × every page and API read: no answer to a user of
// one organisation names another organisation's sensor or carries its description, tags, errors
// or statistics (nor a server total that includes them), while the administrator sees all; every
// sensor endpoint answers a foreign sensor's UUID exactly like an unknown one; administrators
// manage the organisations.
#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "alerts/state.hpp"
#include "core/keys.hpp"
#include "server/harness.hpp"
#include "web_fixture.hpp"

using d4::webtest::Client;
using d4::webtest::HttpResult;
using nlohmann::json;
namespace keys = d4::core::keys;

namespace {

constexpr const char* kUnknownSensor = "0ddba11a00004000800000000000beef";

// What identifies one organisation's sensor in an answer: anything of these in another
// organisation's answer is a leak.
struct OrgSensor {
  std::string org_name, sensor, dashed, description, tag, ip, error, packets, bytes;
};

const OrgSensor kA{"Org A",
                   "aaaaaaaa00004000800000000000000a",
                   "aaaaaaaa-0000-4000-8000-00000000000a",
                   "description-of-org-a",
                   "tag-of-org-a",
                   "198.51.100.11",
                   "error-of-org-a",
                   "123457",
                   "7777777"};
const OrgSensor kB{"Org B",
                   "bbbbbbbb00004000800000000000000b",
                   "bbbbbbbb-0000-4000-8000-00000000000b",
                   "description-of-org-b",
                   "tag-of-org-b",
                   "198.51.100.66",
                   "error-of-org-b",
                   "987654",
                   "4242424242"};
// A sensor nobody assigned: the default organisation's.
const OrgSensor kD{"default",
                   "dddddddd00004000800000000000000d",
                   "dddddddd-0000-4000-8000-00000000000d",
                   "description-of-org-d",
                   "tag-of-org-d",
                   "198.51.100.99",
                   "error-of-org-d",
                   "55501",
                   "31313131"};
// Today's server total of type 3 (A + B + D): a user seeing it sees the others' statistics.
const std::string kServerTotal = std::to_string(123457 + 987654 + 55501);

std::vector<std::string> markers(const OrgSensor& s) {
  return {s.sensor, s.dashed, s.description, s.tag, s.ip, s.error, s.packets, s.bytes};
}

class WebOrgsTest : public d4::webtest::SignedInWebTest {
 protected:
  void SetUp() override {
    SignedInWebTest::SetUp();
    for (const auto* s : {&kA, &kB, &kD}) seed_sensor(*s);
    web->meta().command_ok({"ZINCRBY", "daily_type:" + d4::test::local_day(), kServerTotal, "3"});
    web->meta().command_ok({"SADD", "server:accepted_type", "3"});
    org_a = create_org("Org A");
    org_b = create_org("Org B");
    assign_sensor(org_a, kA.sensor);
    assign_sensor(org_b, kB.sensor);
    tokens["admin"] = admin_token;
    tokens["a"] = make_user("a@example.test", "user", org_a);
    tokens["b"] = make_user("b@example.test", "user", org_b);
    tokens["d"] = make_user("d@example.test", "user", "");
    // Each organisation's queue of its sensor and alert rule on it, made by its own user.
    for (const auto& [who, s] : {std::pair{"a", &kA}, std::pair{"b", &kB}, std::pair{"d", &kD}}) {
      auto q = with_token(tokens[who])
                   .call("POST", "/api/v1/queues",
                         {{"type", 3}, {"sensors", {s->sensor}}, {"description", s->tag}});
      ASSERT_EQ(q.status, 200) << who << " " << q.body;
      auto rule =
          with_token(tokens[who])
              .call("POST", "/api/v1/alerts/rules",
                    {{"kind", "sensor_silent"}, {"scope", "sensor:" + s->sensor}, {"name", s->description}});
      ASSERT_EQ(rule.status, 200) << who << " " << rule.body;
    }
  }

  void seed_sensor(const OrgSensor& s) {
    auto& m = web->meta();
    const std::string d = d4::test::local_day(), now = std::to_string(std::time(nullptr));
    m.command_ok({"SADD", std::string(keys::kSensorIndex), s.sensor});
    m.command_ok({"SADD", "registered_uuid", s.sensor});
    m.command_ok({"HSET", "metadata_uuid:" + s.sensor, "description", s.description, "first_seen", now,
                  "last_seen", now, "Error", s.error});
    m.command_ok({"SADD", "sensor:tags:" + s.sensor, s.tag});
    m.command_ok({"LPUSH", "list_uuid_ip:" + s.sensor, s.ip + "-20261206090000"});
    m.command_ok({"SADD", "all_types_by_uuid:" + s.sensor, "3"});
    m.command_ok({"ZINCRBY", "daily_uuid:" + d, s.packets, s.sensor});
    m.command_ok({"ZINCRBY", "stat_uuid_type:" + d + ":" + s.sensor, s.packets, "3"});
    m.command_ok({"ZINCRBY", "stat_uuid_type_bytes:" + d + ":" + s.sensor, s.bytes, "3"});
    m.command_ok({"SADD", "sensors_monitoring:sensors_error", s.sensor});
    m.command_ok({"SADD", "blacklist_uuid", s.sensor});
    m.command_ok({"SADD", "blacklist_ip_by_uuid", s.sensor});
    m.command_ok({"LPUSH", "sensor:errors:" + s.sensor,
                  json{{"time", 1}, {"reason", "hmac"}, {"detail", s.error}, {"source", "server"}}.dump()});
    web->stream().command_ok({"SADD", "active_connection", s.sensor});
    // A firing alert about the sensor, as d4-alerts keeps it, from a global rule.
    d4::alerts::InstanceState alert;
    alert.rule_id = "00000000000000a1";
    alert.instance = "sensor:" + s.sensor;
    alert.rule_name = "every sensor silent";
    alert.kind = "sensor_silent";
    alert.scope = "global";
    alert.labels = {{"sensor", s.sensor}};
    alert.firing = true;
    alert.since = static_cast<double>(std::time(nullptr));
    alert.summary = "sensor " + s.sensor + " silent (" + s.tag + ")";
    d4::alerts::StateStore(m).save({&alert}, {});
  }
  std::string create_org(const std::string& name) {
    auto r = admin.call("POST", "/api/v1/organisations", {{"name", name}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json()["organisation"]["uuid"].get<std::string>();
  }
  void assign_sensor(const std::string& org, const std::string& sensor) {
    auto r = admin.call("POST", "/api/v1/organisations/" + org + "/sensors", {{"uuid", sensor}});
    EXPECT_EQ(r.status, 200) << r.body;
  }
  std::string make_user(const std::string& email, const std::string& role, const std::string& org) {
    return SignedInWebTest::make_user(email, d4::webtest::NewUser{role, d4::webtest::kUserPassword, org});
  }

  std::string org_a, org_b;
  std::map<std::string, std::string> tokens;
};

// Every read of the API and every page, with the own sensor in the paths where one is needed.
std::vector<std::string> api_reads(const OrgSensor& own) {
  const std::string s = "/api/v1/sensors/" + own.sensor;
  return {"/api/v1/sensors",
          "/api/v1/sensors?per_page=1000&status=all",
          "/api/v1/sensors?q=bbbbbbbb",
          "/api/v1/sensors?q=org",
          "/api/v1/sensors?status=error",
          "/api/v1/sensors?status=connected",
          "/api/v1/sensors/monitoring/errors",
          s,
          s + "/stats?days=3",
          "/api/v1/dashboard",
          "/api/v1/health",
          "/api/v1/stats/daily?days=3",
          "/api/v1/server",
          "/api/v1/server/blocklist/uuids",
          "/api/v1/server/blocklist/uuids?q=b",
          "/api/v1/server/blocklist/ips",
          "/api/v1/queues",
          "/api/v1/alerts",
          "/api/v1/alerts?status=all",
          "/api/v1/alerts/rules",
          "/api/v1/organisations",
          "/api/v1/me",
          "/api/v1/backscatter/stats",
          "/api/v1/backscatter/victims?window=0"};
}

std::vector<std::string> page_reads(const OrgSensor& own) {
  return {"/",
          "/sensors",
          "/sensors?q=org",
          "/sensors?status=error",
          "/sensors/" + own.sensor,
          "/server",
          "/queues",
          "/queues/new",
          "/alerts",
          "/alerts?status=all",
          "/alerts/rules/new",
          "/profile",
          "/backscatter"};
}

void expect_no_leak(const std::string& who, const std::string& url, const HttpResult& r,
                    const std::vector<const OrgSensor*>& others) {
  EXPECT_LT(r.status, 500) << who << " " << url;
  for (const auto* o : others)
    for (const auto& m : markers(*o))
      EXPECT_EQ(r.body.find(m), std::string::npos)
          << who << " " << url << " shows '" << m << "' of " << o->org_name;
  EXPECT_EQ(r.body.find(kServerTotal), std::string::npos) << who << " " << url << " shows the server total";
}

TEST_F(WebOrgsTest, NoAnswerToAnOrganisationsUserShowsAnotherOrganisationsSensors) {
  struct Viewer {
    std::string key, email;
    const OrgSensor* own;
    std::vector<const OrgSensor*> others;
  };
  for (const auto& v :
       {Viewer{"a", "a@example.test", &kA, {&kB, &kD}}, Viewer{"b", "b@example.test", &kB, {&kA, &kD}},
        Viewer{"d", "d@example.test", &kD, {&kA, &kB}}}) {
    Client api = with_token(tokens[v.key]);
    for (const auto& url : api_reads(*v.own)) expect_no_leak(v.key + " (API)", url, api.get(url), v.others);
    Client browser = signed_in(v.email);
    for (const auto& url : page_reads(*v.own))
      expect_no_leak(v.key + " (page)", url, browser.get(url), v.others);
    // Its own sensor is there, with its statistics.
    auto list = api.get("/api/v1/sensors").body;
    EXPECT_NE(list.find(v.own->sensor), std::string::npos) << v.key;
    EXPECT_NE(list.find(v.own->description), std::string::npos) << v.key;
    EXPECT_NE(api.get("/api/v1/dashboard").body.find(v.own->packets), std::string::npos) << v.key;
    EXPECT_NE(api.get("/api/v1/stats/daily?days=3").body.find(v.own->packets), std::string::npos) << v.key;
    EXPECT_NE(api.get("/api/v1/queues").body.find(v.own->tag), std::string::npos) << v.key;
    EXPECT_NE(api.get("/api/v1/alerts/rules").body.find(v.own->description), std::string::npos) << v.key;
    auto alerts = api.get("/api/v1/alerts").json();
    EXPECT_EQ(alerts["firing"], 1) << v.key;
    EXPECT_NE(alerts.dump().find(v.own->tag), std::string::npos) << v.key;
    EXPECT_NE(browser.get("/sensors").body.find(v.own->description), std::string::npos) << v.key;
    // Server-wide results count every organisation's traffic.
    EXPECT_EQ(api.get("/api/v1/backscatter/stats").status, 403);
  }
}

// A queue granted by one organisation to another (docs/web.md#queue-grants): the grantee sees that
// queue and nothing else of the granting organisation's sensor in any answer; a third organisation
// sees nothing of it at all.
TEST_F(WebOrgsTest, AGrantedQueueShowsTheGranteeTheQueueOnlyAndAThirdOrganisationNothing) {
  auto g = with_token(tokens["admin"])
               .call("POST", "/api/v1/grants",
                     {{"from", org_a},
                      {"to", org_b},
                      {"type", 3},
                      {"sensors", {kA.sensor}},
                      {"description", "granted-to-b"}});
  ASSERT_EQ(g.status, 200) << g.body;
  const std::string queue = g.json()["grant"]["id"];
  struct Viewer {
    std::string key, email;
    const OrgSensor* own;
    std::vector<const OrgSensor*> others;
    bool grantee;
  };
  for (const auto& v : {Viewer{"b", "b@example.test", &kB, {&kA, &kD}, true},
                        Viewer{"d", "d@example.test", &kD, {&kA, &kB}, false}}) {
    Client api = with_token(tokens[v.key]);
    auto reads = api_reads(*v.own);
    for (const std::string& extra : {std::string("/api/v1/grants"), std::string("/api/v1/grants/audit"),
                                     "/api/v1/queues/" + queue, "/api/v1/queues/" + queue + "/preview"})
      reads.push_back(extra);
    for (const auto& url : reads) expect_no_leak(v.key + " (API)", url, api.get(url), v.others);
    Client browser = signed_in(v.email);
    auto pages = page_reads(*v.own);
    pages.push_back("/grants");
    pages.push_back("/queues/" + queue);
    for (const auto& url : pages) expect_no_leak(v.key + " (page)", url, browser.get(url), v.others);
    EXPECT_EQ(api.get("/api/v1/queues").body.find(queue) != std::string::npos, v.grantee) << v.key;
    EXPECT_EQ(api.get("/api/v1/queues/" + queue).status, v.grantee ? 200 : 404) << v.key;
    EXPECT_EQ(browser.get("/queues/" + queue).status, v.grantee ? 200 : 404) << v.key;
    EXPECT_EQ(api.get("/api/v1/grants").json()["items"].size(), v.grantee ? 1u : 0u) << v.key;
  }
}

TEST_F(WebOrgsTest, TheAdministratorSeesEveryOrganisation) {
  Client api = with_token(tokens["admin"]);
  for (const std::string url : {"/api/v1/sensors", "/api/v1/sensors/monitoring/errors", "/api/v1/dashboard",
                                "/api/v1/stats/daily?days=3", "/api/v1/server",
                                "/api/v1/server/blocklist/uuids", "/api/v1/alerts/rules"}) {
    auto body = api.get(url).body;
    for (const auto* s : {&kA, &kB, &kD})
      EXPECT_NE(body.find(s->sensor), std::string::npos) << url << " " << s->org_name;
  }
  EXPECT_EQ(api.get("/api/v1/alerts").json()["firing"], 3);
  auto queues = api.get("/api/v1/queues").body;
  for (const auto* s : {&kA, &kB, &kD}) EXPECT_NE(queues.find(s->tag), std::string::npos) << s->org_name;
  EXPECT_NE(api.get("/api/v1/dashboard").body.find(kServerTotal), std::string::npos);
  auto page = admin.get("/sensors").body;
  for (const auto* s : {&kA, &kB, &kD})
    EXPECT_NE(page.find(s->description), std::string::npos) << s->org_name;
  auto orgs = admin.get("/organisations");
  ASSERT_EQ(orgs.status, 200);
  EXPECT_NE(orgs.body.find("Org A"), std::string::npos);
  EXPECT_NE(orgs.body.find(kB.sensor), std::string::npos);
  EXPECT_EQ(with_token(tokens["a"]).get("/api/v1/backscatter/stats").status, 403);
  EXPECT_NE(api.get("/api/v1/backscatter/stats").status, 403);
}

// An API call on a sensor: method, path after /api/v1/sensors/<id>, body.
struct SensorCall {
  std::string method, suffix;
  json body = nullptr;
};

// Every endpoint that names a sensor.
const std::vector<SensorCall> kSensorCalls = {
    {"GET", ""},
    {"GET", "/stats"},
    {"DELETE", ""},
    {"POST", "/approve"},
    {"POST", "/reject"},
    {"POST", "/unregister"},
    {"GET", "/key"},
    {"PUT", "/key", {{"key", "abc"}}},
    {"POST", "/key/rotate"},
    {"DELETE", "/key"},
    {"PUT", "/backlog", {{"limit", 100}}},
    {"PUT", "/rate-limit", {{"bytes_per_second", 1000}}},
    {"PUT", "/description", {{"description", "overwritten"}}},
    {"PUT", "/tags", {{"tags", json::array({"overwritten"})}}},
    {"PUT", "/monitoring", {{"delta_time", 60}}},
    {"DELETE", "/monitoring"},
    {"POST", "/kick"},
    {"POST", "/block"},
    {"DELETE", "/block"},
    {"POST", "/block-ips"},
    {"DELETE", "/block-ips"},
    {"DELETE", "/errors"},
};

void expect_same_answer(const HttpResult& foreign, const HttpResult& unknown, const std::string& what) {
  EXPECT_EQ(foreign.status, unknown.status) << what;
  EXPECT_EQ(foreign.body, unknown.body) << what;
}

// Every endpoint that names a sensor: another organisation's sensor answers exactly like a sensor
// the server never saw, and is left untouched.
TEST_F(WebOrgsTest, EverySensorEndpointAnswersAForeignSensorExactlyLikeAnUnknownOne) {
  for (const std::string who : {"a", "d"}) {
    Client c = with_token(tokens[who]);
    for (const auto& call : kSensorCalls) {
      auto foreign = c.call(call.method, "/api/v1/sensors/" + kB.sensor + call.suffix, call.body);
      auto unknown =
          c.call(call.method, "/api/v1/sensors/" + std::string(kUnknownSensor) + call.suffix, call.body);
      expect_same_answer(foreign, unknown, who + " " + call.method + " " + call.suffix);
      if (call.method == "GET" && call.suffix.empty()) {
        EXPECT_EQ(foreign.status, 404);
      }
    }
  }
  // Nothing of B's sensor changed.
  auto& m = web->meta();
  EXPECT_EQ(m.command({"HGET", "metadata_uuid:" + kB.sensor, "description"}).as_string(), kB.description);
  EXPECT_EQ(m.command({"SISMEMBER", "registered_uuid", kB.sensor}).integer, 1);
  EXPECT_EQ(m.command({"SMEMBERS", "sensor:tags:" + kB.sensor}).as_strings(),
            std::vector<std::string>{kB.tag});
}

// The dashed form, a queue of it, an alert rule on it, its alerts.
TEST_F(WebOrgsTest, AForeignSensorsDashedFormQueuesRulesAndAlertsAnswerLikeAnUnknownSensors) {
  for (const std::string who : {"a", "d"}) {
    Client c = with_token(tokens[who]);
    expect_same_answer(c.get("/api/v1/sensors/" + kB.dashed),
                       c.get("/api/v1/sensors/00000000-0000-4000-8000-000000000001"), who + " dashed");
    expect_same_answer(c.call("POST", "/api/v1/queues", {{"type", 3}, {"sensors", {kB.sensor}}}),
                       c.call("POST", "/api/v1/queues", {{"type", 3}, {"sensors", {kUnknownSensor}}}),
                       who + " queue");
    expect_same_answer(
        c.call("POST", "/api/v1/alerts/rules", {{"kind", "sensor_silent"}, {"scope", "sensor:" + kB.sensor}}),
        c.call("POST", "/api/v1/alerts/rules",
               {{"kind", "sensor_silent"}, {"scope", "sensor:" + std::string(kUnknownSensor)}}),
        who + " rule");
    expect_same_answer(c.get("/api/v1/alerts?sensor=" + kB.sensor),
                       c.get("/api/v1/alerts?sensor=" + std::string(kUnknownSensor)), who + " alerts");
  }
}

TEST_F(WebOrgsTest, AForeignSensorsPageIsNotFoundLikeAnUnknownSensorsAndShowsNothingOfIt) {
  Client browser = signed_in("a@example.test");
  auto foreign = browser.get("/sensors/" + kB.sensor),
       unknown = browser.get("/sensors/" + std::string(kUnknownSensor));
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.status, unknown.status);
  EXPECT_EQ(foreign.body.find(kB.description), std::string::npos);
}

// Queues: only group queues of the own sensors; the queues of a type, fed by every organisation's
// sensors, are the administrators'.
TEST_F(WebOrgsTest, OrganisationsUsersQueuesAreGroupsOfTheirOwnSensors) {
  Client a = with_token(tokens["a"]);
  auto by_type = a.call("POST", "/api/v1/queues", {{"type", 3}});
  EXPECT_EQ(by_type.status, 400) << by_type.body;
  auto admin_queue = with_token(tokens["admin"]).call("POST", "/api/v1/queues", {{"type", 3}});
  ASSERT_EQ(admin_queue.status, 200);
  auto id = admin_queue.json()["queue"]["id"].get<std::string>();
  EXPECT_EQ(a.get("/api/v1/queues/" + id).status, 404);
  EXPECT_EQ(a.get("/api/v1/queues/" + id + "/preview").status, 404);
  EXPECT_EQ(a.get("/api/v1/queues/" + id).body,
            a.get("/api/v1/queues/00000000-0000-4000-8000-000000000000").body);
  // IP blocks cut off every organisation's sensors behind an address.
  EXPECT_EQ(a.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "192.0.2.1"}}).status, 403);
}

// Alert rules: an organisation's users manage their sensors' rules and their organisation's
// rules, not another organisation's nor global ones.
TEST_F(WebOrgsTest, OrganisationsUsersManageTheirOrganisationsAlertRules) {
  Client a = with_token(tokens["a"]);
  auto own = a.call("POST", "/api/v1/alerts/rules", {{"kind", "sensor_silent"}, {"scope", "org:" + org_a}});
  ASSERT_EQ(own.status, 200) << own.body;
  auto id = own.json()["rule"]["id"].get<std::string>();
  EXPECT_EQ(a.call("PUT", "/api/v1/alerts/rules/" + id, {{"name", "renamed"}}).status, 200);
  EXPECT_EQ(
      a.call("POST", "/api/v1/alerts/rules", {{"kind", "sensor_silent"}, {"scope", "org:" + org_b}}).status,
      403);
  EXPECT_EQ(a.call("POST", "/api/v1/alerts/rules", {{"kind", "sensor_silent"}, {"scope", "global"}}).status,
            403);
  Client b = with_token(tokens["b"]);
  EXPECT_EQ(b.get("/api/v1/alerts/rules/" + id).status, 404);
  EXPECT_EQ(b.call("DELETE", "/api/v1/alerts/rules/" + id).status, 404);
  EXPECT_EQ(b.get("/api/v1/alerts/rules").body.find("renamed"), std::string::npos);
  EXPECT_EQ(a.call("DELETE", "/api/v1/alerts/rules/" + id).status, 200);
}

TEST_F(WebOrgsTest, AdministratorsManageOrganisationsAndTheirMembers) {
  Client a = with_token(tokens["a"]);
  EXPECT_EQ(a.call("POST", "/api/v1/organisations", {{"name", "x"}}).status, 403);
  EXPECT_EQ(a.get("/api/v1/organisations/" + org_b).status, 404);
  auto mine = a.get("/api/v1/organisations");
  ASSERT_EQ(mine.status, 200);
  ASSERT_EQ(mine.json()["items"].size(), 1u);
  EXPECT_EQ(mine.json()["items"][0]["uuid"], org_a);
  // A UUID given (the MISP organisation's), any form; taken twice: 409.
  auto c = admin.call("POST", "/api/v1/organisations",
                      {{"name", "Org C"}, {"uuid", "5C1A3B5E-0000-4000-8000-00000000C0DE"}});
  ASSERT_EQ(c.status, 200) << c.body;
  const std::string org_c = "5c1a3b5e00004000800000000000c0de";
  EXPECT_EQ(c.json()["organisation"]["uuid"], org_c);
  EXPECT_EQ(admin.call("POST", "/api/v1/organisations", {{"name", "again"}, {"uuid", org_c}}).status, 409);
  EXPECT_EQ(admin.call("POST", "/api/v1/organisations", {{"name", ""}}).status, 400);
  ASSERT_EQ(admin.call("PUT", "/api/v1/organisations/" + org_c, {{"name", "Org C renamed"}}).status, 200);
  EXPECT_EQ(web->meta().command({"HGET", keys::organisation(org_c), "name"}).as_string(), "Org C renamed");
  // Moving A's sensor and user to C: A's user now sees C's sensors (A's), then nothing once C is gone.
  ASSERT_EQ(
      admin.call("POST", "/api/v1/organisations/" + org_c + "/users", {{"email", "a@example.test"}}).status,
      200);
  EXPECT_EQ(
      admin.call("POST", "/api/v1/organisations/" + org_c + "/users", {{"email", "nobody@x.test"}}).status,
      404);
  EXPECT_EQ(a.get("/api/v1/sensors").body.find(kA.sensor), std::string::npos);
  ASSERT_EQ(admin.call("POST", "/api/v1/organisations/" + org_c + "/sensors", {{"uuid", kA.dashed}}).status,
            200);
  EXPECT_NE(a.get("/api/v1/sensors").body.find(kA.sensor), std::string::npos);
  // The default organisation stays; deleting C gives its sensor and user back to it.
  auto def = web->meta().command({"GET", std::string(keys::kDefaultOrganisation)}).as_string().value_or("");
  EXPECT_EQ(admin.call("DELETE", "/api/v1/organisations/" + def).status, 400);
  ASSERT_EQ(admin.call("DELETE", "/api/v1/organisations/" + org_c).status, 200);
  EXPECT_EQ(web->meta().command({"HGET", std::string(keys::kSensorOrganisation), kA.sensor}).is_nil(), true);
  auto d_list = with_token(tokens["d"]).get("/api/v1/sensors").body;
  EXPECT_NE(d_list.find(kA.sensor), std::string::npos) << "back in the default organisation";
  EXPECT_NE(a.get("/api/v1/sensors").body.find(kD.sensor), std::string::npos) << "its user too";
  EXPECT_EQ(a.get("/organisations").status, 303) << "pages take sessions only: to the login form";
  EXPECT_EQ(signed_in("b@example.test").get("/organisations").status, 403);
}

// A sensor registered by an organisation's account belongs to that organisation.
TEST_F(WebOrgsTest, ASensorRegisteredByAnOrganisationsUserIsItsOwn) {
  const std::string fresh = "aaaaaaaa00004000800000000000fee1";
  auto r = with_token(tokens["a"])
               .call("POST", "/api/v1/add/sensor/register", {{"uuid", fresh}, {"hmac_key", "k"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(web->meta().command({"HGET", std::string(keys::kSensorOrganisation), fresh}).as_string(), org_a);
  EXPECT_NE(with_token(tokens["a"]).get("/api/v1/sensors?status=pending").body.find(fresh),
            std::string::npos);
  EXPECT_EQ(with_token(tokens["b"]).get("/api/v1/sensors?status=pending").body.find(fresh),
            std::string::npos);
  EXPECT_EQ(with_token(tokens["b"]).get("/api/v1/server").body.find(fresh), std::string::npos);
}

// A server without other organisations is unchanged: its users see every sensor (the rest of
// tests/web runs that way), and the default organisation exists from the first start.
TEST(WebOrgsDefault, TheDefaultOrganisationIsCreatedAtStartAndHoldsEverything) {
  auto web = d4::webtest::start_web(
      "default_organisation_name = \"CIRCL\"\n"
      "default_organisation_uuid = \"55f6ea5e-2c60-40e5-964f-47a8950d210f\"\n");
  Client admin = d4::webtest::SignedInAdmin(*web).session;
  EXPECT_EQ(web->meta().command({"GET", std::string(keys::kDefaultOrganisation)}).as_string(),
            "55f6ea5e2c6040e5964f47a8950d210f");
  auto orgs = admin.get("/api/v1/organisations").json();
  ASSERT_EQ(orgs["items"].size(), 1u);
  EXPECT_EQ(orgs["items"][0]["name"], "CIRCL");
  EXPECT_EQ(orgs["items"][0]["is_default"], true);
}

}  // namespace
