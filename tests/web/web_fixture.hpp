#pragma once
// The set-up the d4-web tests share: an instance whose first administrator starts with a known
// password, that administrator signed in with its forced password change done, and the users, API
// tokens and clients the tests act through. `SignedInAdmin` serves tests that start their own
// instance (one configuration per test, or one instance per suite); `SignedInWebTest` is the
// GoogleTest fixture of one instance per test, its configuration given by `options()`.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "web_instance.hpp"

namespace d4::webtest {

// The password of the accounts the tests create.
inline constexpr const char* kUserPassword = "User-Pass-0042";

// An instance whose first administrator starts with kFirstPassword; `extra_web_config` is added
// to its [web] table (and may open further tables).
WebOptions admin_options(const std::string& extra_web_config = {}, bool tls = true);
std::unique_ptr<WebInstance> start_web(const std::string& extra_web_config = {}, bool tls = true);

// A client authenticating with an API token, connecting from `source_ip` when set.
Client bearer_client(const WebInstance& web, const std::string& token, const std::string& source_ip = {});

// A new API token of `email`, issued through `issuer` (a signed-in administrator).
std::string issue_token(Client& issuer, const std::string& email, const std::string& name = "test");

struct NewUser {
  std::string role = "user";
  std::string password = kUserPassword;     // empty: an account without a password (API tokens only)
  std::optional<std::string> organisation;  // unset: not sent ("": the default organisation)
  static NewUser of_role(const std::string& role) {
    NewUser u;
    u.role = role;
    return u;
  }
};
// Creates the account through `issuer` and returns a new API token of it.
std::string create_user(Client& issuer, const std::string& email, const NewUser& user);

// A browser session of `email` (login form, then the CSRF token loaded).
Client signed_in(const WebInstance& web, const std::string& email,
                 const std::string& password = kUserPassword);

// The first administrator of an instance started with admin_options(): its browser session
// (kPassword set, CSRF token loaded) and an API token of it.
struct SignedInAdmin {
  explicit SignedInAdmin(const WebInstance& web);  // throws when a step of the sign-in is refused
  std::string token_for(const std::string& email) { return issue_token(session, email); }
  std::string make_user(const std::string& email, const std::string& role) {
    return create_user(session, email, NewUser::of_role(role));
  }
  Client session;
  std::string token;
};

// One instance per test with its administrator signed in (`admin`, `admin_token`).
class SignedInWebTest : public ::testing::Test {
 protected:
  virtual WebOptions options() const { return admin_options(); }
  void SetUp() override;

  std::string token_for(const std::string& email) { return issue_token(admin, email); }
  std::string make_user(const std::string& email, const std::string& role) {
    return create_user(admin, email, NewUser::of_role(role));
  }
  std::string make_user(const std::string& email, const NewUser& user) {
    return create_user(admin, email, user);
  }
  Client with_token(const std::string& token) const { return bearer_client(*web, token); }
  Client signed_in(const std::string& email) const { return webtest::signed_in(*web, email); }

  std::unique_ptr<WebInstance> web;
  Client admin{0, true};
  std::string admin_token;
};

}  // namespace d4::webtest
