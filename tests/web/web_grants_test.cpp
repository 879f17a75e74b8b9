// Queue grants between organisations (docs/web.md#queue-grants): the real d4-web on a real
// redis-server with three organisations. Org A's administrator grants org B a queue on A's sensor;
// B's users see and use that queue and nothing else of A's sensors, org C sees nothing; revocation
// deletes the queue and B's access; every grant and revocation is in the audit trail that the
// administrators of A, B and the server read (and nobody else). A real d4-worker feeds the granted
// queue from A's sensor's data and stops after the revocation.
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/keys.hpp"
#include "web_fixture.hpp"

using d4::webtest::Client;
using d4::webtest::HttpResult;
using d4::webtest::NewUser;
using d4::webtest::WebOptions;
using nlohmann::json;
namespace keys = d4::core::keys;

namespace {

const std::string kSensorA = "a0a0a0a000004000800000000000000a";
const std::string kSensorADashed = "a0a0a0a0-0000-4000-8000-00000000000a";
const std::string kSensorB = "b0b0b0b000004000800000000000000b";
const std::string kDescriptionA = "secret-description-of-a";

class WebGrantsTest : public d4::webtest::SignedInWebTest {
 protected:
  WebOptions options() const override {
    return d4::webtest::admin_options("max_grants_per_organisation = 2\n");
  }
  void SetUp() override {
    SignedInWebTest::SetUp();
    for (const auto& [s, d] :
         {std::pair{kSensorA, kDescriptionA}, std::pair{kSensorB, std::string("of-b")}}) {
      web->meta().command_ok({"SADD", std::string(keys::kSensorIndex), s});
      web->meta().command_ok({"SADD", "registered_uuid", s});
      web->meta().command_ok({"HSET", "metadata_uuid:" + s, "description", d, "first_seen", "1"});
    }
    web->meta().command_ok({"SADD", "server:accepted_type", "3"});
    org_a = create_org("Org A");
    org_b = create_org("Org B");
    org_c = create_org("Org C");
    assign(org_a, "sensors", {{"uuid", kSensorA}});
    assign(org_b, "sensors", {{"uuid", kSensorB}});
    tokens["admin"] = admin_token;
    tokens["a_admin"] = org_user("a-admin@example.test", org_a, true);
    tokens["a_user"] = org_user("a-user@example.test", org_a, false);
    tokens["b_admin"] = org_user("b-admin@example.test", org_b, true);
    tokens["b_user"] = org_user("b-user@example.test", org_b, false);
    tokens["c_admin"] = org_user("c-admin@example.test", org_c, true);
    tokens["c_user"] = org_user("c-user@example.test", org_c, false);
  }

  std::string create_org(const std::string& name) {
    auto r = admin.call("POST", "/api/v1/organisations", {{"name", name}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json()["organisation"]["uuid"].get<std::string>();
  }
  void assign(const std::string& org, const std::string& what, const json& body) {
    auto r = admin.call("POST", "/api/v1/organisations/" + org + "/" + what, body);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  std::string org_user(const std::string& email, const std::string& org, bool org_admin) {
    NewUser u;
    u.organisation = org;
    auto token = make_user(email, u);
    assign(org, "users", {{"email", email}, {"org_admin", org_admin}});
    return token;
  }
  Client as(const std::string& who) { return with_token(tokens.at(who)); }
  // Org A's administrator grants org B a type-3 queue on A's sensor; returns the queue id.
  std::string grant_a_to_b() {
    auto r =
        as("a_admin").call("POST", "/api/v1/grants",
                           {{"to", org_b}, {"type", 3}, {"sensors", {kSensorA}}, {"description", "for B"}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json()["grant"]["id"].get<std::string>();
  }
  json audit_as(const std::string& who) {
    auto r = as(who).get("/api/v1/grants/audit");
    EXPECT_EQ(r.status, 200) << who << " " << r.body;
    return r.json()["items"];
  }

  std::string org_a, org_b, org_c;
  std::map<std::string, std::string> tokens;
};

bool mentions_sensor_a(const std::string& body) {
  return body.find(kSensorA) != std::string::npos || body.find(kSensorADashed) != std::string::npos ||
         body.find(kDescriptionA) != std::string::npos;
}

TEST_F(WebGrantsTest, GrantShowsTheQueueToTheGranteeOnly) {
  const auto queue = grant_a_to_b();
  // An ordinary group queue of A's sensor, named as analyzers expect.
  EXPECT_EQ(web->meta().command({"SMEMBERS", "analyzer_sensor_group:" + queue}).as_strings(),
            std::vector<std::string>{kSensorA});
  auto b_list = as("b_user").get("/api/v1/queues");
  ASSERT_EQ(b_list.status, 200);
  ASSERT_EQ(b_list.json()["items"].size(), 1u) << b_list.body;
  const json q = b_list.json()["items"][0];
  EXPECT_EQ(q["id"], queue);
  EXPECT_EQ(q["list_key"], "analyzer:3:" + queue);
  EXPECT_EQ(q["granted_by"]["uuid"], org_a);
  EXPECT_TRUE(q["sensors"].empty());
  // The grantee sees nothing else of A's sensor: not in the queue, the grant, its pages or the
  // sensor routes.
  for (const std::string& path :
       std::vector<std::string>{"/api/v1/queues", "/api/v1/queues/" + queue, "/api/v1/grants",
                                "/api/v1/grants/audit", "/api/v1/sensors", "/api/v1/dashboard"}) {
    auto r = as("b_admin").get(path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_FALSE(mentions_sensor_a(r.body)) << path << " " << r.body;
  }
  EXPECT_EQ(as("b_user").get("/api/v1/sensors/" + kSensorA).status, 404);
  EXPECT_EQ(as("b_user").get("/api/v1/queues/" + queue + "/preview").status, 200);
  auto b = signed_in("b-user@example.test");
  for (const std::string& page :
       std::vector<std::string>{"/queues", "/queues/" + queue, "/grants", "/sensors"}) {
    auto r = b.get(page);
    EXPECT_EQ(r.status, 200) << page;
    EXPECT_FALSE(mentions_sensor_a(r.body)) << page;
  }
  EXPECT_NE(b.get("/queues").body.find(queue), std::string::npos);
  // A third organisation sees nothing of it.
  for (const char* path : {"/api/v1/queues", "/api/v1/grants"}) {
    auto r = as("c_admin").get(path);
    EXPECT_EQ(r.json()["items"].size(), 0u) << path << " " << r.body;
  }
  EXPECT_EQ(as("c_user").get("/api/v1/queues/" + queue).status, 404);
  EXPECT_EQ(as("c_user").get("/api/v1/queues/" + queue + "/preview").status, 404);
  EXPECT_EQ(signed_in("c-user@example.test").get("/queues/" + queue).status, 404);
  // The granting side sees its sensors in the grant.
  auto a = as("a_user").get("/api/v1/grants").json()["items"];
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["sensors"], json::array({kSensorA}));
  EXPECT_FALSE(a[0]["may_revoke"].get<bool>());
}

TEST_F(WebGrantsTest, OnlyTheGrantingSidesAdministratorsGrantAndRevoke) {
  // A user who does not administer its organisation, a sensor of another organisation, the own
  // organisation, an unknown one, and another organisation's administrator granting A's sensor.
  EXPECT_EQ(as("a_user").call("POST", "/api/v1/grants", {{"to", org_b}, {"type", 3}}).status, 403);
  auto foreign =
      as("a_admin").call("POST", "/api/v1/grants", {{"to", org_b}, {"type", 3}, {"sensors", {kSensorB}}});
  EXPECT_EQ(foreign.status, 400) << foreign.body;
  auto unknown_sensor =
      as("a_admin").call("POST", "/api/v1/grants",
                         {{"to", org_b}, {"type", 3}, {"sensors", {"c0c0c0c000004000800000000000000c"}}});
  // An unknown sensor and another organisation's are refused alike.
  EXPECT_EQ(unknown_sensor.status, 400);
  for (const auto* r : {&foreign, &unknown_sensor})
    EXPECT_NE(r->body.find("is not one of the granting organisation's sensors"), std::string::npos)
        << r->body;
  EXPECT_EQ(as("a_admin").call("POST", "/api/v1/grants", {{"to", org_a}, {"type", 3}}).status, 400);
  EXPECT_EQ(as("a_admin")
                .call("POST", "/api/v1/grants", {{"to", "0ddba11a00004000800000000000beef"}, {"type", 3}})
                .status,
            404);
  EXPECT_EQ(
      as("b_admin").call("POST", "/api/v1/grants", {{"from", org_a}, {"to", org_c}, {"type", 3}}).status,
      403);
  EXPECT_EQ(web->meta().command({"HLEN", keys::kQueueGrants}).integer, 0);

  const auto queue = grant_a_to_b();
  // The grantee's side and a third organisation may not revoke it (the third does not see it).
  EXPECT_EQ(as("b_admin").call("DELETE", "/api/v1/grants/" + queue).status, 403);
  EXPECT_EQ(as("c_admin").call("DELETE", "/api/v1/grants/" + queue).status, 404);
  EXPECT_EQ(as("b_user").call("DELETE", "/api/v1/queues/" + queue).status, 403);
  // The budget: two grants per organisation here.
  auto second = as("a_admin").call("POST", "/api/v1/grants", {{"to", org_c}, {"type", 3}});
  EXPECT_EQ(second.status, 200) << second.body;  // the organisation's assigned sensors
  auto third = as("a_admin").call("POST", "/api/v1/grants", {{"to", org_c}, {"type", 3}});
  EXPECT_EQ(third.status, 409) << third.body;
  EXPECT_NE(third.body.find("max_grants_per_organisation"), std::string::npos);

  auto r = as("a_admin").call("DELETE", "/api/v1/grants/" + queue);
  ASSERT_EQ(r.status, 200) << r.body;
  // The queue is gone with its access.
  EXPECT_EQ(web->meta().command({"EXISTS", "analyzer:" + queue}).integer, 0);
  EXPECT_EQ(as("b_user").get("/api/v1/queues/" + queue).status, 404);
  EXPECT_EQ(as("b_user").get("/api/v1/queues").json()["items"].size(), 0u);
  EXPECT_EQ(as("b_user").get("/api/v1/grants").json()["items"].size(), 0u);
  EXPECT_EQ(as("a_admin").call("DELETE", "/api/v1/grants/" + queue).status, 404);
}

TEST_F(WebGrantsTest, AuditTrailForBothOrganisationsAdministratorsAndTheServers) {
  const auto queue = grant_a_to_b();
  ASSERT_EQ(as("a_admin").call("DELETE", "/api/v1/grants/" + queue).status, 200);
  const auto c_queue = as("a_admin")
                           .call("POST", "/api/v1/grants", {{"to", org_c}, {"type", 3}})
                           .json()["grant"]["id"]
                           .get<std::string>();
  auto all = audit_as("admin");
  ASSERT_EQ(all.size(), 3u) << all.dump();
  EXPECT_EQ(all[0]["action"], "granted");  // newest first
  EXPECT_EQ(all[0]["grant"], c_queue);
  EXPECT_EQ(all[1]["action"], "revoked");
  EXPECT_EQ(all[1]["by"], "a-admin@example.test");
  EXPECT_EQ(all[2]["action"], "granted");
  EXPECT_EQ(all[2]["from"]["name"], "Org A");
  EXPECT_EQ(all[2]["to"]["name"], "Org B");
  EXPECT_EQ(all[2]["sensors"], json::array({kSensorA}));
  EXPECT_GT(all[2]["time"].get<long long>(), 0);
  EXPECT_EQ(audit_as("a_admin").size(), 3u);
  // B's administrator reads B's two entries, without A's sensors; C's administrator C's one.
  auto b = audit_as("b_admin");
  ASSERT_EQ(b.size(), 2u) << b.dump();
  for (const auto& e : b) EXPECT_TRUE(e["sensors"].empty());
  EXPECT_EQ(audit_as("c_admin").size(), 1u);
  // Users who administer nothing do not read it.
  for (const char* who : {"a_user", "b_user", "c_user"})
    EXPECT_EQ(as(who).get("/api/v1/grants/audit").status, 403) << who;
  // On the page too.
  auto page = signed_in("b-admin@example.test").get("/grants");
  EXPECT_NE(page.body.find("Audit trail"), std::string::npos);
  EXPECT_NE(page.body.find("revoked"), std::string::npos);
  EXPECT_FALSE(mentions_sensor_a(page.body));
  EXPECT_EQ(signed_in("b-user@example.test").get("/grants").body.find("Audit trail"), std::string::npos);
}

// The page's forms without JavaScript: an organisation's administrator grants and revokes.
TEST_F(WebGrantsTest, PageGrantsAndRevokesWithPlainForms) {
  auto a = signed_in("a-admin@example.test");
  auto page = a.get("/grants");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("Grant a queue"), std::string::npos);
  auto r = a.form("/api/v1/grants", {{"csrf_token", a.csrf},
                                     {"next", "/grants"},
                                     {"to", org_b},
                                     {"type", "3"},
                                     {"sensors", kSensorA},
                                     {"description", "by form"}});
  ASSERT_EQ(r.status, 303) << r.body;
  EXPECT_NE(r.header("Location").find("flash="), std::string::npos) << r.header("Location");
  auto grants = as("a_admin").get("/api/v1/grants").json()["items"];
  ASSERT_EQ(grants.size(), 1u);
  const auto queue = grants[0]["id"].get<std::string>();
  page = a.get("/grants");
  EXPECT_NE(page.body.find(queue), std::string::npos);
  EXPECT_NE(page.body.find("by form"), std::string::npos);
  EXPECT_NE(page.body.find("Revoke"), std::string::npos);
  r = a.form("/api/v1/grants/" + queue, {{"csrf_token", a.csrf}, {"next", "/grants"}, {"_method", "DELETE"}});
  ASSERT_EQ(r.status, 303) << r.body;
  EXPECT_EQ(as("a_admin").get("/api/v1/grants").json()["items"].size(), 0u);
}

// Deleting an organisation revokes its grants; a sensor moved to another organisation stops
// feeding the queues its former organisation granted.
TEST_F(WebGrantsTest, OrganisationChangesRevokeOrNarrowGrants) {
  const auto queue = grant_a_to_b();
  assign(org_c, "sensors", {{"uuid", kSensorA}});
  EXPECT_TRUE(web->meta().command({"SMEMBERS", "analyzer_sensor_group:" + queue}).as_strings().empty());
  EXPECT_EQ(audit_as("admin")[0]["action"], "sensor_removed");
  ASSERT_EQ(admin.call("DELETE", "/api/v1/organisations/" + org_b).status, 200);
  EXPECT_EQ(web->meta().command({"HLEN", keys::kQueueGrants}).integer, 0);
  EXPECT_EQ(web->meta().command({"EXISTS", "analyzer:" + queue}).integer, 0);
  EXPECT_EQ(audit_as("admin")[0]["action"], "revoked");
}

// d4-worker feeds the granted queue with the data of the granting organisation's sensor (never
// another organisation's), and stops once the grant is revoked.
TEST_F(WebGrantsTest, WorkerFeedsTheGrantedQueueUntilRevoked) {
  const auto queue = grant_a_to_b();
  d4::test::TempDir dir;
  const std::string port = std::to_string(web->redis().port());
  auto cfg = dir.path() / "worker.toml";
  d4::test::write_text(cfg, "[general]\nlog_level = \"warn\"\n[redis]\nstream = \"127.0.0.1:" + port +
                                "/5\"\nmeta = \"127.0.0.1:" + port + "/0\"\nanalyzer = \"127.0.0.1:" + port +
                                "/2\"\n[workers]\narchive_dir = \"" + (dir.path() / "archive").string() +
                                "\"\nmonitor_interval_seconds = 0\n");
  d4::test::Process::Options po;
  po.stderr_file = dir.path() / "worker.log";
  d4::test::Process worker({(d4::test::bin_dir() / "d4-worker").string(), "-c", cfg.string(), "--types", "3"},
                           po);
  std::uint64_t id = 1000;
  auto session = [&](const std::string& sid, const std::string& sensor, const std::string& lines) {
    web->stream().command_ok({"XADD", keys::stream("3", sid), std::to_string(id++) + "-0", "message", lines,
                              "uuid", sensor, "timestamp", "1700000000", "version", "1"});
    web->stream().command_ok({"SADD", keys::sessions_of_type("3"), sid});
    web->stream().command_ok({"SADD", keys::kEndedSessions, sid});
  };
  auto cleaned = [&](const std::string& sid) {
    return d4::test::eventually(
        [&] {
          return web->stream().command({"EXISTS", keys::stream("3", sid)}).integer == 0 &&
                 web->stream().command({"SISMEMBER", keys::kEndedSessions, sid}).integer == 0 &&
                 web->stream().command({"SISMEMBER", keys::working_sessions("3"), sid}).integer == 0;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(50));
  };
  const std::string list = "analyzer:3:" + queue;
  session("aaaaaaaa-0000-4000-8000-000000000001", kSensorA, "from-a-1\nfrom-a-2\n");
  session("bbbbbbbb-0000-4000-8000-000000000001", kSensorB, "from-b\n");
  ASSERT_TRUE(cleaned("aaaaaaaa-0000-4000-8000-000000000001"))
      << d4::test::read_text(dir.path() / "worker.log");
  ASSERT_TRUE(cleaned("bbbbbbbb-0000-4000-8000-000000000001"));
  EXPECT_EQ(web->analyzer().command({"LRANGE", list, "0", "-1"}).as_strings(),
            (std::vector<std::string>{"from-a-2", "from-a-1"}));
  // The grantee previews the data through the interface.
  auto preview = as("b_user").get("/api/v1/queues/" + queue + "/preview");
  EXPECT_NE(preview.body.find("from-a-1"), std::string::npos);

  ASSERT_EQ(as("a_admin").call("DELETE", "/api/v1/grants/" + queue).status, 200);
  EXPECT_EQ(web->analyzer().command({"EXISTS", list}).integer, 0);
  // d4-worker reads the queues of a sensor again at most a second after it last did
  // (queues::QueueRouter): data arriving after that goes nowhere near the revoked queue.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  session("aaaaaaaa-0000-4000-8000-000000000002", kSensorA, "after-revocation\n");
  ASSERT_TRUE(cleaned("aaaaaaaa-0000-4000-8000-000000000002"));
  EXPECT_EQ(web->analyzer().command({"EXISTS", list}).integer, 0);
  worker.stop();
}

// An organisation's administrators set its own alert channels (docs/alerts.md#organisations-
// channels); its members see where they send, not their secrets; others see nothing; the
// organisation's rules may name only them.
TEST_F(WebGrantsTest, OrganisationsAdministratorsSetTheirOwnAlertChannels) {
  const std::string api = "/api/v1/organisations/" + org_a + "/channels";
  json hook = {{"type", "webhook"},
               {"url", "https://hooks.org-a.example/d4/secret-path"},
               {"headers", {"Authorization: Bearer secret-token"}}};
  EXPECT_EQ(as("a_user").call("PUT", api + "/soc", hook).status, 403);
  EXPECT_EQ(as("b_admin").call("PUT", api + "/soc", hook).status, 403);
  auto r = as("a_admin").call("PUT", api + "/soc", hook);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(web->meta().command({"HGET", keys::org_channels(org_a), "soc"}).str)["url"],
            "https://hooks.org-a.example/d4/secret-path");
  // Refused: plain http (not allowed by this configuration), e-mail without the server's relay, a
  // bad name.
  EXPECT_EQ(
      as("a_admin").call("PUT", api + "/plain", {{"type", "webhook"}, {"url", "http://x.example/"}}).status,
      400);
  auto mail = as("a_admin").call("PUT", api + "/mail", {{"type", "email"}, {"to", {"soc@a.example"}}});
  EXPECT_EQ(mail.status, 400);
  EXPECT_NE(mail.body.find("[alerts.org_email]"), std::string::npos) << mail.body;
  EXPECT_EQ(as("a_admin").call("PUT", api + "/no%20space", hook).status, 400);
  // The administrator reads the whole channel; a member its type and host; another organisation
  // nothing.
  auto full = as("a_admin").get(api).json();
  ASSERT_EQ(full["items"].size(), 1u);
  EXPECT_EQ(full["items"][0]["spec"]["headers"][0], "Authorization: Bearer secret-token");
  auto member = as("a_user").get(api);
  ASSERT_EQ(member.status, 200);
  EXPECT_EQ(member.body.find("secret"), std::string::npos) << member.body;
  EXPECT_NE(member.body.find("webhook to https://hooks.org-a.example"), std::string::npos) << member.body;
  EXPECT_EQ(as("b_admin").get(api).status, 404);
  EXPECT_EQ(signed_in("a-user@example.test").get("/alerts/channels").body.find("secret"), std::string::npos);
  // The organisation's rules name its channels only.
  auto bad = as("a_user").call("POST", "/api/v1/alerts/rules",
                               {{"kind", "sensor_silent"}, {"scope", "org:" + org_a}, {"channels", {"ops"}}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  auto good =
      as("a_user").call("POST", "/api/v1/alerts/rules",
                        {{"kind", "sensor_silent"}, {"scope", "org:" + org_a}, {"channels", {"soc"}}});
  EXPECT_EQ(good.status, 200) << good.body;
  ASSERT_EQ(as("a_admin").call("DELETE", api + "/soc").status, 200);
  EXPECT_EQ(web->meta().command({"EXISTS", keys::org_channels(org_a)}).integer, 0);
}

// The pages an organisation's user reaches from the dashboard by following links (same-site
// pages, breadth first, at most `max_pages`): each answers with its status.
std::map<std::string, int> crawl(Client& c, std::size_t max_pages) {
  static const std::regex href("href=\"(/[^\"#]*)\"");
  std::map<std::string, int> seen;
  std::deque<std::string> todo{"/"};
  while (!todo.empty() && seen.size() < max_pages) {
    auto url = todo.front();
    todo.pop_front();
    if (seen.count(url)) continue;
    auto r = c.get(url);
    seen[url] = r.status;
    for (std::sregex_iterator it(r.body.begin(), r.body.end(), href), end; it != end; ++it) {
      auto link = std::regex_replace((*it)[1].str(), std::regex("&amp;"), "&");
      if (link.rfind("/static/", 0) == 0 || link.rfind("/api/", 0) == 0 || link == "/logout") continue;
      if (!seen.count(link)) todo.push_back(link);
    }
  }
  return seen;
}

// No page offers an organisation's user a link it may not open: Backscatter (every organisation's
// traffic) is not in its navigation, while an administrator has it.
TEST_F(WebGrantsTest, OrganisationUsersAreNeverLinkedToAForbiddenPage) {
  grant_a_to_b();
  for (const char* email : {"a-user@example.test", "b-admin@example.test", "c-user@example.test"}) {
    auto c = signed_in(email);
    auto pages = crawl(c, 80);
    EXPECT_GE(pages.size(), 8u) << email;
    for (const auto& [url, status] : pages) EXPECT_EQ(status, 200) << email << " " << url;
    EXPECT_EQ(pages.count("/backscatter"), 0u) << email;
    EXPECT_EQ(c.get("/backscatter").status, 403) << email;
  }
  auto pages = crawl(admin, 80);
  EXPECT_EQ(pages.count("/backscatter"), 1u);
  for (const auto& [url, status] : pages) EXPECT_LT(status, 400) << url;
}

}  // namespace
