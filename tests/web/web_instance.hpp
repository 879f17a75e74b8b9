#pragma once
// A real d4-web process (HTTPS with a throwaway certificate) on a real redis-server, and a small
// HTTPS client with a cookie jar for the tests.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/redis_client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

namespace d4::webtest {

// The first-run administrator of the test instances: its e-mail, the password the instance starts
// with and the one the tests change it to.
inline constexpr const char* kAdmin = "admin@admin.test";
inline constexpr const char* kFirstPassword = "First-Pass-0042";
inline constexpr const char* kPassword = "Second-Pass-0042";

struct HttpResult {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(const std::string& name) const;  // first, case-insensitive
  std::vector<std::string> headers_named(const std::string& name) const;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

class Client {
 public:
  Client(int port, bool tls) : port_(port), tls_(tls) {}
  HttpResult request(const std::string& method, const std::string& target, const std::string& body = {},
                     const std::string& content_type = {},
                     const std::map<std::string, std::string>& headers = {});
  HttpResult get(const std::string& target, const std::map<std::string, std::string>& h = {}) {
    return request("GET", target, {}, {}, h);
  }
  // JSON request with the session's CSRF header (when logged in through a session).
  HttpResult call(const std::string& method, const std::string& target, const nlohmann::json& body = nullptr);
  HttpResult form(const std::string& target, const std::map<std::string, std::string>& fields,
                  const std::map<std::string, std::string>& headers = {});
  // Browser-like login: GET /login (form token + cookie), POST /login. Returns the POST reply.
  HttpResult login(const std::string& user, const std::string& password, const std::string& next = "/");
  // Reads the CSRF token from a page's meta tag.
  std::string refresh_csrf();
  std::map<std::string, std::string> cookies;
  std::string csrf;
  std::string bearer;     // when set: Authorization: Bearer <token>
  std::string source_ip;  // when set: connect from this local address (127.0.0.2: another client)

 private:
  int port_;
  bool tls_;
};

std::string form_encode(const std::map<std::string, std::string>& fields);

struct WebOptions {
  bool tls = true;
  std::string admin_password;  // empty: random (first-run file)
  std::string extra_web_config;
  test::RedisServerOptions redis = {};  // the instance's redis-server (TLS, ACL users)
  // The [redis] endpoint d4-web is given for database `db` of that server; unset: plain TCP as the
  // default user. The tests' own clients (meta(), users(), …) always use the latter.
  std::function<std::string(const test::RedisServer&, int db)> redis_endpoint = {};
  std::string extra_redis_config;  // lines added to the [redis] table (key_layout, users, cache…)
};

class WebInstance {
 public:
  explicit WebInstance(WebOptions options = {});
  ~WebInstance();
  int port() const { return port_; }
  bool tls() const { return options_.tls; }
  Client client() const { return Client(port_, options_.tls); }
  std::filesystem::path state_dir() const { return dir_.path() / "web"; }
  std::filesystem::path config_path() const { return dir_.path() / "d4.toml"; }
  std::string log() const;
  std::filesystem::path log_path() const { return dir_.path() / "web.err"; }  // stderr: the log
  test::Process& process() { return proc_; }
  test::RedisServer& redis() { return *redis_; }
  core::RedisClient& meta() { return *meta_; }          // db 0
  core::RedisClient& stream() { return *stream_; }      // db 5 (tests keep the dbs apart)
  core::RedisClient& users() { return *users_; }        // db 1
  core::RedisClient& analyzer() { return *analyzer_; }  // db 2
  core::RedisClient& cache() { return *cache_; }        // db 3
  int stop();                                           // SIGTERM; returns the exit status

 private:
  WebOptions options_;
  test::TempDir dir_;
  std::unique_ptr<test::RedisServer> redis_;
  std::unique_ptr<core::RedisClient> meta_, stream_, users_, analyzer_, cache_;
  int port_ = 0;
  test::Process proc_;
};

}  // namespace d4::webtest
