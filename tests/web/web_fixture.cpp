#include "web_fixture.hpp"

#include <stdexcept>

namespace d4::webtest {

WebOptions admin_options(const std::string& extra_web_config, bool tls) {
  WebOptions o;
  o.admin_password = kFirstPassword;
  o.extra_web_config = extra_web_config;
  o.tls = tls;
  return o;
}

std::unique_ptr<WebInstance> start_web(const std::string& extra_web_config, bool tls) {
  return std::make_unique<WebInstance>(admin_options(extra_web_config, tls));
}

Client bearer_client(const WebInstance& web, const std::string& token, const std::string& source_ip) {
  Client c = web.client();
  c.bearer = token;
  c.source_ip = source_ip;
  return c;
}

std::string issue_token(Client& issuer, const std::string& email, const std::string& name) {
  auto r = issuer.call("POST", "/api/v1/users/" + email + "/tokens", {{"name", name}});
  EXPECT_EQ(r.status, 200) << r.body;
  return r.status == 200 ? r.json().value("token", "") : std::string();
}

std::string create_user(Client& issuer, const std::string& email, const NewUser& user) {
  nlohmann::json body = {{"email", email}, {"role", user.role}};
  if (!user.password.empty()) body["password"] = user.password;
  if (user.organisation) body["organisation"] = *user.organisation;
  auto r = issuer.call("POST", "/api/v1/users", body);
  EXPECT_EQ(r.status, 200) << email << ": " << r.body;
  return issue_token(issuer, email);
}

Client signed_in(const WebInstance& web, const std::string& email, const std::string& password) {
  Client c = web.client();
  EXPECT_EQ(c.login(email, password).status, 303) << email;
  c.refresh_csrf();
  return c;
}

namespace {
// The browser flow of the first sign-in: the forced change from kFirstPassword to kPassword, then
// a fresh login with the CSRF token loaded.
Client first_admin_session(const WebInstance& web) {
  Client c = web.client();
  auto r = c.login(kAdmin, kFirstPassword);
  if (r.status != 303 || r.header("Location") != "/change_password")
    throw std::runtime_error("first login refused: " + r.body);
  c.refresh_csrf();
  auto ch = c.call("POST", "/api/v1/me/password",
                   {{"current_password", kFirstPassword}, {"new_password", kPassword}});
  if (ch.status != 200) throw std::runtime_error("password change refused: " + ch.body);
  if (c.login(kAdmin, kPassword).header("Location") != "/") throw std::runtime_error("second login refused");
  if (c.refresh_csrf().empty()) throw std::runtime_error("the administrator's session has no CSRF token");
  return c;
}
}  // namespace

SignedInAdmin::SignedInAdmin(const WebInstance& web) : session(first_admin_session(web)) {
  token = issue_token(session, kAdmin);
}

void SignedInWebTest::SetUp() {
  web = std::make_unique<WebInstance>(options());
  SignedInAdmin a(*web);
  admin = a.session;
  admin_token = a.token;
}

}  // namespace d4::webtest
