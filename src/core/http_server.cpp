#include "core/http_server.hpp"

#include "protocol/text.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace d4::core::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

bool CaseInsensitiveLess::operator()(const std::string& a, const std::string& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return text::ascii_lower(x) < text::ascii_lower(y);
  });
}

// ---------------------------------------------------------------- helpers

std::string url_decode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && plus_as_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::function<std::optional<Response>(Request&)> bearer_token_middleware(std::vector<std::string> tokens) {
  return [tokens = std::move(tokens)](Request& req) -> std::optional<Response> {
    if (tokens.empty()) return std::nullopt;
    std::string auth = req.header("Authorization");
    static constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() > kBearer.size() && auth.compare(0, kBearer.size(), kBearer) == 0) {
      std::string_view token = std::string_view(auth).substr(kBearer.size());
      for (const auto& t : tokens)
        if (t.size() == token.size() && CRYPTO_memcmp(t.data(), token.data(), t.size()) == 0)
          return std::nullopt;
    }
    return Response::error(401, "missing or invalid bearer token").with_header("WWW-Authenticate", "Bearer");
  };
}

std::string url_encode(std::string_view s) {
  static const char* hexd = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hexd[c >> 4];
      out += hexd[c & 15];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view qs) {
  std::map<std::string, std::string> out;
  while (!qs.empty()) {
    auto amp = qs.find('&');
    auto part = qs.substr(0, amp);
    if (!part.empty()) {
      auto eq = part.find('=');
      if (eq == std::string_view::npos)
        out[url_decode(part)] = "";
      else
        out[url_decode(part.substr(0, eq))] = url_decode(part.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    qs.remove_prefix(amp + 1);
  }
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {
std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  while (!p.empty()) {
    if (p.front() == '/') {
      p.remove_prefix(1);
      continue;
    }
    auto slash = p.find('/');
    out.emplace_back(p.substr(0, slash));
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash);
  }
  return out;
}
}  // namespace

std::string Request::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::optional<std::string> Request::param(const std::string& name) const {
  if (auto it = params.find(name); it != params.end()) return it->second;
  if (auto it = query.find(name); it != query.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> Request::cookie(const std::string& name) const {
  std::string_view c = [&]() -> std::string_view {
    auto it = headers.find("Cookie");
    return it == headers.end() ? std::string_view{} : std::string_view(it->second);
  }();
  while (!c.empty()) {
    while (!c.empty() && (c.front() == ' ' || c.front() == ';')) c.remove_prefix(1);
    auto semi = c.find(';');
    auto part = c.substr(0, semi);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
    if (semi == std::string_view::npos) break;
    c.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

std::map<std::string, std::string> Request::form() const {
  return parse_query(body);
}

Response Response::json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

Response Response::error(int status, std::string_view reason) {
  return json(status, {{"status", "error"}, {"reason", reason}});
}

Response Response::redirect(std::string location, int status) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.headers.emplace_back("Location", std::move(location));
  return r;
}

// ---------------------------------------------------------------- router

void Router::add(std::string method, std::string pattern, Handler handler) {
  Route r;
  r.method = std::move(method);
  r.pattern = pattern;
  r.segments = split_path(pattern);
  if (!r.segments.empty() && r.segments.back() == "*") {
    r.prefix = true;
    r.segments.pop_back();
  }
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
}

bool Router::match(const Route& r, const std::vector<std::string>& path,
                   std::map<std::string, std::string>& params) {
  if (r.prefix ? path.size() < r.segments.size() : path.size() != r.segments.size()) return false;
  std::map<std::string, std::string> caps;
  for (std::size_t i = 0; i < r.segments.size(); ++i) {
    const auto& s = r.segments[i];
    if (s.size() >= 2 && s.front() == '{' && s.back() == '}')
      caps[s.substr(1, s.size() - 2)] = path[i];
    else if (s != path[i])
      return false;
  }
  if (r.prefix) {
    std::string rest;
    for (std::size_t i = r.segments.size(); i < path.size(); ++i) {
      if (!rest.empty()) rest += '/';
      rest += path[i];
    }
    caps["*"] = rest;
  }
  params = std::move(caps);
  return true;
}

Response Router::dispatch(Request& req) const {
  const auto started = std::chrono::steady_clock::now();
  Response resp;
  bool done = false;
  const auto path = split_path(req.path);
  req.route.clear();
  // For the observer (metrics) only: the route group of a request the middleware answers.
  if (observer_) {
    for (const auto& r : routes_) {
      std::map<std::string, std::string> ignored;
      if (match(r, path, ignored)) {
        req.route = r.pattern;
        break;
      }
    }
  }
  if (middleware_) {
    if (auto r = middleware_(req)) {
      resp = std::move(*r);
      done = true;
    }
  }
  if (!done) {
    bool path_matched = false;
    for (const auto& r : routes_) {
      std::map<std::string, std::string> params;
      if (!match(r, path, params)) continue;
      path_matched = true;
      if (r.method != req.method && !(req.method == "HEAD" && r.method == "GET")) continue;
      req.params = std::move(params);
      req.route = r.pattern;
      try {
        resp = r.handler(req);
      } catch (const std::exception& e) {
        spdlog::error("http {} {}: handler failed: {}", req.method, req.path, e.what());
        resp = Response::error(500, "internal error");
      }
      done = true;
      break;
    }
    if (!done) {
      if (path_matched)
        resp = Response::error(405, "method not allowed");
      else if (not_found_)
        resp = not_found_(req);
      else
        resp = Response::error(404, "not found");
    }
  }
  if (finalizer_) finalizer_(req, resp);
  if (observer_) observer_(req, resp, std::chrono::steady_clock::now() - started);
  return resp;
}

// ---------------------------------------------------------------- server

namespace {
// The budget key of a peer: its IPv4 address, or the /64 of an IPv6 address (one host usually
// holds a whole /64). An IPv4-mapped address counts as IPv4.
std::string peer_budget_key(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return peer_budget_key(asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()));
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return std::string(b.begin(), b.end());
  }
  auto b = a.to_v6().to_bytes();
  return std::string(b.begin(), b.begin() + 8);
}

template <typename Stream>
void expire_after(Stream& stream, std::chrono::milliseconds d) {
  beast::get_lowest_layer(stream).expires_after(d);
}
}  // namespace

struct Server::Impl {
  Router router;
  ServerOptions options;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  asio::thread_pool handlers;
  std::optional<asio::ssl::context> ssl;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopping{false};
  std::uint16_t bound_port = 0;
  std::mutex peers_mutex;
  std::unordered_map<std::string, std::size_t> per_peer;  // open connections per budget key
  std::atomic<std::uint64_t> refused_max{0}, refused_per_ip{0}, header_timeouts{0}, body_timeouts{0};

  Impl(Router r, ServerOptions o) : router(std::move(r)), options(std::move(o)), handlers(o_threads()) {}
  std::size_t o_threads() const { return std::max<std::size_t>(1, options.handler_threads); }

  // Admits a connection from `peer` within the global and per-address budgets; the returned
  // key (empty: not counted per address) is released by release().
  std::optional<std::string> admit(const asio::ip::address& peer) {
    if (connections.load() >= options.max_connections) {
      ++refused_max;
      return std::nullopt;
    }
    std::string key;
    bool exempt = options.max_connections_per_ip == 0;
    if (!exempt) {
      auto ip = IpAddress::parse(peer.to_string());
      for (const auto& net : options.unlimited_peers)
        if (ip && net.contains(*ip)) exempt = true;
    }
    if (!exempt) {
      key = peer_budget_key(peer);
      std::lock_guard lock(peers_mutex);
      auto& n = per_peer[key];
      if (n >= options.max_connections_per_ip) {
        ++refused_per_ip;
        return std::nullopt;
      }
      ++n;
    }
    ++connections;
    return key;
  }

  void release(const std::string& key) {
    --connections;
    if (key.empty()) return;
    std::lock_guard lock(peers_mutex);
    auto it = per_peer.find(key);
    if (it != per_peer.end() && --it->second == 0) per_peer.erase(it);
  }

  // Reads one request: waits up to idle_timeout for its first byte, then header_timeout for the
  // whole header, then body_timeout for the body. Returns false when the connection must close.
  template <typename Stream>
  asio::awaitable<bool> read_request(Stream& stream, beast::flat_buffer& buffer,
                                     bhttp::request_parser<bhttp::string_body>& parser) {
    beast::error_code ec;
    if (buffer.size() == 0) {
      expire_after(stream, options.idle_timeout);
      std::size_t n = co_await stream.async_read_some(buffer.prepare(4096),
                                                      asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return false;  // closed or idle: not an error
      buffer.commit(n);
    }
    expire_after(stream, options.header_timeout);
    co_await bhttp::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !parser.is_done()) {
      expire_after(stream, options.body_timeout);
      co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == beast::error::timeout) ++body_timeouts;
    } else if (ec == beast::error::timeout) {
      ++header_timeouts;
    }
    if (ec == bhttp::error::body_limit) {
      bhttp::response<bhttp::string_body> res{bhttp::status::payload_too_large, 11};
      res.set(bhttp::field::content_type, "application/json");
      res.body() = R"({"status":"error","reason":"request body too large"})";
      res.prepare_payload();
      res.keep_alive(false);
      expire_after(stream, options.body_timeout);
      co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      co_return false;
    }
    co_return !ec;
  }

  static Request to_request(bhttp::request<bhttp::string_body>& msg, const std::string& remote, bool tls) {
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto q = req.target.find('?');
    req.path = url_decode(std::string_view(req.target).substr(0, q), false);
    if (q != std::string::npos) {
      req.query_string = req.target.substr(q + 1);
      req.query = parse_query(req.query_string);
    }
    // A header sent several times is one comma-separated list (RFC 9110 5.3): a proxy appends its
    // X-Forwarded-For line after the client's.
    for (const auto& f : msg) {
      auto [it, inserted] = req.headers.try_emplace(std::string(f.name_string()), std::string(f.value()));
      if (!inserted) it->second += ", " + std::string(f.value());
    }
    req.body = std::move(msg.body());
    req.remote_ip = remote;
    req.tls = tls;
    return req;
  }

  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream, std::string remote, bool tls) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      parser.header_limit(64 * 1024);
      if (!co_await read_request(stream, buffer, parser)) break;
      auto& msg = parser.get();
      Request req = to_request(msg, remote, tls);
      bool keep_alive = msg.keep_alive();
      unsigned version = msg.version();

      // Run the handler on the pool (handlers may block on Redis), then come back to the
      // connection's executor. (A plain post(handlers, use_awaitable) would resume on the I/O
      // thread and run every handler there, one at a time.)
      Response resp = co_await asio::co_spawn(
          handlers, [&]() -> asio::awaitable<Response> { co_return router.dispatch(req); },
          asio::use_awaitable);

      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(resp.status), version};
      res.set(bhttp::field::server, options.server_header);
      if (!resp.content_type.empty()) res.set(bhttp::field::content_type, resp.content_type);
      for (const auto& [k, v] : resp.headers) res.insert(k, v);
      if (req.method != "HEAD") res.body() = std::move(resp.body);
      res.keep_alive(keep_alive && !stopping);
      res.prepare_payload();
      beast::error_code ec;
      expire_after(stream, options.body_timeout);
      co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == beast::error::timeout) ++body_timeouts;
      if (ec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    } else {
      expire_after(stream, std::chrono::seconds(2));
      co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

  asio::awaitable<void> session(tcp::socket socket, std::string budget_key) {
    struct Release {
      Impl& im;
      std::string key;
      ~Release() { im.release(key); }
    } release{*this, std::move(budget_key)};
    beast::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    std::string remote = ec ? std::string("?") : ep.address().to_string();
    if (ssl) {
      beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *ssl);
      expire_after(stream, options.header_timeout);
      co_await stream.async_handshake(asio::ssl::stream_base::server,
                                      asio::redirect_error(asio::use_awaitable, ec));
      if (ec == beast::error::timeout) ++header_timeouts;
      if (ec) co_return;
      co_await serve(stream, remote, true);
    } else {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream, remote, false);
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) co_return;
        continue;
      }
      auto peer = socket.remote_endpoint(ec);
      auto key = ec ? std::nullopt : admit(peer.address());
      if (!key) {
        socket.close(ec);
        continue;
      }
      asio::co_spawn(io, session(std::move(socket), std::move(*key)), asio::detached);
    }
  }
};

Server::Server(Router router, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(router), std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::start() {
  auto& im = *impl_;
  if (!im.options.tls_cert_file.empty() || !im.options.tls_key_file.empty()) {
    im.ssl.emplace(asio::ssl::context::tls_server);
    im.ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
    im.ssl->use_certificate_chain_file(im.options.tls_cert_file);
    im.ssl->use_private_key_file(im.options.tls_key_file, asio::ssl::context::pem);
  }
  auto addr = asio::ip::make_address(im.options.address);
  tcp::endpoint ep(addr, im.options.port);
  im.acceptor.open(ep.protocol());
  im.acceptor.set_option(asio::socket_base::reuse_address(true));
  if (addr.is_v6()) im.acceptor.set_option(asio::ip::v6_only(false));
  im.acceptor.bind(ep);
  im.acceptor.listen(asio::socket_base::max_listen_connections);
  im.bound_port = im.acceptor.local_endpoint().port();
  im.work.emplace(im.io.get_executor());
  asio::co_spawn(im.io, im.accept_loop(), asio::detached);
  for (std::size_t i = 0; i < std::max<std::size_t>(1, im.options.io_threads); ++i)
    im.threads.emplace_back([&im] { im.io.run(); });
}

void Server::stop() {
  if (!impl_) return;
  auto& im = *impl_;
  if (im.threads.empty()) return;
  im.stopping = true;
  asio::post(im.io, [&im] {
    beast::error_code ec;
    im.acceptor.close(ec);
  });
  im.work.reset();
  im.io.stop();
  for (auto& t : im.threads)
    if (t.joinable()) t.join();
  im.threads.clear();
  im.handlers.join();
}

std::uint16_t Server::port() const {
  return impl_->bound_port;
}
const ServerOptions& Server::options() const {
  return impl_->options;
}

ServerStats Server::stats() const {
  const auto& im = *impl_;
  return {im.connections.load(), im.refused_max.load(), im.refused_per_ip.load(), im.header_timeouts.load(),
          im.body_timeouts.load()};
}

}  // namespace d4::core::http
