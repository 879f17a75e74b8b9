// Self-service sensor registration (docs/web.md#self-service-sensor-registration): an
// organisation's user registers a sensor through the real d4-web; until an administrator (or, in
// "org-approval" mode, one of the organisation's administrators) approves it, the real d4-server in
// registration mode refuses the sensor; once approved, the sensor's packets are stored.
#include <gtest/gtest.h>

#include "core/keys.hpp"
#include "server/harness.hpp"
#include "support/http.hpp"
#include "web_fixture.hpp"

using d4::webtest::Client;
using d4::webtest::WebInstance;
using nlohmann::json;
namespace keys = d4::core::keys;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSensorKey = "sensor-own-key-42";

class WebRegistrationTest : public ::testing::Test {
 protected:
  void start(const std::string& mode, const std::string& extra_config = {}) {
    web = d4::webtest::start_web("sensor_registration = \"" + mode + "\"\n" + extra_config);
    admin = d4::webtest::SignedInAdmin(*web).session;
    org_a = create_org("Org A");
    org_b = create_org("Org B");
    member = user("member@a.test", org_a, false);
    org_admin = user("admin@a.test", org_a, true);
    other = user("member@b.test", org_b, false);
  }
  std::string create_org(const std::string& name) {
    auto r = admin.call("POST", "/api/v1/organisations", {{"name", name}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json()["organisation"]["uuid"].get<std::string>();
  }
  Client user(const std::string& email, const std::string& org, bool org_admin_flag) {
    auto token = d4::webtest::create_user(admin, email, {});
    auto a = admin.call("POST", "/api/v1/organisations/" + org + "/users",
                        {{"email", email}, {"org_admin", org_admin_flag}});
    EXPECT_EQ(a.status, 200) << a.body;
    return d4::webtest::bearer_client(*web, token);
  }
  long long registered(const std::string& u) {
    return web->meta().command({"SISMEMBER", "registered_uuid", u}).integer;
  }

  std::unique_ptr<WebInstance> web;
  Client admin{0, true}, member{0, true}, org_admin{0, true}, other{0, true};
  std::string org_a, org_b;
};

TEST_F(WebRegistrationTest, RegisteredPendingApprovedByTheOrganisationThenAcceptedByTheServer) {
  start("org-approval");
  // d4-server in registration mode on the web's databases (meta db 0, stream db 5).
  d4::test::ServerOptions so;
  so.mode = "registration";
  so.stream_db = 5;
  so.meta_db = 0;
  d4::test::ServerProcess server(web->redis(), so);
  auto uuid = d4::test::random_uuid();
  const std::string u = uuid.dashless();

  auto r = member.call("POST", "/api/v1/registrations",
                       {{"uuid", uuid.dashed()}, {"hmac_key", kSensorKey}, {"description", "edge sensor"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(member.call("POST", "/api/v1/registrations", {{"uuid", u}, {"hmac_key", "x"}}).status, 409);
  // Pending: the organisation sees it, another organisation does not; d4-server knows nothing.
  auto mine = member.get("/api/v1/registrations").json();
  ASSERT_EQ(mine["items"].size(), 1u);
  EXPECT_EQ(mine["items"][0]["uuid"], u);
  EXPECT_EQ(mine["items"][0]["may_approve"], false);
  EXPECT_EQ(mine.dump().find(kSensorKey), std::string::npos) << "the key is never shown back";
  EXPECT_EQ(other.get("/api/v1/registrations").json()["items"].size(), 0u);
  EXPECT_EQ(other.call("POST", "/api/v1/registrations/" + u + "/approve").status, 404);
  EXPECT_EQ(member.call("POST", "/api/v1/registrations/" + u + "/approve").status, 403);
  EXPECT_EQ(web->meta().command({"EXISTS", "metadata_uuid:" + u}).integer, 0);
  EXPECT_EQ(registered(u), 0);
  {
    d4::test::SensorConnection c(server.tls_port(), true);
    ASSERT_TRUE(c.send(d4::test::make_packet(uuid, 3, kSensorKey, "before approval\n")));
    EXPECT_TRUE(c.wait_closed(5s)) << "a pending sensor is refused";
  }
  // Approved by the organisation's administrator: registered with its key, in its organisation.
  auto ok = org_admin.call("POST", "/api/v1/registrations/" + u + "/approve");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(registered(u), 1);
  EXPECT_EQ(web->meta().command({"HGET", "metadata_uuid:" + u, "hmac_key"}).as_string(), kSensorKey);
  EXPECT_EQ(web->meta().command({"HGET", std::string(keys::kSensorOrganisation), u}).as_string(), org_a);
  EXPECT_EQ(member.get("/api/v1/registrations").json()["items"].size(), 0u);
  EXPECT_NE(member.get("/api/v1/sensors").body.find(u), std::string::npos);
  EXPECT_EQ(other.get("/api/v1/sensors").body.find(u), std::string::npos);
  // The server reads its policy every 200 ms: the sensor is accepted and its data stored.
  auto stream = server.stream();
  EXPECT_TRUE(d4::test::eventually(
      [&] {
        d4::test::SensorConnection c(server.tls_port(), true);
        if (!c.send(d4::test::make_packet(uuid, 3, kSensorKey, "after approval\n"))) return false;
        return !d4::test::stream_keys(stream, 3).empty();
      },
      20s, 300ms))
      << server.log();
}

TEST_F(WebRegistrationTest, ADeletedOrganisationsAdministratorDoesNotAdministerTheDefaultOne) {
  start("org-approval");
  // A registration pending in the default organisation, which admin@a.test must not approve.
  auto def = admin.get("/api/v1/organisations").json();
  std::string default_org;
  for (const auto& o : def["items"])
    if (o.value("is_default", false)) default_org = o["uuid"].get<std::string>();
  ASSERT_FALSE(default_org.empty()) << def.dump();
  auto loner_token = d4::webtest::create_user(admin, "loner@default.test", {});
  Client loner = d4::webtest::bearer_client(*web, loner_token);
  const std::string u = d4::test::random_uuid().dashless();
  ASSERT_EQ(loner.call("POST", "/api/v1/registrations", {{"uuid", u}, {"hmac_key", kSensorKey}}).status, 200);
  EXPECT_EQ(org_admin.call("POST", "/api/v1/registrations/" + u + "/approve").status, 404)
      << "another organisation's registration";
  ASSERT_EQ(web->meta()
                .command({"HSET", keys::org_channels(org_a), "ops", R"({"type":"email","to":"a@a.test"})"})
                .integer,
            1);

  ASSERT_EQ(admin.call("DELETE", "/api/v1/organisations/" + org_a).status, 200);
  // Its administrator now belongs to the default organisation, without the right it had in Org A.
  EXPECT_EQ(
      web->meta().command({"SISMEMBER", std::string(keys::kOrganisationAdmins), "admin@a.test"}).integer, 0);
  auto seen = org_admin.get("/api/v1/registrations").json();
  ASSERT_EQ(seen["items"].size(), 1u) << seen.dump();
  EXPECT_EQ(seen["items"][0]["may_approve"], false);
  EXPECT_EQ(org_admin.call("POST", "/api/v1/registrations/" + u + "/approve").status, 403);
  EXPECT_EQ(registered(u), 0);
  EXPECT_EQ(web->meta().command({"EXISTS", keys::org_channels(org_a)}).integer, 0)
      << "the organisation's notification channels go with it";
}

TEST_F(WebRegistrationTest, AdminApprovalModeAndOffMode) {
  start("admin-approval");
  auto uuid = d4::test::random_uuid();
  ASSERT_EQ(
      member.call("POST", "/api/v1/registrations", {{"uuid", uuid.dashless()}, {"hmac_key", "k"}}).status,
      200);
  EXPECT_EQ(org_admin.call("POST", "/api/v1/registrations/" + uuid.dashless() + "/approve").status, 403)
      << "only administrators approve in admin-approval mode";
  EXPECT_EQ(member.call("POST", "/api/v1/registrations", {{"uuid", "not-a-uuid"}, {"hmac_key", "k"}}).status,
            400);
  ASSERT_EQ(admin.call("POST", "/api/v1/registrations/" + uuid.dashless() + "/approve").status, 200);
  EXPECT_EQ(registered(uuid.dashless()), 1);
  // Withdrawn by its requester.
  auto second = d4::test::random_uuid();
  ASSERT_EQ(
      member.call("POST", "/api/v1/registrations", {{"uuid", second.dashless()}, {"hmac_key", "k"}}).status,
      200);
  EXPECT_EQ(other.call("DELETE", "/api/v1/registrations/" + second.dashless()).status, 404);
  EXPECT_EQ(member.call("DELETE", "/api/v1/registrations/" + second.dashless()).status, 200);
  EXPECT_EQ(registered(second.dashless()), 0);
  web.reset();
  start("off");
  EXPECT_EQ(
      member.call("POST", "/api/v1/registrations", {{"uuid", uuid.dashless()}, {"hmac_key", "k"}}).status,
      403);
}

}  // namespace

namespace {

// d4:registrations is bounded per organisation and in total; each refusal is a 429 naming the
// budget, changes nothing, and is counted in /metrics and /api/v1/health.
TEST_F(WebRegistrationTest, PendingRegistrationsAreBoundedPerOrganisationAndInTotal) {
  start("org-approval",
        "max_pending_registrations = 3\nmax_pending_registrations_per_organisation = 2\n"
        "metrics_listen = \"127.0.0.1:0\"\n");
  int m = d4::test::wait_for_listening(web->log_path(), "metrics and health, HTTP", web->process(), 60s);
  auto ask = [](Client& c) {
    return c.call("POST", "/api/v1/registrations",
                  {{"uuid", d4::test::random_uuid().dashed()}, {"hmac_key", kSensorKey}});
  };
  ASSERT_EQ(ask(member).status, 200);
  ASSERT_EQ(ask(org_admin).status, 200);
  auto org_full = ask(member);
  EXPECT_EQ(org_full.status, 429);
  EXPECT_NE(org_full.body.find("max_pending_registrations_per_organisation"), std::string::npos)
      << org_full.body;
  ASSERT_EQ(ask(other).status, 200);  // another organisation's budget, the server's last place
  auto server_full = ask(other);
  EXPECT_EQ(server_full.status, 429);
  EXPECT_NE(server_full.body.find("[web] max_pending_registrations)"), std::string::npos) << server_full.body;
  EXPECT_EQ(web->meta().command({"HLEN", keys::kSensorRegistrations}).integer, 3);
  EXPECT_EQ(d4::test::metric(m, "d4_web_registrations_refused_total{reason=\"pending_organisation\"}"), 1.0);
  EXPECT_EQ(d4::test::metric(m, "d4_web_registrations_refused_total{reason=\"pending_total\"}"), 1.0);
  EXPECT_EQ(admin.get("/api/v1/health").json()["web"]["registrations_refused"], 2);
  // A withdrawal frees a place of the organisation.
  std::string mine;
  const json pending = member.get("/api/v1/registrations").json();
  for (const auto& r : pending["items"])
    if (r["by"] == "member@a.test") mine = r["uuid"];
  ASSERT_FALSE(mine.empty());
  ASSERT_EQ(member.call("DELETE", "/api/v1/registrations/" + mine).status, 200);
  EXPECT_EQ(ask(member).status, 200);
}

}  // namespace
