#pragma once
// d4-web: the operators' web interface and REST API, served by d4::core::http::Server.
//
// Every route is declared with the least role it needs; the route wrapper authenticates the
// request (API token in the Authorization header, or session cookie), checks the role and, for
// session-authenticated state changes, the CSRF token, before the handler runs. Handlers run on
// the HTTP server's worker pool and use per-thread Redis connections (each opens on first use,
// so a thread holds connections only to the databases its requests needed).
//
// WebApp is the composition root; its parts live in their own files: app.cpp (route wrappers,
// router, first run), auth.cpp (authentication, password checks, login routes), data.cpp and
// backscatter.cpp (read models, typed views in view_models.hpp), routes.cpp (the table of API
// resources in api/ and pages in pages/). See docs/architecture-web.md.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/http_server.hpp"
#include "core/redis_client.hpp"
#include "core/sensors.hpp"
#include "queues/queue_store.hpp"
#include "web/security.hpp"
#include "web/sessions.hpp"
#include "web/users.hpp"
#include "web/view_models.hpp"
#include "web/web_config.hpp"

namespace d4::web {

namespace http = d4::core::http;
using json = nlohmann::json;

// The Redis connections of one handler thread.
struct Db {
  core::RedisClient meta, stream, users, analyzer, cache;
  core::RedisClient backscatter;  // d4-pibs results (WebConfig::backscatter_redis)
  core::SensorPolicy policy;
  UserStore user_store;
  queues::QueueStore queue_store;
  SessionStore sessions;
  LoginThrottle throttle;
  explicit Db(const WebConfig& c);
};

// Refusals of the web tier's budgets since start (shown in /api/v1/health and on the dashboard).
struct WebCounters {
  std::atomic<std::uint64_t> login_failures{0};         // wrong passwords (login, password change)
  std::atomic<std::uint64_t> login_delayed{0};          // attempts refused during a throttling delay
  std::atomic<std::uint64_t> password_checks_busy{0};   // refused: max_concurrent_password_checks reached
  std::atomic<std::uint64_t> registrations_refused{0};  // pending limit or over-long fields
  std::atomic<std::uint64_t> tokens_refused{0};         // max_tokens_per_user reached
  std::atomic<std::uint64_t> blocks_refused{0};         // every address, or too wide for the role
};

// The result of checking a user's password under throttling and the concurrency bound.
struct PasswordVerdict {
  enum class Outcome { Ok, Wrong, Delayed, Busy } outcome = Outcome::Wrong;
  long long wait_seconds = 0;  // Delayed: until the next attempt is allowed; Busy: a retry hint
};

// Who is making a request.
struct Identity {
  std::string user;
  Role role = Role::User;
  bool via_session = false;  // false: API token
  bool must_change_password = false;
  std::string csrf;  // the session's synchronizer token
};

// The identity of a request for the route wrappers, or why there is none: `unavailable` when the
// users or cache database could not be asked (503), else the 401 status and reason.
struct Authentication {
  std::optional<Identity> id;
  int status = 401;
  std::string error;
  bool unavailable = false;
};

// An API error carried to the route wrapper: {"status":"error","reason":...} with `status`.
struct ApiError : std::runtime_error {
  int status;
  ApiError(int s, const std::string& reason) : std::runtime_error(reason), status(s) {}
};

// Request input: a JSON object body, or form fields, plus the query string as a fallback.
class Input {
 public:
  explicit Input(const http::Request& req);
  bool has(const std::string& k) const;
  std::string str(const std::string& k, const std::string& def = {}) const;
  std::string required(const std::string& k) const;              // throws ApiError 400
  std::optional<long long> integer(const std::string& k) const;  // throws ApiError 400 if not a number
  bool flag(const std::string& k) const;
  std::vector<std::string> list(
      const std::string& k) const;  // JSON array, or comma/space/newline separated text
  const json& body() const { return body_; }

 private:
  json body_ = json::object();
};

// Which victims of backscatter to list (GET /api/v1/backscatter/victims and /backscatter).
struct VictimQuery {
  long long window = 3600;         // seconds of series before `until`; 0: all time
  std::optional<long long> until;  // end of the window (epoch s); empty: now
  bool until_latest = false;       // end the window at the newest backscatter seen
  std::string filter;              // address, CIDR network or part of an address
  long long limit = 50;
  long long offset = 0;
};
// Validates the query parameters window, until, q, limit, offset; throws ApiError 400.
VictimQuery parse_victim_query(const Input& in);

class WebApp {
 public:
  explicit WebApp(WebConfig config);
  // Creates the roles and, on first run, the admin account (see docs/web.md).
  void first_run();
  http::Router build_router();
  const WebConfig& config() const { return cfg_; }
  Db& db();  // this thread's connections
  WebCounters& counters() { return counters_; }
  // The HTTP server's own refusal counters, shown with the web tier's.
  void set_server_stats(std::function<http::ServerStats()> f) { server_stats_ = std::move(f); }

  // Verifies `password` of `user` for a client: refused while (user, source) or the source is in
  // a throttling delay, or when too many checks run; failures are recorded, a success clears them.
  PasswordVerdict check_password(Db& d, const std::string& user, const std::string& password,
                                 const std::string& client_ip);
  // Refuses (ApiError) blocking or unblocking `ip` beyond what the role may: a network covering
  // every address is never blocked; one wider than the user bound needs the admin role.
  void check_block_scope(const std::string& ip, const Identity& id, bool blocking);
  // A new API token for `email`, within max_tokens_per_user (ApiError 409 beyond).
  NewToken create_token(Db& d, const std::string& email, const std::string& name);

  // Used by the route modules (api/*.cpp, pages/*.cpp, auth.cpp).
  using ApiHandler = std::function<json(http::Request&, const Identity&)>;
  using PageHandler = std::function<http::Response(http::Request&, const Identity&)>;
  void api(http::Router& r, const std::string& method, const std::string& pattern, Role role, ApiHandler h);
  void page(http::Router& r, const std::string& pattern, Role role, PageHandler h);

  // Who sends `req`: an API token in the Authorization header, else the session cookie. Never
  // throws: a database failure is `unavailable`.
  Authentication authenticate(http::Request& req);
  Authentication authenticate_token(Db& d, const http::Request& req);
  std::string session_cookie(const std::string& value, std::chrono::seconds max_age) const;

  // Login, logout and the password-change form (auth.cpp); every other route is registered in
  // routes.cpp.
  void add_auth_routes(http::Router& r);

  // Read models shared by the API and the pages (data.cpp).
  DashboardView dashboard(Db& db);
  json daily_stats(Db& db, int days);
  HealthView health(Db& db);
  std::vector<WorkerState> worker_states(Db& db, long long& backlog_total);
  std::map<std::string, std::uint64_t> budget_counters() const;  // WebCounters and the HTTP server's refusals
  json sensors(Db& db, const std::string& q, const std::string& status, long long page, long long per_page);
  json sensor(Db& db, const std::string& uuid);
  json sensor_stats(Db& db, const std::string& uuid, int days);
  json server_info(Db& db);
  json blocklist(Db& db, bool ips, const std::string& q, long long page, long long per_page);
  json queue_json(Db& db, const queues::QueueInfo& q);
  json user_json(const UserInfo& u);
  void delete_sensor(Db& db, const std::string& uuid);

  // Backscatter results of d4-pibs (backscatter.cpp).
  json backscatter_stats(Db& db);
  json backscatter_victims(Db& db, const VictimQuery& q);
  json backscatter_victim(Db& db, const std::string& ip, long long top_ports);   // ApiError 404
  json backscatter_series(Db& db, const std::string& ip, long long max_points);  // ApiError 404

 private:
  WebConfig cfg_;
  WebCounters counters_;
  PasswordCheckGate password_gate_;
  std::function<http::ServerStats()> server_stats_;
};

// Registers every API resource and page (routes.cpp: one line each).
void add_routes(WebApp& app, http::Router& r);

// Only same-site relative paths ("/x", not "//x", "/\x" or "http:..."): anything else gives "/".
std::string safe_redirect_target(const std::string& next);
std::string today(int days_ago = 0);                // YYYYMMDD, server local time (like the reference)
std::string require_uuid(const std::string& text);  // dashless; throws ApiError 400 "Invalid uuid"
json result_or_throw(const core::PolicyResult& r);
// A victim address as d4-pibs writes it (dotted IPv4, inet_ntop IPv6); throws ApiError 400.
std::string normalize_victim(const std::string& text);
// The usual service of a well-known TCP port ("http" for 80), empty when unknown.
std::string_view port_service(long long port);

}  // namespace d4::web
