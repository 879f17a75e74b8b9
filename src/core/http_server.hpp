#pragma once
// A small HTTP/1.1 server (Boost.Beast on Asio) shared by every D4 HTTP endpoint: the server's
// metrics, the analyzers' query APIs and the web interface. Handlers are plain functions
// Request -> Response run on a worker pool, so they may block on Redis without stalling I/O.
// Optional TLS (certificate + key files). Routes match exact paths with {parameters} and a
// trailing "*" for prefixes.
//
// Budgets against one client holding the server: a global and a per-address connection limit
// (IPv4 address or IPv6 /64, so that one host cannot take every slot), a deadline for the TLS
// handshake and each request header counted from its first byte (slow-header attacks), a deadline
// for each body and each response write, and an idle deadline between keep-alive requests. Each
// refusal and timeout is counted (Server::stats()).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ipnet.hpp"

namespace d4::core::http {

struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};

struct Request {
  std::string method;                        // "GET", "POST", ...
  std::string target;                        // raw request target, e.g. "/api/v1/sensors?page=2"
  std::string path;                          // decoded path without the query string
  std::string query_string;                  // raw query string
  std::map<std::string, std::string> query;  // decoded query parameters (last one wins)
  std::map<std::string, std::string, CaseInsensitiveLess> headers;
  std::map<std::string, std::string> params;  // {name} captures of the matched route
  std::string body;
  std::string remote_ip;
  bool tls = false;
  // The pattern of the route whose path matched ("/api/v1/sensors/{uuid}"; empty: none), set by
  // Router::dispatch before the middleware runs: a label with a bounded set of values.
  std::string route;

  std::string header(const std::string& name) const;
  std::optional<std::string> param(const std::string& name) const;  // route capture, then query
  std::optional<std::string> cookie(const std::string& name) const;
  // application/x-www-form-urlencoded body fields
  std::map<std::string, std::string> form() const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Response json(int status, const nlohmann::json& body);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // {"status":"error","reason":...} as the reference REST API answers errors.
  static Response error(int status, std::string_view reason);
  static Response redirect(std::string location, int status = 303);
  Response& with_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

using Handler = std::function<Response(Request&)>;

class Router {
 public:
  // pattern: "/api/v1/sensors/{uuid}" or "/static/*"
  void add(std::string method, std::string pattern, Handler handler);
  void get(std::string pattern, Handler h) { add("GET", std::move(pattern), std::move(h)); }
  void post(std::string pattern, Handler h) { add("POST", std::move(pattern), std::move(h)); }
  void put(std::string pattern, Handler h) { add("PUT", std::move(pattern), std::move(h)); }
  void del(std::string pattern, Handler h) { add("DELETE", std::move(pattern), std::move(h)); }
  // Called for every request before routing; returning a response short-circuits it.
  void set_middleware(std::function<std::optional<Response>(Request&)> m) { middleware_ = std::move(m); }
  // Called with every response before it is sent (security headers, logging...).
  void set_finalizer(std::function<void(const Request&, Response&)> f) { finalizer_ = std::move(f); }
  void set_not_found(Handler h) { not_found_ = std::move(h); }
  // Called last with every request, its final response and the time dispatch took (metrics).
  using Observer = std::function<void(const Request&, const Response&, std::chrono::nanoseconds)>;
  void set_observer(Observer o) { observer_ = std::move(o); }

  Response dispatch(Request& req) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    bool prefix = false;
    Handler handler;
  };
  static bool match(const Route& r, const std::vector<std::string>& path,
                    std::map<std::string, std::string>& params);
  std::vector<Route> routes_;
  std::function<std::optional<Response>(Request&)> middleware_;
  std::function<void(const Request&, Response&)> finalizer_;
  Observer observer_;
  Handler not_found_;
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;     // 0: pick a free port (see Server::port())
  std::string tls_cert_file;  // both set: HTTPS
  std::string tls_key_file;
  std::size_t max_body_bytes = 1 << 20;
  std::chrono::milliseconds idle_timeout{30000};    // between requests of a kept-alive connection
  std::chrono::milliseconds header_timeout{10000};  // TLS handshake; a request header from its first byte
  std::chrono::milliseconds body_timeout{30000};    // a request body after its header; a response write
  std::size_t io_threads = 1;
  std::size_t handler_threads = 2;
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_ip = 64;  // per IPv4 address / IPv6 /64; 0: no per-address limit
  std::vector<IpNetwork> unlimited_peers;   // exempt from the per-address limit (trusted proxies)
  std::string server_header = "d4";
};

// What the budgets refused since start.
struct ServerStats {
  std::uint64_t open_connections = 0;
  std::uint64_t refused_max_connections = 0;  // the global limit was reached
  std::uint64_t refused_per_ip = 0;           // the peer's address had its share already
  std::uint64_t header_timeouts = 0;          // TLS handshake or request header too slow
  std::uint64_t body_timeouts = 0;            // request body or response write too slow
};

class Server {
 public:
  Server(Router router, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();  // binds and starts serving on background threads; throws on bind errors
  void stop();   // closes the listener and open connections, joins threads
  std::uint16_t port() const;
  const ServerOptions& options() const;
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Middleware for Router::set_middleware that admits requests carrying "Authorization: Bearer <t>"
// for one of `tokens` (compared in constant time) and answers 401 otherwise. An empty list admits
// everything, so callers can install it unconditionally.
std::function<std::optional<Response>(Request&)> bearer_token_middleware(std::vector<std::string> tokens);

std::string url_decode(std::string_view s, bool plus_as_space = true);
std::string url_encode(std::string_view s);
std::map<std::string, std::string> parse_query(std::string_view qs);
std::string html_escape(std::string_view s);

}  // namespace d4::core::http
