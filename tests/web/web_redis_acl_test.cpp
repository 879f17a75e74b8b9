// d4-web on a Redis reached over TLS (rediss://) as an ACL user with the rights docs/operations.md
// lists for it, its password in a file: every page and API read answers, and Redis refuses none of
// its commands (ACL LOG stays empty).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/redis_acl.hpp"
#include "support/test_pki.hpp"
#include "support/text.hpp"
#include "web_fixture.hpp"

using namespace d4::webtest;

TEST(WebRedisAcl, PagesAndApiAnswerAsARestrictedUserOverTls) {
  d4::test::TempDir pki_dir;
  d4::test::TestPki pki(pki_dir.path().string());
  d4::test::TempDir secrets;
  const auto password_file = secrets.path() / "web.pass";
  d4::test::write_text(password_file, "web-pw\n");
  WebOptions o = admin_options();
  o.redis.tls_cert = pki.server_crt;
  o.redis.tls_key = pki.server_key;
  o.redis.tls_ca = pki.ca_crt;
  o.redis.acl_users = {d4::test::component_acl_user("web", "web-pw")};
  o.redis_endpoint = [&](const d4::test::RedisServer& redis, int db) {
    return "rediss://web@127.0.0.1:" + std::to_string(redis.tls_port()) + "/" + std::to_string(db) +
           "?ca=" + pki.ca_crt + "&password_file=" + password_file.string();
  };
  WebInstance web(o);
  SignedInAdmin admin(web);
  Client api = bearer_client(web, admin.token);
  // A write: a sensor registered through the API, so that the sensor pages have one to show.
  const std::string sensor = "4b1c3c5e8f2a4d6b9c0e1f2a3b4c5d6e";
  auto registered = api.call("POST", "/api/v1/add/sensor/register", {{"uuid", sensor}, {"hmac_key", "k"}});
  ASSERT_EQ(registered.status, 200) << registered.body << web.log();
  for (const std::string& page : std::vector<std::string>{
           "/", "/sensors", "/sensors/" + sensor, "/queues", "/queues/new", "/server", "/users", "/profile",
           "/organisations", "/alerts", "/alerts/rules/new", "/registrations", "/backscatter"})
    EXPECT_EQ(admin.session.get(page).status, 200) << page << "\n" << web.log();
  for (const std::string& read :
       std::vector<std::string>{"/api/v1/me", "/api/v1/dashboard", "/api/v1/sensors",
                                "/api/v1/sensors/" + sensor, "/api/v1/sensors/" + sensor + "/stats",
                                "/api/v1/queues", "/api/v1/server", "/api/v1/users", "/api/v1/organisations",
                                "/api/v1/alerts", "/api/v1/alerts/rules", "/api/v1/sensors/monitoring/errors",
                                "/api/v1/stats/daily", "/api/v1/backscatter/stats", "/api/v1/health"})
    EXPECT_EQ(api.get(read).status, 200) << read << "\n" << web.log();
  EXPECT_EQ(web.redis().cli({"ACL", "LOG"}), "\n") << "no command was refused";
  EXPECT_NE(web.redis().cli({"CLIENT", "LIST"}).find("user=web"), std::string::npos);
}
