#pragma once
// Authentication of d4-web: who sends a request (an API token, or a session cookie), password
// checks under login throttling and the concurrency bound, passwords, sessions and API tokens
// within their budgets, the first-run admin account, and the login, logout and password-change
// routes. Users and tokens are kept by UserStore (users.hpp), sessions and throttling by
// SessionStore and LoginThrottle (sessions.hpp), hashing and tokens in security.hpp.
#include <chrono>
#include <optional>
#include <string>

#include "core/http_server.hpp"
#include "web/auth/security.hpp"
#include "web/auth/sessions.hpp"
#include "web/auth/users.hpp"
#include "web/counters.hpp"
#include "web/db.hpp"
#include "web/web_config.hpp"

namespace d4::web {

namespace http = d4::core::http;
class Routes;

// Who is making a request.
struct Identity {
  std::string user;
  Role role = Role::User;
  bool via_session = false;  // false: API token
  bool must_change_password = false;
  std::string csrf;  // the session's synchronizer token
  // Sees the whole server (auth/scope.hpp), set by the page wrapper: the navigation then offers
  // the pages of server-wide data (Backscatter), which answer 403 to anyone else.
  bool whole_server = true;
};

// The identity of a request for the route wrappers, or why there is none: `unavailable` when the
// users or cache database could not be asked (503), else the 401 status and reason.
struct Authentication {
  std::optional<Identity> id;
  int status = 401;
  std::string error;
  bool unavailable = false;
};

// The result of checking a user's password under throttling and the concurrency bound.
struct PasswordVerdict {
  enum class Outcome { Ok, Wrong, Delayed, Busy } outcome = Outcome::Wrong;
  long long wait_seconds = 0;  // Delayed: until the next attempt is allowed; Busy: a retry hint
};

class Authenticator {
 public:
  Authenticator(const WebConfig& config, WebCounters& counters, Connections& connections);

  // Creates the roles and, on first run, the admin account (see docs/web.md).
  void first_run();

  // Who sends `req`: an API token in the Authorization header, else the session cookie. Never
  // throws: a database failure is `unavailable`.
  Authentication authenticate(const http::Request& req);

  // Verifies `password` of `user` for a client: refused while (user, source) or the source is in
  // a throttling delay, or when too many checks run; failures are recorded, a success clears them.
  PasswordVerdict check_password(const std::string& user, const std::string& password,
                                 const std::string& client_ip);
  // Sets the password of `user` and ends every session of the user. A password the user chose
  // (not `must_change`) of the first-run admin also removes the first-run password file.
  void set_password(const std::string& user, const std::string& password, bool must_change);
  // Ends every session of `user` (deleted account, password reset).
  void end_sessions(const std::string& user);
  // A new API token for `email`, within max_tokens_per_user (ApiError 409 beyond, 404 without
  // such a user).
  NewToken create_token(const std::string& email, const std::string& name);

  // The login form, login, logout and the password-change form (auth/login_routes.cpp).
  void add_routes(Routes& routes);

 private:
  Authentication authenticate_token(Db& d, const http::Request& req);
  SessionStore sessions(Db& d) const {
    return SessionStore(d.cache, cfg_.session_ttl,
                        core::keys::database_prefix(d.layout, core::keys::Database::Cache));
  }
  LoginThrottle throttle(Db& d) const;
  std::string session_cookie(const std::string& value, std::chrono::seconds max_age) const;
  http::Response login_form(const std::string& next, const std::string& error, int status) const;
  http::Response login(http::Request& req);
  http::Response change_password(http::Request& req);

  const WebConfig& cfg_;
  WebCounters& counters_;
  Connections& connections_;
  PasswordCheckGate password_gate_;
};

}  // namespace d4::web
