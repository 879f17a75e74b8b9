// d4-web with its meta database on a real 3-master Redis Cluster (cluster key layout; the users and
// cache databases default to the same cluster as their {d4:users}: and {d4:cache}: prefixes): the
// web's own writers of meta keys — organisations, queue grants, self-service registrations (one
// approved and accepted by a d4-server in registration mode on the same cluster, one refused),
// alert rules and the sensor edits — work through the API and the pages, store the reference names
// the single-Redis tests check (tests/web/web_orgs_test.cpp, web_grants_test.cpp,
// web_registration_test.cpp, web_alerts_test.cpp), and read back what they wrote. These keys lie
// in different slots, on different masters (each scenario checks it for the keys it writes).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "server/harness.hpp"
#include "support/redis_cluster.hpp"
#include "web_fixture.hpp"

using d4::webtest::Client;
using d4::webtest::NewUser;
using d4::webtest::WebInstance;
using d4::webtest::WebOptions;
using nlohmann::json;
namespace keys = d4::core::keys;
using namespace std::chrono_literals;

namespace {

constexpr const char* kRegisteredKey = "sensor-own-key-42";

class WebMetaOnACluster : public ::testing::Test {
 protected:
  // The [web] table of the instance; a test that needs another calls start() itself.
  void SetUp() override {
    ASSERT_TRUE(cluster_.wait_ok());
    seeds_ = "redis-cluster://" + cluster_.seeds();
    meta = std::make_unique<d4::core::RedisClient>(*d4::core::RedisEndpoint::parse(seeds_));
  }
  void start(const std::string& extra_web_config = {}) {
    WebOptions o = d4::webtest::admin_options(extra_web_config);
    // Every database is the cluster: meta and stream as configured, users, cache, analyzer and the
    // backscatter results by default (the meta endpoint, as key prefixes).
    o.redis_endpoint = [seeds = seeds_](const d4::test::RedisServer&, int) { return seeds; };
    o.extra_redis_config = "key_layout = \"cluster\"\n";
    web = std::make_unique<WebInstance>(o);
    d4::webtest::SignedInAdmin first_admin(*web);
    admin = first_admin.session;
    admin_token = first_admin.token;
  }

  Client with_token(const std::string& token) const { return d4::webtest::bearer_client(*web, token); }

  std::string create_org(const std::string& name) {
    auto r = admin.call("POST", "/api/v1/organisations", {{"name", name}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json()["organisation"]["uuid"].get<std::string>() : std::string();
  }
  // A user of `org` (an administrator of it with `org_admin`), and an API token of it.
  std::string org_user(const std::string& email, const std::string& org, bool org_admin) {
    NewUser u;
    u.organisation = org;
    auto token = d4::webtest::create_user(admin, email, u);
    auto r = admin.call("POST", "/api/v1/organisations/" + org + "/users",
                        {{"email", email}, {"org_admin", org_admin}});
    EXPECT_EQ(r.status, 200) << r.body;
    return token;
  }
  // A sensor the server knows (as d4-server's statistics flush and a registration leave it).
  void seed_sensor(const std::string& uuid, const std::string& description) {
    meta->command_ok({"SADD", std::string(keys::kSensorIndex), uuid});
    meta->command_ok({"SADD", std::string(keys::kRegisteredUuids), uuid});
    meta->command_ok({"HSET", keys::sensor_metadata(uuid), "description", description, "first_seen", "1"});
  }

  std::string hget(const std::string& key, const std::string& field) {
    return meta->command({"HGET", key, field}).as_string().value_or("(nil)");
  }
  long long is_member(const std::string& set, const std::string& member) {
    return meta->command({"SISMEMBER", set, member}).integer;
  }
  long long exists(const std::string& key) { return meta->command({"EXISTS", key}).integer; }
  // What an approval leaves: the sensor registered and indexed with its key and description,
  // assigned to `org`, no longer pending, its registration record gone.
  void expect_approved(const std::string& u, const std::string& org, const std::string& description) {
    EXPECT_EQ(is_member(std::string(keys::kRegisteredUuids), u), 1);
    EXPECT_EQ(is_member(std::string(keys::kPendingRegistrations), u), 0);
    EXPECT_EQ(is_member(std::string(keys::kSensorIndex), u), 1);
    EXPECT_EQ(hget(keys::sensor_metadata(u), "hmac_key"), kRegisteredKey);
    EXPECT_EQ(hget(keys::sensor_metadata(u), "description"), description);
    EXPECT_EQ(hget(std::string(keys::kSensorOrganisation), u), org);
    EXPECT_EQ(meta->command({"HEXISTS", std::string(keys::kSensorRegistrations), u}).integer, 0);
  }

  // The masters holding `names`: the scenario's keys must span several for it to test anything.
  std::size_t masters_holding(const std::vector<std::string>& names) {
    std::set<int> owners;
    for (const auto& n : names) {
      auto slot = meta->command({"CLUSTER", "KEYSLOT", n}).integer;
      owners.insert(cluster_.owner_of(static_cast<int>(slot)));
    }
    return owners.size();
  }

  d4::test::RedisCluster cluster_;
  std::string seeds_;
  std::unique_ptr<WebInstance> web;
  Client admin{0, true};
  std::string admin_token;
  std::unique_ptr<d4::core::RedisClient> meta;  // the cluster, as the tests read it
};

TEST_F(WebMetaOnACluster, AnOrganisationIsCreatedEditedGivenMembersAndDeleted) {
  start();
  const std::string sensor = "aaaaaaaa00004000800000000000000a";
  seed_sensor(sensor, "sensor of org c");
  // The default organisation, created at start.
  const std::string def =
      meta->command({"GET", std::string(keys::kDefaultOrganisation)}).as_string().value_or("");
  ASSERT_EQ(def.size(), 32u);
  EXPECT_EQ(is_member(std::string(keys::kOrganisations), def), 1);
  auto member = d4::webtest::create_user(admin, "member@c.test", {});

  auto c = admin.call("POST", "/api/v1/organisations",
                      {{"name", "Org C"}, {"uuid", "5C1A3B5E-0000-4000-8000-00000000C0DE"}});
  ASSERT_EQ(c.status, 200) << c.body;
  const std::string org = "5c1a3b5e00004000800000000000c0de";
  EXPECT_EQ(c.json()["organisation"]["uuid"], org);
  EXPECT_EQ(is_member(std::string(keys::kOrganisations), org), 1);
  EXPECT_EQ(hget(keys::organisation(org), "name"), "Org C");
  EXPECT_EQ(admin.call("POST", "/api/v1/organisations", {{"name", "again"}, {"uuid", org}}).status, 409);
  ASSERT_EQ(admin.call("PUT", "/api/v1/organisations/" + org, {{"name", "Org C renamed"}}).status, 200);
  EXPECT_EQ(hget(keys::organisation(org), "name"), "Org C renamed");

  // Members: a sensor, and a user who administers the organisation.
  ASSERT_EQ(admin.call("POST", "/api/v1/organisations/" + org + "/sensors", {{"uuid", sensor}}).status, 200);
  ASSERT_EQ(admin
                .call("POST", "/api/v1/organisations/" + org + "/users",
                      {{"email", "member@c.test"}, {"org_admin", true}})
                .status,
            200);
  EXPECT_EQ(hget(std::string(keys::kSensorOrganisation), sensor), org);
  EXPECT_EQ(hget(std::string(keys::kUserOrganisation), "member@c.test"), org);
  EXPECT_EQ(is_member(std::string(keys::kOrganisationAdmins), "member@c.test"), 1);
  auto read = admin.get("/api/v1/organisations/" + org).json();
  EXPECT_EQ(read["name"], "Org C renamed");
  EXPECT_EQ(read["sensors"], json::array({sensor})) << read.dump();
  EXPECT_EQ(read["users"], json::array({"member@c.test"})) << read.dump();
  // The member sees its organisation and its sensor, the page lists both organisations.
  auto mine = with_token(member).get("/api/v1/organisations").json();
  ASSERT_EQ(mine["items"].size(), 1u) << mine.dump();
  EXPECT_EQ(mine["items"][0]["uuid"], org);
  EXPECT_NE(with_token(member).get("/api/v1/sensors").body.find(sensor), std::string::npos);
  auto page = admin.get("/organisations");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("Org C renamed"), std::string::npos);
  EXPECT_GE(masters_holding({std::string(keys::kOrganisations), keys::organisation(org),
                             std::string(keys::kSensorOrganisation), std::string(keys::kUserOrganisation)}),
            2u);

  // Deleted: its members go back to the default organisation.
  EXPECT_EQ(admin.call("DELETE", "/api/v1/organisations/" + def).status, 400);
  ASSERT_EQ(admin.call("DELETE", "/api/v1/organisations/" + org).status, 200);
  EXPECT_EQ(is_member(std::string(keys::kOrganisations), org), 0);
  EXPECT_EQ(exists(keys::organisation(org)), 0);
  EXPECT_TRUE(meta->command({"HGET", std::string(keys::kSensorOrganisation), sensor}).is_nil());
  EXPECT_TRUE(meta->command({"HGET", std::string(keys::kUserOrganisation), "member@c.test"}).is_nil());
  auto after = admin.get("/api/v1/organisations").json();
  ASSERT_EQ(after["items"].size(), 1u) << after.dump();
  EXPECT_EQ(after["items"][0]["uuid"], def);
  EXPECT_EQ(admin.get("/api/v1/organisations/" + org).status, 404);
  EXPECT_NE(with_token(member).get("/api/v1/sensors").body.find(sensor), std::string::npos)
      << "the sensor and the user are the default organisation's";
}

// The default organisation's name, its record and its listing lie in several slots: a first start
// stopped after naming the default organisation leaves it unlisted, which the next start repairs.
TEST_F(WebMetaOnACluster, ADefaultOrganisationLeftUnlistedIsListedAtTheNextStart) {
  const std::string def = "55f6ea5e2c6040e5964f47a8950d210f";
  meta->command_ok({"SET", std::string(keys::kDefaultOrganisation), def});
  start("default_organisation_name = \"CIRCL\"\n");
  EXPECT_EQ(is_member(std::string(keys::kOrganisations), def), 1);
  EXPECT_EQ(hget(keys::organisation(def), "name"), "CIRCL");
  auto orgs = admin.get("/api/v1/organisations").json();
  ASSERT_EQ(orgs["items"].size(), 1u) << orgs.dump();
  EXPECT_EQ(orgs["items"][0]["uuid"], def);
  EXPECT_EQ(orgs["items"][0]["name"], "CIRCL");
  EXPECT_EQ(orgs["items"][0]["is_default"], true);
}

TEST_F(WebMetaOnACluster, AQueueIsGrantedToAnotherOrganisationAndRevoked) {
  start();
  const std::string sensor_a = "a0a0a0a000004000800000000000000a";
  seed_sensor(sensor_a, "secret-description-of-a");
  meta->command_ok({"SADD", std::string(keys::kAcceptedTypes), "3"});
  const std::string org_a = create_org("Org A"), org_b = create_org("Org B");
  ASSERT_EQ(admin.call("POST", "/api/v1/organisations/" + org_a + "/sensors", {{"uuid", sensor_a}}).status,
            200);
  auto a_admin = with_token(org_user("a-admin@example.test", org_a, true));
  auto b_user = with_token(org_user("b-user@example.test", org_b, false));

  auto g = a_admin.call("POST", "/api/v1/grants",
                        {{"to", org_b}, {"type", 3}, {"sensors", {sensor_a}}, {"description", "for B"}});
  ASSERT_EQ(g.status, 200) << g.body;
  const std::string queue = g.json()["grant"]["id"].get<std::string>();
  auto grant = json::parse(hget(std::string(keys::kQueueGrants), queue), nullptr, false);
  ASSERT_TRUE(grant.is_object()) << hget(std::string(keys::kQueueGrants), queue);
  EXPECT_EQ(grant["from"], org_a);
  EXPECT_EQ(grant["to"], org_b);
  EXPECT_EQ(grant["by"], "a-admin@example.test");
  // An ordinary group queue of A's sensor, under the names analyzers and workers read.
  EXPECT_EQ(meta->command({"SMEMBERS", keys::analyzer_sensor_group(queue)}).as_strings(),
            std::vector<std::string>{sensor_a});
  EXPECT_EQ(hget(keys::analyzer_queue_meta(queue), "description"), "for B");
  // The grantee sees the queue, not the sensor; the grant and its audit read back.
  auto b_queues = b_user.get("/api/v1/queues").json();
  ASSERT_EQ(b_queues["items"].size(), 1u) << b_queues.dump();
  EXPECT_EQ(b_queues["items"][0]["id"], queue);
  EXPECT_EQ(b_queues["items"][0]["granted_by"]["uuid"], org_a);
  EXPECT_EQ(b_queues.dump().find(sensor_a), std::string::npos);
  auto grants = a_admin.get("/api/v1/grants").json();
  ASSERT_EQ(grants["items"].size(), 1u) << grants.dump();
  EXPECT_EQ(grants["items"][0]["to"]["name"], "Org B");
  EXPECT_EQ(admin.get("/grants").status, 200);
  EXPECT_NE(admin.get("/grants").body.find(queue), std::string::npos);
  EXPECT_GE(masters_holding({std::string(keys::kQueueGrants), std::string(keys::kQueueGrantAudit),
                             keys::analyzer_queue_meta(queue), keys::analyzer_sensor_group(queue),
                             std::string(keys::kUserOrganisation), std::string(keys::kOrganisationAdmins)}),
            2u);

  // Revoked by A: the record, the queue and B's access go; the audit keeps both steps.
  auto revoked = a_admin.call("DELETE", "/api/v1/grants/" + queue);
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(meta->command({"HLEN", std::string(keys::kQueueGrants)}).integer, 0);
  EXPECT_EQ(exists(keys::analyzer_queue_meta(queue)), 0);
  EXPECT_EQ(exists(keys::analyzer_sensor_group(queue)), 0);
  EXPECT_EQ(b_user.get("/api/v1/queues").json()["items"].size(), 0u);
  EXPECT_EQ(b_user.get("/api/v1/queues/" + queue).status, 404);
  auto audit = a_admin.get("/api/v1/grants/audit").json()["items"];
  ASSERT_EQ(audit.size(), 2u) << audit.dump();
  EXPECT_EQ(audit[0]["action"], "revoked");
  EXPECT_EQ(audit[1]["action"], "granted");
  EXPECT_EQ(meta->command({"LLEN", std::string(keys::kQueueGrantAudit)}).integer, 2);
}

TEST_F(WebMetaOnACluster, ARegistrationApprovedByTheOrganisationIsAcceptedByTheServer) {
  start("sensor_registration = \"org-approval\"\n");
  const std::string org = create_org("Org A");
  auto member = with_token(org_user("member@a.test", org, false));
  auto org_admin = with_token(org_user("admin@a.test", org, true));
  // d4-server in registration mode, its stream and meta Redis the same cluster.
  d4::test::ServerOptions so;
  so.mode = "registration";
  so.stream_endpoint = seeds_;
  so.meta_endpoint = seeds_;
  so.key_layout = "cluster";
  d4::test::ServerProcess server(web->redis(), so);
  auto uuid = d4::test::random_uuid();
  const std::string u = uuid.dashless();

  auto r =
      member.call("POST", "/api/v1/registrations",
                  {{"uuid", uuid.dashed()}, {"hmac_key", kRegisteredKey}, {"description", "edge sensor"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(member.call("POST", "/api/v1/registrations", {{"uuid", u}, {"hmac_key", "x"}}).status, 409);
  auto pending = json::parse(hget(std::string(keys::kSensorRegistrations), u), nullptr, false);
  ASSERT_TRUE(pending.is_object());
  EXPECT_EQ(pending["org"], org);
  EXPECT_EQ(pending["by"], "member@a.test");
  auto listed = member.get("/api/v1/registrations").json();
  ASSERT_EQ(listed["items"].size(), 1u) << listed.dump();
  EXPECT_EQ(listed["items"][0]["uuid"], u);
  EXPECT_EQ(listed["items"][0]["description"], "edge sensor");
  EXPECT_EQ(exists(keys::sensor_metadata(u)), 0);
  {
    d4::test::SensorConnection c(server.tls_port(), true);
    ASSERT_TRUE(c.send(d4::test::make_packet(uuid, 3, kRegisteredKey, "before approval\n")));
    EXPECT_TRUE(c.wait_closed(10s)) << "a pending sensor is refused";
  }

  auto ok = org_admin.call("POST", "/api/v1/registrations/" + u + "/approve");
  ASSERT_EQ(ok.status, 200) << ok.body;
  expect_approved(u, org, "edge sensor");
  EXPECT_EQ(member.get("/api/v1/registrations").json()["items"].size(), 0u);
  EXPECT_NE(member.get("/api/v1/sensors").body.find(u), std::string::npos);
  auto detail = member.get("/api/v1/sensors/" + u).json();
  EXPECT_EQ(detail["description"], "edge sensor") << detail.dump();
  EXPECT_GE(masters_holding({keys::sensor_metadata(u), std::string(keys::kRegisteredUuids),
                             std::string(keys::kSensorOrganisation), std::string(keys::kSensorRegistrations),
                             std::string(keys::kSensorIndex)}),
            2u);
  // The server reads its policy from the cluster: the sensor is accepted and counted.
  const std::string day = keys::daily_uuid(d4::test::local_day());
  EXPECT_TRUE(d4::test::eventually(
      [&] {
        d4::test::SensorConnection c(server.tls_port(), true);
        if (!c.send(d4::test::make_packet(uuid, 3, kRegisteredKey, "after approval\n"))) return false;
        return meta->command({"ZSCORE", day, u}).as_string().has_value();
      },
      30s, 300ms))
      << server.log();
}

TEST_F(WebMetaOnACluster, ARefusedRegistrationLeavesNothingAndTheBudgetsHold) {
  start("sensor_registration = \"admin-approval\"\nmax_pending_registrations_per_organisation = 1\n");
  const std::string org = create_org("Org A");
  auto member = with_token(org_user("member@a.test", org, false));
  const std::string u = d4::test::random_uuid().dashless();
  ASSERT_EQ(member.call("POST", "/api/v1/registrations", {{"uuid", u}, {"hmac_key", kRegisteredKey}}).status,
            200);
  // The budget script runs in the slot of d4:registrations.
  auto full = member.call("POST", "/api/v1/registrations",
                          {{"uuid", d4::test::random_uuid().dashless()}, {"hmac_key", kRegisteredKey}});
  EXPECT_EQ(full.status, 429) << full.body;
  EXPECT_EQ(meta->command({"HLEN", std::string(keys::kSensorRegistrations)}).integer, 1);
  EXPECT_EQ(member.call("POST", "/api/v1/registrations/" + u + "/approve").status, 403);

  auto refused = admin.call("DELETE", "/api/v1/registrations/" + u);
  ASSERT_EQ(refused.status, 200) << refused.body;
  EXPECT_EQ(meta->command({"HLEN", std::string(keys::kSensorRegistrations)}).integer, 0);
  EXPECT_EQ(exists(keys::sensor_metadata(u)), 0);
  EXPECT_EQ(is_member(std::string(keys::kRegisteredUuids), u), 0);
  EXPECT_EQ(is_member(std::string(keys::kPendingRegistrations), u), 0);
  EXPECT_EQ(is_member(std::string(keys::kSensorIndex), u), 0);
  EXPECT_TRUE(meta->command({"HGET", std::string(keys::kSensorOrganisation), u}).is_nil());
  EXPECT_EQ(admin.get("/api/v1/registrations").json()["items"].size(), 0u);
  EXPECT_EQ(admin.call("POST", "/api/v1/registrations/" + u + "/approve").status, 404);
  EXPECT_EQ(member.get("/api/v1/sensors").body.find(u), std::string::npos);
  // The organisation's place is free again.
  EXPECT_EQ(member.call("POST", "/api/v1/registrations", {{"uuid", u}, {"hmac_key", kRegisteredKey}}).status,
            200);
}

// The approval's steps lie in several slots: one stopped after some of them (here: the sensor's
// hash written and the sensor put in registered_uuid, the index and the rest not) is finished by
// approving again, while a sensor registered meanwhile with another key is not taken over.
TEST_F(WebMetaOnACluster, AnApprovalStoppedHalfWayIsFinishedByApprovingAgain) {
  start("sensor_registration = \"admin-approval\"\n");
  const std::string org = create_org("Org A");
  auto member = with_token(org_user("member@a.test", org, false));
  const std::string u = d4::test::random_uuid().dashless(), taken = d4::test::random_uuid().dashless();
  for (const auto& s : {u, taken})
    ASSERT_EQ(member
                  .call("POST", "/api/v1/registrations",
                        {{"uuid", s}, {"hmac_key", kRegisteredKey}, {"description", "edge"}})
                  .status,
              200);
  meta->command_ok({"HSET", keys::sensor_metadata(u), "hmac_key", kRegisteredKey});
  meta->command_ok({"SADD", std::string(keys::kPendingRegistrations), u});
  meta->command_ok({"SADD", std::string(keys::kRegisteredUuids), u});
  meta->command_ok({"HSET", keys::sensor_metadata(taken), "hmac_key", "another key"});

  auto again = admin.call("POST", "/api/v1/registrations/" + u + "/approve");
  ASSERT_EQ(again.status, 200) << again.body;
  expect_approved(u, org, "edge");
  EXPECT_NE(member.get("/api/v1/sensors").body.find(u), std::string::npos);

  auto refused = admin.call("POST", "/api/v1/registrations/" + taken + "/approve");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(hget(keys::sensor_metadata(taken), "hmac_key"), "another key");
  EXPECT_EQ(is_member(std::string(keys::kRegisteredUuids), taken), 0);
  EXPECT_EQ(meta->command({"HEXISTS", std::string(keys::kSensorRegistrations), taken}).integer, 1)
      << "still pending, for an administrator to refuse";
}

TEST_F(WebMetaOnACluster, AlertRulesAreCreatedEditedAndDeleted) {
  start();
  const std::string org = create_org("Org A");
  auto a = with_token(org_user("a@example.test", org, false));
  auto global =
      with_token(admin_token)
          .call(
              "POST", "/api/v1/alerts/rules",
              {{"kind", "sensor_silent"}, {"scope", "global"}, {"interval_seconds", 300}, {"name", "quiet"}});
  ASSERT_EQ(global.status, 200) << global.body;
  auto own = a.call("POST", "/api/v1/alerts/rules", {{"kind", "sensor_silent"}, {"scope", "org:" + org}});
  ASSERT_EQ(own.status, 200) << own.body;
  const std::string global_id = global.json()["rule"]["id"].get<std::string>();
  const std::string own_id = own.json()["rule"]["id"].get<std::string>();
  auto stored = json::parse(hget(std::string(keys::kAlertRules), global_id), nullptr, false);
  ASSERT_TRUE(stored.is_object());
  EXPECT_EQ(stored["kind"], "sensor_silent");
  EXPECT_EQ(stored["scope"], "global");
  EXPECT_EQ(stored["interval_seconds"], 300);
  EXPECT_EQ(json::parse(hget(std::string(keys::kAlertRules), own_id), nullptr, false)["scope"], "org:" + org);
  EXPECT_EQ(with_token(admin_token).get("/api/v1/alerts/rules").json()["items"].size(), 2u);
  // The organisation's user sees and edits its organisation's rule, not the global one.
  std::map<std::string, bool> editable;
  const json a_rules = a.get("/api/v1/alerts/rules").json();
  for (const auto& r : a_rules["items"]) editable[r["id"].get<std::string>()] = r["editable"].get<bool>();
  EXPECT_EQ(editable, (std::map<std::string, bool>{{own_id, true}})) << a_rules.dump();

  auto edited = with_token(admin_token)
                    .call("PUT", "/api/v1/alerts/rules/" + global_id,
                          {{"name", "quiet sensors"}, {"interval_seconds", 600}});
  ASSERT_EQ(edited.status, 200) << edited.body;
  stored = json::parse(hget(std::string(keys::kAlertRules), global_id), nullptr, false);
  EXPECT_EQ(stored["interval_seconds"], 600);
  EXPECT_EQ(stored["name"], "quiet sensors");
  EXPECT_EQ(with_token(admin_token).get("/api/v1/alerts/rules/" + global_id).json()["name"], "quiet sensors");
  auto page = admin.get("/alerts/rules/" + global_id);
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("quiet sensors"), std::string::npos);

  ASSERT_EQ(a.call("DELETE", "/api/v1/alerts/rules/" + own_id).status, 200);
  ASSERT_EQ(with_token(admin_token).call("DELETE", "/api/v1/alerts/rules/" + global_id).status, 200);
  EXPECT_EQ(meta->command({"HLEN", std::string(keys::kAlertRules)}).integer, 0);
  EXPECT_EQ(with_token(admin_token).get("/api/v1/alerts/rules/" + global_id).status, 404);
  EXPECT_EQ(with_token(admin_token).call("PUT", "/api/v1/alerts/rules/" + global_id, {{"name", "x"}}).status,
            404);
  EXPECT_EQ(meta->command({"HLEN", std::string(keys::kAlertRules)}).integer, 0)
      << "an edit does not bring a deleted rule back";
}

TEST_F(WebMetaOnACluster, SensorEditsAreStoredUnderTheReferenceNamesAndADeletedSensorLeavesNothing) {
  start();
  const std::string u = "cccccccc00004000800000000000000c";
  seed_sensor(u, "before");
  meta->command_ok({"SADD", keys::sensor_all_types(u), "3"});
  meta->command_ok({"HSET", keys::sensor_type_metadata(u, "3"), "first_seen", "1", "last_seen", "2"});
  Client api = with_token(admin_token);
  const long long version =
      meta->command({"GET", std::string(keys::kPolicyVersion)}).as_integer().value_or(0);
  ASSERT_EQ(api.call("PUT", "/api/v1/sensors/" + u + "/description", {{"description", "roof sensor"}}).status,
            200);
  ASSERT_EQ(api.call("PUT", "/api/v1/sensors/" + u + "/tags", {{"tags", {"roof", "edge"}}}).status, 200);
  ASSERT_EQ(api.call("PUT", "/api/v1/sensors/" + u + "/key", {{"key", "a new key"}}).status, 200);
  ASSERT_EQ(api.call("POST", "/api/v1/sensors/" + u + "/block").status, 200);
  ASSERT_EQ(api.call("POST", "/api/v1/sensors/" + u + "/block-ips").status, 200);
  ASSERT_EQ(api.call("PUT", "/api/v1/sensors/" + u + "/monitoring", {{"delta_time", 120}}).status, 200);
  ASSERT_EQ(api.call("POST", "/api/v1/server/types", {{"type", 8}}).status, 200);
  ASSERT_EQ(api.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "192.0.2.0/24"}}).status, 200);
  EXPECT_EQ(hget(keys::sensor_metadata(u), "description"), "roof sensor");
  EXPECT_EQ(hget(keys::sensor_metadata(u), "hmac_key"), "a new key");
  auto tags = meta->command({"SMEMBERS", keys::sensor_tags(u)}).as_strings();
  EXPECT_EQ(std::set<std::string>(tags.begin(), tags.end()), (std::set<std::string>{"roof", "edge"}));
  EXPECT_EQ(is_member(std::string(keys::kBlocklistUuid), u), 1);
  EXPECT_EQ(is_member(std::string(keys::kBlocklistIpByUuid), u), 1);
  EXPECT_EQ(is_member(std::string(keys::kMonitoredSensors), u), 1);
  EXPECT_EQ(hget(keys::monitored_sensor(u), "delta_time"), "120");
  EXPECT_EQ(is_member(std::string(keys::kAcceptedTypes), "8"), 1);
  EXPECT_EQ(is_member(std::string(keys::kBlocklistIp), "192.0.2.0/24"), 1);
  EXPECT_GT(meta->command({"GET", std::string(keys::kPolicyVersion)}).as_integer().value_or(0), version)
      << "the policy changes are announced";
  // What the API and the page read back.
  auto detail = api.get("/api/v1/sensors/" + u).json();
  EXPECT_EQ(detail["description"], "roof sensor") << detail.dump();
  EXPECT_EQ(api.get("/api/v1/sensors/" + u + "/key").json()["key"], "a new key");
  EXPECT_NE(api.get("/api/v1/server/blocklist/uuids").body.find(u), std::string::npos);
  auto page = admin.get("/sensors/" + u);
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("roof sensor"), std::string::npos);
  EXPECT_NE(page.body.find("edge"), std::string::npos);
  EXPECT_GE(
      masters_holding({keys::sensor_metadata(u), keys::sensor_tags(u), std::string(keys::kBlocklistUuid),
                       std::string(keys::kSensorIndex), keys::monitored_sensor(u)}),
      2u);

  ASSERT_EQ(api.call("DELETE", "/api/v1/sensors/" + u + "/block").status, 200);
  EXPECT_EQ(is_member(std::string(keys::kBlocklistUuid), u), 0);
  ASSERT_EQ(api.call("DELETE", "/api/v1/sensors/" + u).status, 200);
  for (const auto& key : {keys::sensor_metadata(u), keys::sensor_tags(u), keys::sensor_all_types(u),
                          keys::sensor_type_metadata(u, "3"), keys::monitored_sensor(u)})
    EXPECT_EQ(exists(key), 0) << key;
  EXPECT_EQ(is_member(std::string(keys::kSensorIndex), u), 0);
  EXPECT_EQ(is_member(std::string(keys::kRegisteredUuids), u), 0);
  EXPECT_EQ(is_member(std::string(keys::kMonitoredSensors), u), 0);
  EXPECT_EQ(api.get("/api/v1/sensors").body.find(u), std::string::npos);
}

}  // namespace
