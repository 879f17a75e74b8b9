// d4-web API tests: the real binary over real HTTPS against a real redis-server. Every endpoint
// is checked for every role and for CSRF; the flows check the data written to Redis.
#include <crypt.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>

#include "server/harness.hpp"
#include "support/bytes.hpp"
#include "web_fixture.hpp"

using d4::webtest::Client;
using d4::webtest::HttpResult;
using d4::webtest::kAdmin;
using d4::webtest::kFirstPassword;
using d4::webtest::kPassword;
using d4::webtest::kUserPassword;
using d4::webtest::WebInstance;
using d4::webtest::WebOptions;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSensor = "0123456789ab4def8123456789abcdef";
constexpr const char* kSensorDashed = "01234567-89AB-4DEF-8123-456789ABCDEF";

std::string cli_str(d4::core::RedisClient& c, std::initializer_list<std::string_view> args) {
  return c.command(args).as_string().value_or("<nil>");
}

// An instance whose admin changed the forced first password, plus API tokens for every role.
class WebApiTest : public d4::webtest::SignedInWebTest {
 protected:
  void SetUp() override {
    SignedInWebTest::SetUp();
    user_token = make_user("user@example.test", "user");
    reg_token = make_user("register@example.test", "sensor_register");
  }

  std::string user_token, reg_token;
};

// ---------------------------------------------------------------- first run and login

// A first run with a random administrator password: it is written to ADMIN_PASSWORD in the state
// directory, which the tests read first.
class WebFirstRun : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(file)) << web.log();
    std::string content = d4::test::read_text(file);
    auto space = content.find(' ');
    ASSERT_NE(space, std::string::npos);
    first_line_user = content.substr(0, space);
    password = content.substr(space + 1);
    while (!password.empty() && password.back() == '\n') password.pop_back();
  }
  // The administrator signed in with the first password, before changing it.
  void sign_in(Client& c) {
    auto r = c.login(kAdmin, password, "/sensors");
    ASSERT_EQ(r.status, 303);
    EXPECT_EQ(r.header("Location"), "/change_password");
    c.refresh_csrf();
  }
  HttpResult change_password(Client& c, const std::string& current, const std::string& next) {
    return c.form(
        "/change_password",
        {{"csrf_token", c.csrf}, {"current_password", current}, {"password1", next}, {"password2", next}});
  }

  WebInstance web;  // random admin password
  const fs::path file = web.state_dir() / "ADMIN_PASSWORD";
  std::string first_line_user, password;
};

TEST_F(WebFirstRun, TheFirstPasswordIsInA0600FileOnlyAndStoredHashedWithArgon2id) {
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(first_line_user, kAdmin);
  EXPECT_GE(password.size(), 20u);
  EXPECT_EQ(web.log().find(password), std::string::npos)
      << "the password is in the 0600 file only, not the log";
  auto hash = cli_str(web.users(), {"HGET", "user:all", kAdmin});
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
  EXPECT_EQ(hash.find(password), std::string::npos);
  EXPECT_EQ(cli_str(web.users(), {"HGET", "user_metadata:" + std::string(kAdmin), "role"}), "admin");
  EXPECT_EQ(web.users().command({"SISMEMBER", "user_role:sensor_register", kAdmin}).integer, 1);
}

TEST_F(WebFirstRun, UntilThePasswordIsChangedEveryPageLeadsToTheChangeFormAndTheApiRefuses) {
  Client c = web.client();
  EXPECT_EQ(c.login(kAdmin, "wrong-Password-99").header("Location").find("/login?"), 0u);
  ASSERT_NO_FATAL_FAILURE(sign_in(c));
  EXPECT_EQ(c.get("/sensors").header("Location"), "/change_password");
  EXPECT_EQ(c.call("GET", "/api/v1/sensors").status, 403);
}

TEST_F(WebFirstRun, TheChangeFormRefusesAWrongCurrentPasswordAWeakOneAndAMissingCsrfToken) {
  Client c = web.client();
  ASSERT_NO_FATAL_FAILURE(sign_in(c));
  EXPECT_NE(change_password(c, "nope", "New-Pass-0099").header("Location").find("error="), std::string::npos);
  EXPECT_NE(change_password(c, password, "short").header("Location").find("error="), std::string::npos);
  auto nocsrf = c.form(
      "/change_password",
      {{"current_password", password}, {"password1", "New-Pass-0099"}, {"password2", "New-Pass-0099"}});
  EXPECT_EQ(nocsrf.status, 403);
  EXPECT_TRUE(fs::exists(file));
}

TEST_F(WebFirstRun, TheChangedPasswordRemovesTheFileAndIsTheOnlyOneAccepted) {
  Client c = web.client();
  ASSERT_NO_FATAL_FAILURE(sign_in(c));
  auto ok = change_password(c, password, "New-Pass-0099");
  ASSERT_EQ(ok.status, 303);
  EXPECT_EQ(ok.header("Location").rfind("/?flash=", 0), 0u);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(c.get("/sensors").status, 200);
  Client other = web.client();
  EXPECT_NE(other.login(kAdmin, password).header("Location"), "/");
  EXPECT_EQ(other.login(kAdmin, "New-Pass-0099").header("Location"), "/");
  EXPECT_EQ(web.stop(), 0);
}

TEST_F(WebApiTest, CookieFlagsAndSecurityHeaders) {
  Client c = web->client();
  auto r = c.login(kAdmin, kPassword);
  std::string session;
  for (const auto& sc : r.headers_named("Set-Cookie"))
    if (sc.rfind("d4_session=", 0) == 0) session = sc;
  ASSERT_FALSE(session.empty());
  EXPECT_NE(session.find("HttpOnly"), std::string::npos);
  EXPECT_NE(session.find("Secure"), std::string::npos);
  EXPECT_NE(session.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(session.find("Path=/"), std::string::npos);
  // >= 128 random bits, stored only hashed in the cache db.
  auto id = c.cookies["d4_session"];
  EXPECT_GE(id.size(), 22u);
  auto stored = web->cache().command({"KEYS", "d4:web:session:*"}).as_strings();
  ASSERT_FALSE(stored.empty());
  for (const auto& k : stored) EXPECT_EQ(k.find(id), std::string::npos);
  EXPECT_GT(web->cache().command({"TTL", stored[0]}).integer, 0);
  auto page = c.get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.header("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(page.header("Content-Security-Policy").find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(page.header("X-Frame-Options"), "DENY");
  EXPECT_EQ(page.header("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(page.header("Strict-Transport-Security"), "");
  EXPECT_EQ(page.body.find("<script>"), std::string::npos) << "no inline script";
  // Logout needs the CSRF token and ends the session server-side.
  c.refresh_csrf();
  EXPECT_EQ(c.form("/logout", {}).status, 403);
  EXPECT_EQ(c.form("/logout", {{"csrf_token", c.csrf}}).header("Location"), "/login");
  Client replay = web->client();
  replay.cookies["d4_session"] = id;
  EXPECT_EQ(replay.get("/").status, 303);
}

TEST_F(WebApiTest, LoginFormNeedsItsCsrfCookie) {
  Client c = web->client();
  auto r = c.form("/login", {{"username", kAdmin}, {"password", kPassword}, {"csrf_token", "forged"}});
  EXPECT_EQ(r.status, 303);
  EXPECT_NE(r.header("Location").find("error="), std::string::npos);
  EXPECT_EQ(c.cookies.count("d4_session"), 0u);
}

TEST_F(WebApiTest, NoOpenRedirect) {
  for (const char* evil : {"//evil.example/", "https://evil.example/", "/\\evil.example",
                           "javascript:alert(1)", "http:/evil", "/%0d%0aSet-Cookie:x=1", ""}) {
    Client c = web->client();
    auto r = c.login(kAdmin, kPassword, evil);
    ASSERT_EQ(r.status, 303) << evil;
    auto loc = r.header("Location");
    EXPECT_TRUE(loc == "/" ||
                (loc.rfind("/", 0) == 0 && loc.rfind("//", 0) != 0 && loc.find('\r') == std::string::npos))
        << evil << " -> " << loc;
    EXPECT_EQ(loc.find("evil.example"), std::string::npos) << evil << " -> " << loc;
  }
  Client ok = web->client();
  EXPECT_EQ(ok.login(kAdmin, kPassword, "/sensors?status=pending").header("Location"),
            "/sensors?status=pending");
  // Pages redirect anonymous users to the login with the page as next.
  Client anon = web->client();
  EXPECT_EQ(anon.get("/server").header("Location"), "/login?next=%2Fserver");
}

TEST_F(WebApiTest, SensorRegisterAccountMayNotUseTheInterface) {
  Client c = web->client();
  auto r = c.login("register@example.test", kUserPassword);
  EXPECT_NE(r.header("Location").find("error="), std::string::npos);
  EXPECT_EQ(c.cookies.count("d4_session"), 0u);
}

// ---------------------------------------------------------------- reference API contract

TEST_F(WebApiTest, ReferenceErrorsForAuthentication) {
  Client anon = web->client();
  auto r = anon.get("/api/v1/sensors/monitoring/errors");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json(), json({{"status", "error"}, {"reason", "Authentication needed"}}));
  auto bad = anon.get("/api/v1/sensors/monitoring/errors", {{"Authorization", std::string(41, 'x')}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.json()["reason"], "Authentication failed");
  auto nf = with_token(user_token).get("/api/v1/nothing/here");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.json(), json({{"status", "error"}, {"reason", "404 Not Found"}}));
  auto m = with_token(user_token).request("PATCH", "/api/v1/sensors/monitoring/errors");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.json()["reason"].get<std::string>().rfind("Method Not Allowed", 0), 0u);
  // The reference's bare "Authorization: <token>" form works too.
  Client bare = web->client();
  EXPECT_EQ(bare.get("/api/v1/sensors/monitoring/errors", {{"Authorization", user_token}}).status, 200);
}

TEST_F(WebApiTest, SensorSelfRegistrationLikeTheReference) {
  Client reg = with_token(reg_token);
  std::string key = "k<e>y&'\"  with spaces";
  auto r = reg.call(
      "POST", "/api/v1/add/sensor/register",
      {{"uuid", kSensorDashed}, {"hmac_key", key}, {"mail", "ops@example.test"}, {"third_party", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json(), json({{"uuid", kSensor}}));
  // Stored verbatim (the reference HTML-escaped and truncated it), pending approval.
  EXPECT_EQ(cli_str(web->meta(), {"HGET", "metadata_uuid:" + std::string(kSensor), "hmac_key"}), key);
  EXPECT_EQ(cli_str(web->meta(), {"HGET", "metadata_uuid:" + std::string(kSensor), "user_mail"}),
            "ops@example.test");
  EXPECT_EQ(web->meta().command({"SISMEMBER", "sensor_pending_registration", kSensor}).integer, 1);
  auto again = reg.call("POST", "/api/v1/add/sensor/register", {{"uuid", kSensor}, {"hmac_key", "x"}});
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.json()["reason"], "Sensor already registered");
  auto invalid = reg.call("POST", "/api/v1/add/sensor/register", {{"uuid", "not-a-uuid"}, {"hmac_key", "x"}});
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(invalid.json()["reason"], "Invalid uuid");
  auto v1 = reg.call("POST", "/api/v1/add/sensor/register",
                     {{"uuid", "0123456789ab1def8123456789abcdef"}, {"hmac_key", "x"}});
  EXPECT_EQ(v1.status, 400) << "only UUID v4";
  auto missing =
      reg.call("POST", "/api/v1/add/sensor/register", {{"uuid", "1123456789ab4def8123456789abcdef"}});
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.json()["reason"], "Mandatory parameter(s) not provided");
  auto notjson = reg.request("POST", "/api/v1/add/sensor/register", "{oops", "application/json");
  EXPECT_EQ(notjson.status, 400);
  // The sensor_register role may not read anything else.
  EXPECT_EQ(reg.get("/api/v1/sensors").status, 403);
}

TEST_F(WebApiTest, MonitoringErrorsEndpoint) {
  web->meta().command(
      {"SADD", "sensors_monitoring:sensors_error", kSensor, "2123456789ab4def8123456789abcdef"});
  auto r = with_token(user_token).get("/api/v1/sensors/monitoring/errors");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), json({kSensor, "2123456789ab4def8123456789abcdef"}));
}

// ---------------------------------------------------------------- roles and CSRF on every endpoint

struct Endpoint {
  std::string method, path;
  std::string role;  // least role: "admin", "user", "sensor_register"
  json body = nullptr;
};

std::vector<Endpoint> all_endpoints() {
  std::string s = std::string("/api/v1/sensors/") + kSensor;
  return {
      {"POST", "/api/v1/add/sensor/register", "sensor_register", json::object()},
      {"GET", "/api/v1/sensors/monitoring/errors", "user"},
      {"GET", "/api/v1/dashboard", "user"},
      {"GET", "/api/v1/health", "user"},
      {"GET", "/api/v1/stats/daily?days=3", "user"},
      {"GET", "/api/v1/uuid", "user"},
      {"GET", "/api/v1/sensors", "user"},
      {"GET", s, "user"},
      {"GET", s + "/stats", "user"},
      {"DELETE", s, "admin"},
      {"POST", s + "/approve", "admin"},
      {"POST", s + "/reject", "admin"},
      {"POST", s + "/unregister", "admin"},
      {"GET", s + "/key", "admin"},
      {"PUT", s + "/key", "admin", {{"key", "abc"}}},
      {"POST", s + "/key/rotate", "admin"},
      {"DELETE", s + "/key", "admin"},
      {"PUT", s + "/backlog", "admin", {{"limit", 100}}},
      {"PUT", s + "/rate-limit", "admin", {{"bytes_per_second", 1000}}},
      {"PUT", s + "/description", "user", {{"description", "x"}}},
      {"PUT", s + "/tags", "user", {{"tags", json::array({"a"})}}},
      {"PUT", s + "/monitoring", "user", {{"delta_time", 60}}},
      {"DELETE", s + "/monitoring", "user"},
      {"POST", s + "/kick", "admin"},
      {"POST", s + "/block", "admin"},
      {"DELETE", s + "/block", "admin"},
      {"POST", s + "/block-ips", "admin"},
      {"DELETE", s + "/block-ips", "admin"},
      {"DELETE", s + "/errors", "user"},
      {"GET", "/api/v1/server", "user"},
      {"POST", "/api/v1/server/types", "admin", {{"type", 3}}},
      {"DELETE", "/api/v1/server/types/3", "admin"},
      {"POST", "/api/v1/server/extended-types", "admin", {{"name", "x-test"}}},
      {"DELETE", "/api/v1/server/extended-types/x-test", "admin"},
      {"POST", "/api/v1/server/kick-type/3", "admin"},
      {"GET", "/api/v1/server/blocklist/ips", "user"},
      {"POST", "/api/v1/server/blocklist/ips", "user", {{"ip", "192.0.2.1"}}},
      {"DELETE", "/api/v1/server/blocklist/ips?ip=192.0.2.1", "user"},
      {"GET", "/api/v1/server/blocklist/uuids", "user"},
      {"POST", "/api/v1/server/blocklist/uuids", "admin", {{"uuid", kSensor}}},
      {"DELETE", std::string("/api/v1/server/blocklist/uuids?uuid=") + kSensor, "admin"},
      {"GET", "/api/v1/queues", "user"},
      {"POST", "/api/v1/queues", "user", {{"type", 3}}},
      {"GET", "/api/v1/queues/00000000-0000-4000-8000-000000000000", "user"},
      {"PUT", "/api/v1/queues/00000000-0000-4000-8000-000000000000", "admin", {{"description", "x"}}},
      {"DELETE", "/api/v1/queues/00000000-0000-4000-8000-000000000000", "admin"},
      {"POST", "/api/v1/queues/00000000-0000-4000-8000-000000000000/empty", "admin"},
      {"GET", "/api/v1/queues/00000000-0000-4000-8000-000000000000/preview", "user"},
      {"GET", "/api/v1/me", "sensor_register"},
      {"POST", "/api/v1/me/password", "sensor_register", {{"current_password", "x"}, {"new_password", "y"}}},
      {"POST", "/api/v1/me/tokens", "user", {{"name", "t"}}},
      {"DELETE", "/api/v1/me/tokens/000000000000", "sensor_register"},
      {"GET", "/api/v1/users", "admin"},
      {"POST", "/api/v1/users", "admin", json::object()},
      {"GET", "/api/v1/users/nobody@example.test", "admin"},
      {"PUT", "/api/v1/users/nobody@example.test", "admin", {{"role", "user"}}},
      {"GET", "/api/v1/backscatter/stats", "user"},
      {"GET", "/api/v1/backscatter/victims?window=0&limit=5", "user"},
      {"GET", "/api/v1/backscatter/victims/203.0.113.10", "user"},
      {"GET", "/api/v1/backscatter/victims/203.0.113.10/series", "user"},
      {"DELETE", "/api/v1/users/nobody@example.test", "admin"},
      {"POST", "/api/v1/users/nobody@example.test/tokens", "admin"},
      {"DELETE", "/api/v1/users/nobody@example.test/tokens/000000000000", "admin"},
      {"GET", "/api/v1/alerts", "user"},
      {"GET", "/api/v1/alerts/rules", "user"},
      {"POST",
       "/api/v1/alerts/rules",
       "user",
       {{"kind", "sensor_silent"}, {"scope", std::string("sensor:") + kSensor}}},
      {"GET", "/api/v1/alerts/rules/0000000000000000", "user"},
      {"PUT", "/api/v1/alerts/rules/0000000000000000", "user", {{"threshold", 2}}},
      {"DELETE", "/api/v1/alerts/rules/0000000000000000", "user"},
      {"GET", "/api/v1/organisations", "user"},
      {"POST", "/api/v1/organisations", "admin", json::object()},
      {"GET", "/api/v1/organisations/00000000-0000-4000-8000-0000000000a0", "user"},
      {"PUT", "/api/v1/organisations/00000000-0000-4000-8000-0000000000a0", "admin", {{"name", "x"}}},
      {"DELETE", "/api/v1/organisations/00000000-0000-4000-8000-0000000000a0", "admin"},
      {"POST",
       "/api/v1/organisations/00000000-0000-4000-8000-0000000000a0/sensors",
       "admin",
       {{"uuid", kSensor}}},
      {"POST",
       "/api/v1/organisations/00000000-0000-4000-8000-0000000000a0/users",
       "admin",
       {{"email", "x@y.test"}}},
      // Queue grants: a user who administers no organisation may list them only.
      {"GET", "/api/v1/grants", "user"},
      {"POST", "/api/v1/grants", "admin", {{"to", "00000000-0000-4000-8000-0000000000b0"}, {"type", 3}}},
      {"GET", "/api/v1/grants/audit", "admin"},
      {"DELETE", "/api/v1/grants/00000000-0000-4000-8000-0000000000b0", "user"},
      // An organisation's own alert channels: its members read them, its administrators change them.
      {"GET", "/api/v1/organisations/00000000-0000-4000-8000-0000000000a0/channels", "user"},
      {"PUT",
       "/api/v1/organisations/00000000-0000-4000-8000-0000000000a0/channels/x",
       "admin",
       {{"type", "webhook"}, {"url", "https://hooks.example.org/x"}}},
      {"DELETE", "/api/v1/organisations/00000000-0000-4000-8000-0000000000a0/channels/x", "admin"},
  };
}

int level(const std::string& role) {
  return role == "admin" ? 1 : role == "user" ? 2 : 20;
}

TEST_F(WebApiTest, EveryEndpointChecksTheRole) {
  std::map<std::string, std::string> tokens = {
      {"admin", admin_token}, {"user", user_token}, {"sensor_register", reg_token}};
  for (const auto& e : all_endpoints()) {
    Client anon = web->client();
    auto a = anon.call(e.method, e.path, e.body);
    EXPECT_EQ(a.status, 401) << "anonymous " << e.method << " " << e.path;
    for (const auto& [role, token] : tokens) {
      auto r = with_token(token).call(e.method, e.path, e.body);
      bool allowed = level(role) <= level(e.role);
      if (allowed) {
        EXPECT_NE(r.status, 401) << role << " " << e.method << " " << e.path << " " << r.body;
        EXPECT_NE(r.status, 403) << role << " " << e.method << " " << e.path << " " << r.body;
        EXPECT_LT(r.status, 500) << role << " " << e.method << " " << e.path << " " << r.body;
      } else {
        EXPECT_EQ(r.status, 403) << role << " " << e.method << " " << e.path << " " << r.body;
        EXPECT_EQ(r.json()["reason"], "Access Forbidden");
      }
    }
  }
}

TEST_F(WebApiTest, EveryStateChangeNeedsTheCsrfTokenWithASession) {
  for (const auto& e : all_endpoints()) {
    if (e.method == "GET") continue;
    Client c = admin;  // same session cookie
    c.csrf.clear();
    auto missing = c.call(e.method, e.path, e.body);
    EXPECT_EQ(missing.status, 403) << e.method << " " << e.path;
    EXPECT_EQ(missing.json()["reason"], "CSRF token missing or invalid") << e.method << " " << e.path;
    c.csrf = std::string(43, 'A');
    EXPECT_EQ(c.call(e.method, e.path, e.body).status, 403) << e.method << " " << e.path;
  }
  // With the token the same session may act; GETs never need it.
  Client c = admin;
  EXPECT_EQ(c.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "198.51.100.7"}}).status, 200);
  c.csrf.clear();
  EXPECT_EQ(c.call("GET", "/api/v1/server/blocklist/ips").status, 200);
}

TEST_F(WebApiTest, OpenApiDocumentsEveryEndpoint) {
  Client anon = web->client();
  auto r = anon.get("/api/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  auto doc = r.json();
  EXPECT_EQ(doc["openapi"].get<std::string>().rfind("3.", 0), 0u);
  // The document served is the one in docs/.
  std::ifstream f(std::string(D4_SOURCE_DIR) + "/docs/api/openapi.json");
  std::string disk((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(json::parse(disk), doc);
  for (const auto& e : all_endpoints()) {
    std::string p = e.path.substr(std::string("/api/v1").size());
    p = p.substr(0, p.find('?'));
    // Map concrete values back to the templated path.
    auto replace = [&](const std::string& from, const std::string& to) {
      auto pos = p.find(from);
      if (pos != std::string::npos) p.replace(pos, from.size(), to);
    };
    replace(kSensor, "{uuid}");
    replace("/rules/0000000000000000", "/rules/{id}");
    replace("00000000-0000-4000-8000-0000000000a0", "{id}");
    replace("00000000-0000-4000-8000-0000000000b0", "{id}");
    replace("/misp-feed/manifest.json", "/misp-feed/{file}");
    replace("/channels/x", "/channels/{name}");
    replace("00000000-0000-4000-8000-000000000000", "{id}");
    replace("nobody@example.test", "{email}");
    replace("000000000000", "{token_id}");
    replace("/types/3", "/types/{type}");
    replace("/kick-type/3", "/kick-type/{type}");
    replace("/extended-types/x-test", "/extended-types/{name}");
    replace("203.0.113.10", "{ip}");
    std::string m = e.method;
    for (auto& ch : m) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_TRUE(doc["paths"].contains(p) && doc["paths"][p].contains(m)) << e.method << " " << p;
  }
}

// ---------------------------------------------------------------- sensors

// One instance for the suite and one sensor, registered through the reference API and approved
// by the administrator; each test acts on it through /api/v1/sensors/<uuid>. Run together (one
// CTest test, tests/web/CMakeLists.txt), the tests share the instance; each also runs alone.
class WebSensorActions : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    web_ = d4::webtest::start_web().release();
    site_ = new d4::webtest::SignedInAdmin(*web_);
    reg_token_ = new std::string(site_->make_user("register@example.test", "sensor_register"));
  }
  static void TearDownTestSuite() {
    delete reg_token_;
    delete site_;
    delete web_;
    reg_token_ = nullptr;
    site_ = nullptr;
    web_ = nullptr;
  }

 protected:
  WebInstance& web() { return *web_; }
  Client admin_api() { return d4::webtest::bearer_client(*web_, site_->token); }
  Client registrar() { return d4::webtest::bearer_client(*web_, *reg_token_); }
  Client admin_session() { return site_->session; }
  std::string meta_field(const std::string& key, const std::string& field) {
    return cli_str(web_->meta(), {"HGET", key, field});
  }
  // The sensor registered and approved (by an earlier test of the suite, or now).
  void registered_sensor() {
    if (web_->meta().command({"SISMEMBER", "registered_uuid", kSensor}).integer == 1) return;
    ASSERT_EQ(registrar()
                  .call("POST", "/api/v1/add/sensor/register", {{"uuid", kSensor}, {"hmac_key", "k1"}})
                  .status,
              200);
    ASSERT_EQ(admin_api().call("POST", sensor() + "/approve").status, 200);
  }
  static std::string sensor() { return std::string("/api/v1/sensors/") + kSensor; }
  void give_the_sensor_a_history();

 private:
  static inline WebInstance* web_ = nullptr;
  static inline d4::webtest::SignedInAdmin* site_ = nullptr;
  static inline std::string* reg_token_ = nullptr;
};

TEST_F(WebSensorActions, ARegistrationIsPendingUntilApprovedUnderItsNormalisedUuid) {
  ASSERT_EQ(
      registrar().call("POST", "/api/v1/add/sensor/register", {{"uuid", kSensor}, {"hmac_key", "k1"}}).status,
      200);
  Client a = admin_api();
  auto list = a.get("/api/v1/sensors?status=pending");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json()["total"], 1);
  EXPECT_EQ(list.json()["items"][0]["uuid"], kSensor);
  // Approve with the dashed, upper-case spelling: stored normalised.
  ASSERT_EQ(a.call("POST", std::string("/api/v1/sensors/") + kSensorDashed + "/approve").status, 200);
  EXPECT_EQ(a.call("POST", sensor() + "/approve").status, 409);
  EXPECT_EQ(web().meta().command({"SISMEMBER", "registered_uuid", kSensor}).integer, 1);
  EXPECT_EQ(web().meta().command({"SISMEMBER", "sensor_pending_registration", kSensor}).integer, 0);
  EXPECT_EQ(a.call("POST", sensor() + "/reject").status, 409);
}

TEST_F(WebSensorActions, TheKeyIsStoredVerbatimRotatedAndRemoved) {
  ASSERT_NO_FATAL_FAILURE(registered_sensor());
  Client a = admin_api();
  const std::string s = sensor(), metadata = "metadata_uuid:" + std::string(kSensor);
  std::string key = "<b>&amp; \"verbatim\" key</b>";
  ASSERT_EQ(a.call("PUT", s + "/key", {{"key", key}}).status, 200);
  EXPECT_EQ(meta_field(metadata, "hmac_key"), key);
  EXPECT_EQ(a.get(s + "/key").json()["key"], key);
  EXPECT_EQ(a.call("PUT", s + "/key", {{"key", ""}}).status, 400);
  EXPECT_EQ(a.call("PUT", s + "/key", {{"key", "line\n"}}).status, 400);
  auto rot = a.call("POST", s + "/key/rotate");
  ASSERT_EQ(rot.status, 200);
  std::string rotated = rot.json()["key"];
  EXPECT_EQ(rotated.size(), 40u);
  EXPECT_EQ(meta_field(metadata, "hmac_key"), rotated);
  ASSERT_EQ(a.call("DELETE", s + "/key").status, 200);
  EXPECT_EQ(a.get(s + "/key").json()["uses_default_key"], true);
}

TEST_F(WebSensorActions, TheBacklogLimitIsSetCheckedAndCleared) {
  ASSERT_NO_FATAL_FAILURE(registered_sensor());
  Client a = admin_api();
  const std::string s = sensor();
  ASSERT_EQ(a.call("PUT", s + "/backlog", {{"limit", 5000}}).status, 200);
  EXPECT_EQ(meta_field("stream_max_size_by_uuid", kSensor), "5000");
  EXPECT_EQ(a.call("PUT", s + "/backlog", {{"limit", 0}}).status, 400);
  EXPECT_EQ(a.call("PUT", s + "/backlog", {{"limit", "many"}}).status, 400);
  ASSERT_EQ(a.call("PUT", s + "/backlog", {{"limit", nullptr}}).status, 200);
  EXPECT_EQ(meta_field("stream_max_size_by_uuid", kSensor), "<nil>");
}

TEST_F(WebSensorActions, NewTagsReplaceTheOldOnes) {
  ASSERT_NO_FATAL_FAILURE(registered_sensor());
  Client a = admin_api();
  ASSERT_EQ(a.call("PUT", sensor() + "/tags", {{"tags", "dmz, lab"}}).status, 200);
  ASSERT_EQ(a.call("PUT", sensor() + "/tags", {{"tags", json::array({"lab", "paris"})}}).status, 200);
  auto tags = web().meta().command({"SMEMBERS", "sensor:tags:" + std::string(kSensor)}).as_strings();
  EXPECT_EQ(std::set<std::string>(tags.begin(), tags.end()), (std::set<std::string>{"lab", "paris"}));
}

TEST_F(WebSensorActions, MonitoringIsStoredWithItsDeltaTime) {
  ASSERT_NO_FATAL_FAILURE(registered_sensor());
  Client a = admin_api();
  ASSERT_EQ(a.call("PUT", sensor() + "/monitoring", {{"delta_time", 120}}).status, 200);
  EXPECT_EQ(web().meta().command({"SISMEMBER", "to_monitor:sensors", kSensor}).integer, 1);
  EXPECT_EQ(meta_field("to_monitor:sensor:" + std::string(kSensor), "delta_time"), "120");
  EXPECT_NE(cli_str(web().meta(), {"GET", "sensors_monitoring:last_updated"}), "<nil>");
  EXPECT_EQ(a.call("PUT", sensor() + "/monitoring", {{"delta_time", 0}}).status, 400);
}

TEST_F(WebSensorActions, KickBlockAndBlockIpsWriteTheReferenceKeys) {
  ASSERT_NO_FATAL_FAILURE(registered_sensor());
  Client a = admin_api();
  ASSERT_EQ(a.call("POST", sensor() + "/kick").status, 200);
  EXPECT_EQ(web().stream().command({"EXISTS", "temp_blacklist_uuid:" + std::string(kSensor)}).integer, 1);
  ASSERT_EQ(a.call("POST", sensor() + "/block").status, 200);
  EXPECT_EQ(web().meta().command({"SISMEMBER", "blacklist_uuid", kSensor}).integer, 1);
  ASSERT_EQ(a.call("POST", sensor() + "/block-ips").status, 200);
  EXPECT_EQ(web().meta().command({"SISMEMBER", "blacklist_ip_by_uuid", kSensor}).integer, 1);
}

// The sensor with errors and rejects written by the server/workers, the admission limits that
// held it (d4-server) and its unprocessed bytes, and what the administrator set.
void WebSensorActions::give_the_sensor_a_history() {
  ASSERT_NO_FATAL_FAILURE(registered_sensor());
  Client a = admin_api();
  ASSERT_EQ(a.call("PUT", sensor() + "/description", {{"description", "<script>alert(1)</script>"}}).status,
            200);
  ASSERT_EQ(a.call("PUT", sensor() + "/tags", {{"tags", json::array({"lab", "paris"})}}).status, 200);
  ASSERT_EQ(a.call("PUT", sensor() + "/monitoring", {{"delta_time", 120}}).status, 200);
  // Blocked (409: already, by an earlier test of the suite).
  for (const char* action : {"/block", "/block-ips"}) {
    int status = a.call("POST", sensor() + action).status;
    ASSERT_TRUE(status == 200 || status == 409) << action << " " << status;
  }
  const std::string u = kSensor;
  web().meta().command(
      {"DEL", "sensor:rejects:" + u, "sensor:errors:" + u, "list_uuid_ip:" + u, "sensor:backpressure:" + u});
  web().meta().command({"HINCRBY", "sensor:rejects:" + u, "bad_hmac", "3"});
  web().meta().command(
      {"LPUSH", "sensor:errors:" + u,
       R"({"time":1700000000,"reason":"bad_hmac","detail":"HMAC mismatch","ip":"192.0.2.9","source":"server"})"});
  web().meta().command({"LPUSH", "list_uuid_ip:" + u, "192.0.2.9-20240101120000"});
  web().meta().command({"HINCRBY", "sensor:backpressure:" + u, "sensor_bytes", "4"});
  web().stream().command({"HSET", "d4:backlog:sensor", u, "123456"});
}

TEST_F(WebSensorActions, TheSensorShowsItsErrorsRejectsLimitsBlocksAndMonitoring) {
  ASSERT_NO_FATAL_FAILURE(give_the_sensor_a_history());
  auto info = admin_api().get(sensor()).json();
  EXPECT_EQ(info["backpressure"]["sensor_bytes"], 4);
  EXPECT_EQ(info["backlog_bytes"], 123456);
  EXPECT_EQ(info["registered"], true);
  EXPECT_EQ(info["blocked"], true);
  EXPECT_EQ(info["ips_blocked"], true);
  EXPECT_EQ(info["rejects"]["bad_hmac"], 3);
  EXPECT_EQ(info["errors"][0]["reason"], "bad_hmac");
  EXPECT_EQ(info["connection_history"][0]["ip"], "192.0.2.9");
  EXPECT_EQ(info["connection_history"][0]["time"], "2024-01-01 12:00:00");
  EXPECT_EQ(info["monitoring"]["delta_time"], 120);
}

TEST_F(WebSensorActions, TheSensorPageEscapesWhatSensorsAndUsersTyped) {
  ASSERT_NO_FATAL_FAILURE(give_the_sensor_a_history());
  auto html = admin_session().get(std::string("/sensors/") + kSensor);
  ASSERT_EQ(html.status, 200);
  EXPECT_EQ(html.body.find("<script>alert(1)</script>"), std::string::npos);
  EXPECT_NE(html.body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.body.find("HMAC mismatch"), std::string::npos);
  EXPECT_NE(html.body.find("<td>sensor_bytes</td>"), std::string::npos);
}

TEST_F(WebSensorActions, SearchFindsTheSensorByTagDashedUuidAndStatus) {
  ASSERT_NO_FATAL_FAILURE(give_the_sensor_a_history());
  Client a = admin_api();
  EXPECT_EQ(a.get("/api/v1/sensors?q=paris").json()["total"], 1);
  EXPECT_EQ(a.get("/api/v1/sensors?q=01234567-89ab").json()["total"], 1);
  EXPECT_EQ(a.get("/api/v1/sensors?q=nothing-like-this").json()["total"], 0);
  EXPECT_EQ(a.get("/api/v1/sensors?status=blocked").json()["total"], 1);
}

// Last of the suite: it deletes the sensor.
TEST_F(WebSensorActions, ClearingUnblockingAndDeletingRemoveTheReferenceKeys) {
  ASSERT_NO_FATAL_FAILURE(give_the_sensor_a_history());
  Client a = admin_api();
  const std::string s = sensor();
  ASSERT_EQ(a.call("DELETE", s + "/errors").status, 200);
  EXPECT_EQ(web().meta().command({"EXISTS", "sensor:rejects:" + std::string(kSensor)}).integer, 0);
  EXPECT_EQ(web().meta().command({"EXISTS", "sensor:backpressure:" + std::string(kSensor)}).integer, 0);
  ASSERT_EQ(a.call("DELETE", s + "/block").status, 200);
  ASSERT_EQ(a.call("DELETE", s + "/block-ips").status, 200);
  ASSERT_EQ(a.call("DELETE", s + "/monitoring").status, 200);
  EXPECT_EQ(web().meta().command({"SISMEMBER", "to_monitor:sensors", kSensor}).integer, 0);
  ASSERT_EQ(a.call("DELETE", s).status, 200);
  EXPECT_EQ(web().meta().command({"EXISTS", "metadata_uuid:" + std::string(kSensor)}).integer, 0);
  EXPECT_EQ(web().meta().command({"SISMEMBER", "registered_uuid", kSensor}).integer, 0);
  EXPECT_EQ(a.get("/api/v1/sensors/not-a-uuid").status, 400);
}

// The sensor list comes from the sensor index (written by d4-server and the policy library),
// never from a scan of the keyspace, which unauthenticated peers could make arbitrarily large.
TEST_F(WebApiTest, SensorListReadsTheSensorIndexWithoutScanningTheKeyspace) {
  const std::string indexed = "fedcba9876544321abcdef0123456789";
  web->meta().command({"SADD", "sensor:index", indexed});
  web->meta().command({"HSET", "metadata_uuid:" + indexed, "description", "seen by the server"});
  auto scans = [&] {
    auto info = web->meta().command({"INFO", "commandstats"}).str;
    auto at = info.find("cmdstat_scan:calls=");
    return at == std::string::npos ? 0L : std::stol(info.substr(at + 19));
  };
  long before = scans();
  auto list = with_token(admin_token).get("/api/v1/sensors");
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.json()["total"], 1);
  EXPECT_EQ(list.json()["items"][0]["uuid"], indexed);
  EXPECT_EQ(list.json()["items"][0]["description"], "seen by the server");
  EXPECT_EQ(admin.get("/sensors").status, 200);
  EXPECT_EQ(scans(), before);
  // Deleting the sensor takes it out of the index.
  ASSERT_EQ(with_token(admin_token).call("DELETE", "/api/v1/sensors/" + indexed).status, 200);
  EXPECT_EQ(web->meta().command({"SISMEMBER", "sensor:index", indexed}).integer, 0);
}

TEST_F(WebApiTest, PendingRegistrationCanBeRejected) {
  ASSERT_EQ(with_token(reg_token)
                .call("POST", "/api/v1/add/sensor/register", {{"uuid", kSensor}, {"hmac_key", "k"}})
                .status,
            200);
  Client a = with_token(admin_token);
  ASSERT_EQ(a.call("POST", std::string("/api/v1/sensors/") + kSensor + "/reject").status, 200);
  EXPECT_EQ(web->meta().command({"SISMEMBER", "sensor_pending_registration", kSensor}).integer, 0);
  EXPECT_EQ(web->meta().command({"SISMEMBER", "registered_uuid", kSensor}).integer, 0);
  EXPECT_EQ(a.call("POST", std::string("/api/v1/sensors/") + kSensor + "/unregister").status, 404);
}

// ---------------------------------------------------------------- server management

TEST_F(WebApiTest, BlocklistsStoreNetworksWithoutExpansionAndPaginate) {
  Client u = with_token(admin_token);  // wide networks and UUIDs need the admin role
  auto r = u.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "10.1.2.3/8"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["value"], "10.0.0.0/8");
  ASSERT_EQ(u.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "2001:db8::/32"}}).status, 200);
  EXPECT_EQ(web->meta().command({"SCARD", "blacklist_ip"}).integer, 2) << "a CIDR is one entry";
  auto bad = u.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "10.0.0.300"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_FALSE(bad.json()["reason"].get<std::string>().empty());
  EXPECT_EQ(u.call("POST", "/api/v1/server/blocklist/ips", json::object()).status, 400);
  for (int i = 0; i < 150; ++i) web->meta().command({"SADD", "blacklist_ip", "192.0.2." + std::to_string(i)});
  auto p1 = u.get("/api/v1/server/blocklist/ips?per_page=100").json();
  EXPECT_EQ(p1["total"], 152);
  EXPECT_EQ(p1["items"].size(), 100u);
  auto p2 = u.get("/api/v1/server/blocklist/ips?per_page=100&page=2").json();
  EXPECT_EQ(p2["items"].size(), 52u);
  auto search = u.get("/api/v1/server/blocklist/ips?q=192.0.2.14").json();
  EXPECT_EQ(search["total"], 11);  // 14, 140..149
  ASSERT_EQ(u.call("DELETE", "/api/v1/server/blocklist/ips?ip=10.0.0.0%2F8").status, 200);
  EXPECT_EQ(u.call("DELETE", "/api/v1/server/blocklist/ips?ip=10.0.0.0%2F8").status, 404);
  // UUID blocklist: normalised, no duplicates.
  ASSERT_EQ(u.call("POST", "/api/v1/server/blocklist/uuids", {{"uuid", kSensorDashed}}).status, 200);
  EXPECT_EQ(u.call("POST", "/api/v1/server/blocklist/uuids", {{"uuid", kSensor}}).status, 409);
  EXPECT_EQ(u.get("/api/v1/server/blocklist/uuids").json()["items"], json::array({kSensor}));
  EXPECT_EQ(u.call("POST", "/api/v1/server/blocklist/uuids", {{"uuid", "xyz"}}).status, 400);
  // The HTML form path without JavaScript: form post with the CSRF field, redirect with a message.
  Client s = admin;
  auto f = s.form("/api/v1/server/blocklist/ips",
                  {{"ip", "203.0.113.0/24"}, {"csrf_token", s.csrf}, {"next", "/server"}});
  EXPECT_EQ(f.status, 303);
  EXPECT_EQ(f.header("Location").rfind("/server?flash=", 0), 0u);
  EXPECT_EQ(web->meta().command({"SISMEMBER", "blacklist_ip", "203.0.113.0/24"}).integer, 1);
  auto del = s.form("/api/v1/server/blocklist/ips", {{"ip", "203.0.113.0/24"},
                                                     {"_method", "DELETE"},
                                                     {"csrf_token", s.csrf},
                                                     {"next", "https://evil.example/"}});
  EXPECT_EQ(del.header("Location").rfind("/?flash=", 0), 0u);
  EXPECT_EQ(web->meta().command({"SISMEMBER", "blacklist_ip", "203.0.113.0/24"}).integer, 0);
  auto page = s.get("/server?ipq=192.0.2.14");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("192.0.2.149"), std::string::npos);
  EXPECT_EQ(page.body.find("192.0.2.150"), std::string::npos);
  // The page's two lists page separately: the IP list's "Next" link sets ippage, which it reads.
  auto first = s.get("/server");
  EXPECT_NE(first.body.find("href=\"/server?ipq=&amp;ippage=2\">Next"), std::string::npos);
  auto second = s.get("/server?ipq=&ippage=2");
  EXPECT_NE(second.body.find("page 2 of 2"), std::string::npos);
  EXPECT_NE(second.body.find("href=\"/server?ipq=&amp;ippage=1\">Previous"), std::string::npos);
}

TEST_F(WebApiTest, AcceptedTypesServerInfoAndKicks) {
  Client a = with_token(admin_token);
  ASSERT_EQ(a.call("POST", "/api/v1/server/types", {{"type", 3}}).status, 200);
  ASSERT_EQ(a.call("POST", "/api/v1/server/types", {{"type", 254}, {"extended_type", "maltrail"}}).status,
            200);
  ASSERT_EQ(a.call("POST", "/api/v1/server/extended-types", {{"name", "ja3-jl"}}).status, 200);
  EXPECT_EQ(a.call("POST", "/api/v1/server/types", {{"type", 300}}).status, 400);
  EXPECT_EQ(a.call("POST", "/api/v1/server/types", {{"type", "three"}}).status, 400);
  EXPECT_EQ(web->meta().command({"SISMEMBER", "server:accepted_type", "3"}).integer, 1);
  EXPECT_EQ(web->meta().command({"SISMEMBER", "server:accepted_extended_type", "maltrail"}).integer, 1);
  web->meta().command({"SET", "server:hmac_default_key", "private key to change"});
  auto info = a.get("/api/v1/server").json();
  EXPECT_EQ(info["default_key"]["is_reference_default"], true);
  EXPECT_NE(std::find(info["accepted_types"].begin(), info["accepted_types"].end(), 3),
            info["accepted_types"].end());
  EXPECT_EQ(info["accepted_extended_types"], json::array({"ja3-jl", "maltrail"}));
  ASSERT_EQ(a.call("DELETE", "/api/v1/server/types/3").status, 200);
  ASSERT_EQ(a.call("DELETE", "/api/v1/server/extended-types/maltrail").status, 200);
  EXPECT_EQ(web->meta().command({"SISMEMBER", "server:accepted_type", "3"}).integer, 0);
  ASSERT_EQ(a.call("POST", "/api/v1/server/kick-type/8").status, 200);
  EXPECT_EQ(web->stream().command({"ZSCORE", "server:kicks", "type:8"}).is_nil(), false);
}

// Refusals d4-server counted, with their reasons, including those before authentication that no
// sensor's page shows, and the source networks refused most (written as the server writes them).
TEST_F(WebApiTest, ServerPageShowsEveryRefusalWithItsReasonAndTheNetworksRefusedMost) {
  const std::string day = d4::test::local_day();
  web->meta().command({"HSET", "server:rejects", "hmac_mismatch", "7", "unauthenticated_budget", "2"});
  web->meta().command({"HSET", "server:rejects:" + day, "hmac_mismatch", "3"});
  web->meta().command({"ZADD", "server:reject_sources", "5", "192.0.2.0/24", "2", "2001:db8:1:2::/64", "9",
                       "198.51.100.0/24"});
  web->meta().command({"HSET", "server:backpressure", "sensor_bytes", "4"});
  Client u = with_token(user_token);
  auto info = u.get("/api/v1/server").json()["refusals"];
  EXPECT_EQ(info["all_time"]["hmac_mismatch"], 7);
  EXPECT_EQ(info["all_time"]["unauthenticated_budget"], 2);
  EXPECT_EQ(info["today"]["hmac_mismatch"], 3);
  EXPECT_EQ(info["ranked_sources"], 3);
  ASSERT_EQ(info["top_sources"].size(), 3u);
  EXPECT_EQ(info["top_sources"][0]["network"], "198.51.100.0/24") << "highest first";
  EXPECT_EQ(info["top_sources"][0]["rejects"], 9);
  EXPECT_EQ(info["backpressure"]["sensor_bytes"], 4);
  auto page = admin.get("/server");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<td>hmac_mismatch</td><td>3</td><td>7</td>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("<td>unauthenticated_budget</td><td>0</td><td>2</td>"), std::string::npos);
  EXPECT_NE(page.body.find("2001:db8:1:2::/64"), std::string::npos);
  EXPECT_NE(page.body.find("sensor_bytes: 4"), std::string::npos);
}

// Beyond the queue and server pages (Type7IsNamedAndGetsAQueue), the dashboard's traffic, the
// sensor list and a sensor's types name the types too; unassigned types keep their number alone,
// and the API keeps the numbers.
TEST_F(WebApiTest, DashboardAndSensorPagesNameTheTypes) {
  Client a = with_token(admin_token);
  ASSERT_EQ(a.call("POST", "/api/v1/server/types", {{"type", 200}}).status, 200);
  const std::string today = d4::test::local_day();
  web->meta().command({"ZINCRBY", "daily_type:" + today, "3", "7"});
  web->meta().command({"SADD", "sensor:index", kSensor});
  web->meta().command({"SADD", std::string("all_types_by_uuid:") + kSensor, "7"});
  EXPECT_NE(admin.get("/").body.find("<td>7 (yaf)</td>"), std::string::npos);
  EXPECT_NE(admin.get("/sensors").body.find("<td>7 (yaf)</td>"), std::string::npos);
  EXPECT_NE(admin.get(std::string("/sensors/") + kSensor).body.find("<td>7 (yaf)</td>"), std::string::npos);
  EXPECT_NE(admin.get("/server").body.find("<li>200<"), std::string::npos);
  EXPECT_EQ(a.get("/api/v1/dashboard").json()["types_today"][0]["type"], "7");
  EXPECT_EQ(a.get("/api/v1/sensors").json()["items"][0]["types"], json::array({"7"}));
}

// ---------------------------------------------------------------- analyzer queues

TEST_F(WebApiTest, AnalyzerQueuesCreateEditPreviewEmptyDelete) {
  Client a = with_token(admin_token);
  a.call("POST", "/api/v1/server/types", {{"type", 8}});
  a.call("POST", "/api/v1/server/extended-types", {{"name", "ja3-jl"}});
  Client u = with_token(user_token);
  auto q8 = u.call("POST", "/api/v1/queues", {{"type", 8}, {"description", "pdns"}, {"max_size", 3}});
  ASSERT_EQ(q8.status, 200) << q8.body;
  std::string id = q8.json()["queue"]["id"];
  EXPECT_EQ(q8.json()["queue"]["list_key"], "analyzer:8:" + id);
  EXPECT_EQ(cli_str(web->meta(), {"HGET", "analyzer:" + id, "description"}), "pdns");
  auto ext = u.call("POST", "/api/v1/queues", {{"extended_type", "ja3-jl"}});
  ASSERT_EQ(ext.status, 200) << ext.body;
  EXPECT_EQ(ext.json()["queue"]["list_key"].get<std::string>().rfind("analyzer:ja3-jl:", 0), 0u);
  auto group = u.call("POST", "/api/v1/queues", {{"type", 8}, {"sensors", kSensorDashed}});
  ASSERT_EQ(group.status, 200) << group.body;
  EXPECT_EQ(group.json()["queue"]["group"], true);
  EXPECT_EQ(group.json()["queue"]["sensors"], json::array({kSensor}));
  EXPECT_EQ(u.call("POST", "/api/v1/queues", {{"type", 99}}).status, 400) << "type not accepted";
  EXPECT_EQ(u.call("POST", "/api/v1/queues", {{"extended_type", "nope"}}).status, 400);
  EXPECT_EQ(u.call("POST", "/api/v1/queues", {{"type", 8}, {"max_size", 0}}).status, 400);
  EXPECT_EQ(u.call("POST", "/api/v1/queues", json::object()).status, 400);
  EXPECT_EQ(u.get("/api/v1/queues").json()["items"].size(), 3u);

  ASSERT_EQ(a.call("PUT", "/api/v1/queues/" + id, {{"description", "passive DNS"}, {"max_size", 5}}).status,
            200);
  EXPECT_EQ(cli_str(web->meta(), {"HGET", "analyzer:" + id, "max_size"}), "5");
  for (int i = 0; i < 4; ++i)
    web->analyzer().command(
        {"LPUSH", "analyzer:8:" + id, "line " + std::to_string(i) + std::string(50, 'x')});
  auto prev = u.get("/api/v1/queues/" + id + "/preview?count=2&max_line_len=20").json();
  ASSERT_EQ(prev["newest_first"].size(), 2u);
  EXPECT_EQ(prev["newest_first"][0]["value"], "line 3" + std::string(14, 'x'));
  EXPECT_EQ(prev["newest_first"][0]["truncated"], true);
  auto one = u.get("/api/v1/queues/" + id).json();
  EXPECT_EQ(one["stats"]["length"], 4);
  EXPECT_EQ(one["description"], "passive DNS");
  auto emptied = a.call("POST", "/api/v1/queues/" + id + "/empty");
  ASSERT_EQ(emptied.status, 200);
  EXPECT_EQ(emptied.json()["deleted"], 4);
  EXPECT_EQ(web->analyzer().command({"LLEN", "analyzer:8:" + id}).integer, 0);
  std::string gid = group.json()["queue"]["id"];
  ASSERT_EQ(a.call("PUT", "/api/v1/queues/" + gid, {{"sensors", "2123456789ab4def8123456789abcdef"}}).status,
            200);
  EXPECT_EQ(u.get("/api/v1/queues/" + gid).json()["sensors"],
            json::array({"2123456789ab4def8123456789abcdef"}));
  EXPECT_EQ(a.call("PUT", "/api/v1/queues/" + gid, {{"sensors", "bad"}}).status, 400);
  EXPECT_EQ(u.call("DELETE", "/api/v1/queues/" + id).status, 403) << "changing a queue needs the admin role";
  ASSERT_EQ(a.call("DELETE", "/api/v1/queues/" + id).status, 200);
  EXPECT_EQ(web->meta().command({"EXISTS", "analyzer:" + id}).integer, 0);
  EXPECT_EQ(u.get("/api/v1/queues/" + id).status, 404);
  // Pages.
  Client s = admin;
  EXPECT_EQ(s.get("/queues").status, 200);
  EXPECT_EQ(s.get("/queues/new").status, 200);
  auto qp = s.get("/queues/" + gid);
  EXPECT_EQ(qp.status, 200);
  EXPECT_NE(qp.body.find("2123456789ab4def8123456789abcdef"), std::string::npos);
  EXPECT_EQ(s.get("/queues/00000000-0000-4000-8000-000000000000").status, 404);
}

// Type 7 (YAF / IPFIX, served by the type-7 worker): shown with its registry name, and a queue can
// be created for it.
TEST_F(WebApiTest, Type7IsNamedAndGetsAQueue) {
  Client a = with_token(admin_token);
  ASSERT_EQ(a.call("POST", "/api/v1/server/types", {{"type", 7}}).status, 200);
  Client u = with_token(user_token);
  auto q7 = u.call("POST", "/api/v1/queues", {{"type", 7}, {"description", "flows"}});
  ASSERT_EQ(q7.status, 200) << q7.body;
  std::string id = q7.json()["queue"]["id"];
  EXPECT_EQ(q7.json()["queue"]["list_key"], "analyzer:7:" + id);
  EXPECT_EQ(q7.json()["queue"]["type_name"], "yaf");
  EXPECT_EQ(cli_str(web->meta(), {"HGET", "analyzer:" + id, "type"}), "7");
  EXPECT_EQ(web->meta().command({"SISMEMBER", "analyzer:7", id}).integer, 1);
  Client s = admin;
  EXPECT_NE(s.get("/queues/new").body.find("<option value=\"7\">7 (yaf)</option>"), std::string::npos);
  EXPECT_NE(s.get("/queues").body.find("7 (yaf)"), std::string::npos);
  EXPECT_NE(s.get("/server").body.find("7 (yaf)"), std::string::npos);
}

// ---------------------------------------------------------------- users and tokens

TEST_F(WebApiTest, UsersAndTokens) {
  Client a = with_token(admin_token);
  auto created = a.call("POST", "/api/v1/users", {{"email", "new@example.test"}, {"role", "user"}});
  ASSERT_EQ(created.status, 200) << created.body;
  std::string pw = created.json()["password"];
  EXPECT_GE(pw.size(), 20u);
  EXPECT_EQ(created.json()["user"]["must_change_password"], true);
  EXPECT_EQ(a.call("POST", "/api/v1/users", {{"email", "new@example.test"}}).status, 409);
  EXPECT_EQ(a.call("POST", "/api/v1/users", {{"email", "not-an-email"}}).status, 400);
  EXPECT_EQ(a.call("POST", "/api/v1/users", {{"email", "x@example.test"}, {"password", "weak"}}).status, 400);
  EXPECT_EQ(a.call("POST", "/api/v1/users", {{"email", "x@example.test"}, {"role", "root"}}).status, 400);
  // Cumulative roles, as in the reference.
  EXPECT_EQ(web->users().command({"SISMEMBER", "user_role:user", "new@example.test"}).integer, 1);
  EXPECT_EQ(web->users().command({"SISMEMBER", "user_role:sensor_register", "new@example.test"}).integer, 1);
  EXPECT_EQ(web->users().command({"SISMEMBER", "user_role:admin", "new@example.test"}).integer, 0);
  ASSERT_EQ(a.call("PUT", "/api/v1/users/new@example.test", {{"role", "admin"}}).status, 200);
  EXPECT_EQ(web->users().command({"SISMEMBER", "user_role:admin", "new@example.test"}).integer, 1);
  EXPECT_EQ(a.call("PUT", std::string("/api/v1/users/") + kAdmin, {{"role", "user"}}).status, 400);
  EXPECT_EQ(a.call("DELETE", std::string("/api/v1/users/") + kAdmin).status, 400);
  auto reset = a.call("PUT", "/api/v1/users/new@example.test", {{"reset_password", true}});
  ASSERT_EQ(reset.status, 200);
  EXPECT_NE(reset.json()["password"], pw);

  // Tokens: shown once, stored hashed, revocable.
  Client u = with_token(user_token);
  auto t = u.call("POST", "/api/v1/me/tokens", {{"name", "ci"}});
  ASSERT_EQ(t.status, 200);
  std::string token = t.json()["token"], tid = t.json()["id"];
  EXPECT_EQ(token.size(), 41u);
  EXPECT_EQ(web->users().command({"HEXISTS", "user:tokens", token}).integer, 0) << "never stored in clear";
  auto me = with_token(token).get("/api/v1/me");
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.json()["email"], "user@example.test");
  bool listed = false;
  auto me_json = me.json();
  for (const auto& x : me_json["tokens"])
    listed |= x["id"] == tid && x["name"] == "ci" && !x.contains("token");
  EXPECT_TRUE(listed);
  ASSERT_EQ(u.call("DELETE", "/api/v1/me/tokens/" + tid).status, 200);
  EXPECT_EQ(with_token(token).get("/api/v1/me").status, 401);
  EXPECT_EQ(u.call("DELETE", "/api/v1/me/tokens/" + tid).status, 404);
  EXPECT_EQ(u.get("/api/v1/users").status, 403);

  ASSERT_EQ(a.call("DELETE", "/api/v1/users/user@example.test").status, 200);
  EXPECT_EQ(with_token(user_token).get("/api/v1/me").status, 401) << "a deleted user's tokens die with it";
  EXPECT_EQ(web->users().command({"HEXISTS", "user:all", "user@example.test"}).integer, 0);
  auto all = a.get("/api/v1/users").json()["items"];
  for (const auto& x : all) EXPECT_NE(x["email"], "user@example.test");
  // Pages: admin only.
  Client s = admin;
  auto up = s.get("/users");
  EXPECT_EQ(up.status, 200);
  EXPECT_NE(up.body.find("new@example.test"), std::string::npos);
  EXPECT_EQ(up.body.find(token), std::string::npos);
}

TEST_F(WebApiTest, UserRoleCannotOpenAdminPages) {
  Client c = web->client();
  ASSERT_EQ(c.login("user@example.test", kUserPassword).header("Location"), "/");
  EXPECT_EQ(c.get("/users").status, 403);
  for (const char* p : {"/", "/sensors", "/server", "/queues", "/queues/new", "/profile"})
    EXPECT_EQ(c.get(p).status, 200) << p;
  // The user's sensor page has no key section.
  auto sp = c.get(std::string("/sensors/") + kSensor);
  EXPECT_EQ(sp.status, 200);
  EXPECT_EQ(sp.body.find("data-reveal-key"), std::string::npos);
}

TEST_F(WebApiTest, LegacyBcryptPasswordAndClearTokenAreMigrated) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  ASSERT_NE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt), nullptr);
  crypt_data data{};
  std::string bcrypt = crypt_r("Legacy-Pass-0042", salt, &data);
  ASSERT_EQ(bcrypt.rfind("$2b$", 0), 0u);
  web->users().command({"HSET", "user:all", "old@example.test", bcrypt});
  web->users().command({"HSET", "user_metadata:old@example.test", "role", "user"});
  web->users().command({"SADD", "user_role:user", "old@example.test"});
  web->users().command({"SADD", "user_role:sensor_register", "old@example.test"});
  std::string legacy_token = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_012";
  ASSERT_EQ(legacy_token.size(), 41u);
  web->users().command({"HSET", "user:tokens", legacy_token, "old@example.test"});
  web->users().command({"HSET", "user_metadata:old@example.test", "token", legacy_token});

  Client c = web->client();
  ASSERT_EQ(c.login("old@example.test", "Legacy-Pass-0042").header("Location"), "/");
  EXPECT_EQ(cli_str(web->users(), {"HGET", "user:all", "old@example.test"}).rfind("$argon2id$", 0), 0u);
  Client c2 = web->client();
  EXPECT_EQ(c2.login("old@example.test", "Legacy-Pass-0042").header("Location"), "/") << "the new hash works";

  Client t = web->client();
  EXPECT_EQ(t.get("/api/v1/me", {{"Authorization", legacy_token}}).status, 200);
  EXPECT_EQ(web->users().command({"HEXISTS", "user:tokens", legacy_token}).integer, 0) << "re-keyed";
  EXPECT_EQ(t.get("/api/v1/me", {{"Authorization", legacy_token}}).status, 200) << "still valid";
}

// The default cost is libsodium's interactive one (m=64 MiB, t=2); a hash of another cost (here
// the minimum that the other tests run with) is re-hashed at the configured cost at login.
TEST(WebPasswordHash, TheDefaultCostIsInteractiveAndOtherCostsAreReHashedAtLogin) {
  WebOptions o;
  o.admin_password = "Admin-Pass-0042";
  o.extra_web_config = "# password_hash: not set, the default\n";
  WebInstance web(o);
  const std::string interactive = "$argon2id$v=19$m=65536,t=2,";
  EXPECT_EQ(cli_str(web.users(), {"HGET", "user:all", kAdmin}).rfind(interactive, 0), 0u);
  ASSERT_EQ(sodium_init() >= 0, true);
  char cheap[crypto_pwhash_STRBYTES];
  const std::string pw = "Cheap-Pass-0042";
  ASSERT_EQ(crypto_pwhash_str_alg(cheap, pw.data(), pw.size(), crypto_pwhash_OPSLIMIT_MIN,
                                  crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13),
            0);
  web.users().command({"HSET", "user:all", "cheap@example.test", cheap});
  web.users().command({"HSET", "user_metadata:cheap@example.test", "role", "user"});
  web.users().command({"SADD", "user_role:user", "cheap@example.test"});
  Client c = web.client();
  ASSERT_EQ(c.login("cheap@example.test", pw).header("Location"), "/");
  EXPECT_EQ(cli_str(web.users(), {"HGET", "user:all", "cheap@example.test"}).rfind(interactive, 0), 0u);
  EXPECT_EQ(web.log().find("password_hash = \"minimum\""), std::string::npos) << "no warning at the default";
}

TEST(WebPasswordHash, TheMinimumCostIsWarnedAboutAndAnUnknownCostRefused) {
  WebOptions o;
  o.admin_password = "Admin-Pass-0042";
  WebInstance web(o);  // the test instances' "minimum"
  EXPECT_EQ(cli_str(web.users(), {"HGET", "user:all", kAdmin}).rfind("$argon2id$v=19$m=8,t=1,", 0), 0u);
  EXPECT_NE(web.log().find("password_hash = \"minimum\""), std::string::npos) << web.log();
  // The same configuration with an unknown cost: a configuration error (exit status 78).
  std::string text = d4::test::read_text(web.config_path());
  const auto at = text.find("password_hash = \"minimum\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("password_hash = \"minimum\"").size(), "password_hash = \"weak\"");
  d4::test::TempDir dir;
  d4::test::write_text(dir / "d4.toml", text);
  d4::test::Process::Options po;
  po.stderr_file = dir / "err";
  d4::test::Process check(
      {(d4::test::bin_dir() / "d4-web").string(), "--config", (dir / "d4.toml").string(), "--check-config"},
      po);
  EXPECT_EQ(check.wait(std::chrono::seconds(10)), 78);
  EXPECT_NE(d4::test::read_text(dir / "err").find("password_hash must be"), std::string::npos)
      << d4::test::read_text(dir / "err");
}

// ---------------------------------------------------------------- throttling

TEST(WebThrottle, ApiTokenFailuresAreLimitedPerIp) {
  WebOptions o;
  o.admin_password = "Admin-Pass-0042";
  o.tls = false;  // also covers the plain-HTTP mode (no Secure cookies)
  WebInstance web(o);
  Client c = web.client();
  auto login = c.login(kAdmin, "Admin-Pass-0042");
  for (const auto& sc : login.headers_named("Set-Cookie"))
    if (sc.rfind("d4_session=", 0) == 0) {
      EXPECT_EQ(sc.find("Secure"), std::string::npos);
    }
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(c.get("/api/v1/me", {{"Authorization", std::string(41, 'z')}}).status, 401);
  auto r = c.get("/api/v1/me", {{"Authorization", std::string(41, 'z')}});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json()["reason"].get<std::string>().rfind("Max Connection Attempts reached, Please wait ", 0),
            0u);
}

// ---------------------------------------------------------------- statistics and pages

TEST_F(WebApiTest, DashboardAndStatisticsComeFromTheDailyCounters) {
  const std::string today = d4::test::local_day();
  web->meta().command({"ZINCRBY", "daily_type:" + today, "42", "8"});
  web->meta().command({"ZINCRBY", "daily_type_bytes:" + today, "4200", "8"});
  web->meta().command({"ZINCRBY", "daily_uuid:" + today, "42", kSensor});
  web->meta().command({"ZINCRBY", "stat_uuid_type:" + today + ":" + kSensor, "42", "8"});
  web->meta().command({"ZINCRBY", "stat_uuid_type_bytes:" + today + ":" + kSensor, "4200", "8"});
  web->stream().command({"SADD", "active_connection", kSensor});
  Client u = with_token(user_token);
  auto d = u.get("/api/v1/dashboard").json();
  EXPECT_EQ(d["connected_sensors"], json::array({kSensor}));
  ASSERT_EQ(d["types_today"].size(), 1u);
  EXPECT_EQ(d["types_today"][0], json({{"type", "8"}, {"packets", 42}, {"bytes", 4200}}));
  EXPECT_EQ(d["health"]["redis"]["meta"]["ok"], true);
  auto st = u.get("/api/v1/stats/daily?days=5").json();
  ASSERT_EQ(st["dates"].size(), 5u);
  EXPECT_EQ(st["packets_by_type"]["8"], json::array({0, 0, 0, 0, 42}));
  EXPECT_EQ(st["packets_by_sensor"][kSensor].back(), 42);
  auto ss = u.get(std::string("/api/v1/sensors/") + kSensor + "/stats?days=2").json();
  EXPECT_EQ(ss["bytes_by_type"]["8"], json::array({0, 4200}));
  auto list = u.get("/api/v1/sensors?status=connected").json();
  EXPECT_EQ(list["total"], 1);
  Client s = admin;
  auto page = s.get("/");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find(kSensor), std::string::npos);
  EXPECT_LT(page.body.size(), 100u * 1024u);
  // Static assets are embedded and cacheable with an ETag.
  auto js = s.get("/static/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.header("Content-Type").rfind("text/javascript", 0), 0u);
  auto again = s.get("/static/app.js", {{"If-None-Match", js.header("ETag")}});
  EXPECT_EQ(again.status, 304);
  EXPECT_EQ(s.get("/static/../../etc/passwd").status, 404);
  EXPECT_EQ(s.get("/static/charts.js").status, 200);
  EXPECT_EQ(s.get("/static/style.css").status, 200);
}

TEST_F(WebApiTest, RedisDownGivesServiceUnavailableAndRecovers) {
  Client u = with_token(user_token);
  web->redis().stop();
  auto r = u.get("/api/v1/server");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.json()["status"], "error");
  web->redis().start();
  // The data was in memory only (no persistence in this test Redis): the token is gone, but
  // the server answers again instead of hanging or crashing.
  EXPECT_TRUE(d4::test::eventually([&] { return u.get("/api/v1/server").status == 401; }));
}

// Handler threads hold one connection per Redis server, whatever number of its databases they
// use: here every database is on one server, so d4-web holds at most one connection per handler
// thread ([web] threads, 4 by default) and one for the first run, although each thread below
// reads the users, cache, meta, stream and analyzer databases.
TEST_F(WebApiTest, HandlerThreadsShareOneConnectionPerRedisServer) {
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(admin.get("/").status, 200);
    ASSERT_EQ(admin.get("/queues").status, 200);
  }
  std::set<std::string> own;
  for (auto* c : {&web->meta(), &web->stream(), &web->users(), &web->analyzer(), &web->cache()})
    own.insert("id=" + std::to_string(c->command({"CLIENT", "ID"}).integer) + " ");
  auto list = web->meta().command({"CLIENT", "LIST"}).str;
  int web_connections = 0;
  std::size_t pos = 0;
  while (pos < list.size()) {
    auto end = list.find('\n', pos);
    auto line = list.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? list.size() : end + 1;
    bool test_client = false;
    for (const auto& id : own) test_client = test_client || line.rfind(id, 0) == 0;
    if (!line.empty() && !test_client) ++web_connections;
  }
  EXPECT_GE(web_connections, 1) << list;
  EXPECT_LE(web_connections, 4 + 1) << list;
}

TEST_F(WebApiTest, SigtermStopsCleanly) {
  EXPECT_EQ(web->stop(), 0);
}

}  // namespace

namespace {
TEST_F(WebApiTest, ApproveByUuidFormWorksWithoutJavaScript) {
  ASSERT_EQ(with_token(reg_token)
                .call("POST", "/api/v1/add/sensor/register", {{"uuid", kSensor}, {"hmac_key", "k"}})
                .status,
            200);
  Client s = admin;
  auto r = s.form("/api/v1/sensors/%7Buuid%7D/approve",
                  {{"uuid", kSensorDashed}, {"csrf_token", s.csrf}, {"next", "/server"}});
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(r.header("Location").rfind("/server?flash=", 0), 0u) << r.header("Location");
  EXPECT_EQ(web->meta().command({"SISMEMBER", "registered_uuid", kSensor}).integer, 1);
  auto bad = s.form("/api/v1/sensors/%7Buuid%7D/approve",
                    {{"uuid", "nope"}, {"csrf_token", s.csrf}, {"next", "/server"}});
  EXPECT_EQ(bad.header("Location").rfind("/server?error=", 0), 0u) << bad.header("Location");
  auto kick = s.form("/api/v1/server/kick-type/%7Btype%7D",
                     {{"type", "4"}, {"csrf_token", s.csrf}, {"next", "/server"}});
  EXPECT_EQ(kick.header("Location").rfind("/server?flash=", 0), 0u) << kick.header("Location");
  EXPECT_FALSE(web->stream().command({"ZSCORE", "server:kicks", "type:4"}).is_nil());
}
}  // namespace
