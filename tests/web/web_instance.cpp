#include "web_instance.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cstdlib>
#include <stdexcept>

#include "core/http_server.hpp"
#include "protocol/text.hpp"

namespace d4::webtest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

std::string HttpResult::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (d4::text::iequals(k, name)) return v;
  return {};
}

std::vector<std::string> HttpResult::headers_named(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (d4::text::iequals(k, name)) out.push_back(v);
  return out;
}

std::string form_encode(const std::map<std::string, std::string>& fields) {
  std::string s;
  for (const auto& [k, v] : fields) {
    if (!s.empty()) s += '&';
    s += core::http::url_encode(k) + "=" + core::http::url_encode(v);
  }
  return s;
}

HttpResult Client::request(const std::string& method, const std::string& target, const std::string& body,
                           const std::string& content_type,
                           const std::map<std::string, std::string>& headers) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve("127.0.0.1", std::to_string(port_));
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port_));
  std::string cookie;
  for (const auto& [k, v] : cookies) cookie += (cookie.empty() ? "" : "; ") + k + "=" + v;
  if (!cookie.empty()) req.set(bhttp::field::cookie, cookie);
  if (!bearer.empty()) req.set(bhttp::field::authorization, "Bearer " + bearer);
  if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 << 20);
  // Bound to source_ip when set, so that one test can be several clients.
  auto connect = [&](beast::tcp_stream& ts) {
    if (source_ip.empty()) {
      ts.connect(results);
      return;
    }
    auto& sock = ts.socket();
    sock.open(asio::ip::tcp::v4());
    sock.bind({asio::ip::make_address(source_ip), 0});
    sock.connect(*results.begin());
  };
  if (tls_) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_verify_mode(asio::ssl::verify_none);
    beast::ssl_stream<beast::tcp_stream> s(io, ctx);
    beast::get_lowest_layer(s).expires_after(std::chrono::seconds(30));
    connect(beast::get_lowest_layer(s));
    s.handshake(asio::ssl::stream_base::client);
    bhttp::write(s, req);
    bhttp::read(s, buf, parser);
    beast::error_code ec;
    s.shutdown(ec);
  } else {
    beast::tcp_stream s(io);
    s.expires_after(std::chrono::seconds(30));
    connect(s);
    bhttp::write(s, req);
    bhttp::read(s, buf, parser);
  }
  auto& res = parser.get();
  HttpResult r;
  r.status = res.result_int();
  r.body = res.body();
  for (const auto& f : res) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  // Cookie jar: name=value of each Set-Cookie; Max-Age=0 deletes.
  for (const auto& sc : r.headers_named("Set-Cookie")) {
    auto semi = sc.find(';');
    auto nv = sc.substr(0, semi);
    auto eq = nv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = nv.substr(0, eq), value = nv.substr(eq + 1);
    if (value.empty() || sc.find("Max-Age=0") != std::string::npos)
      cookies.erase(name);
    else
      cookies[name] = value;
  }
  return r;
}

HttpResult Client::call(const std::string& method, const std::string& target, const nlohmann::json& body) {
  std::map<std::string, std::string> h = {{"Accept", "application/json"}};
  if (!csrf.empty()) h["X-CSRF-Token"] = csrf;
  if (body.is_null()) return request(method, target, {}, {}, h);
  return request(method, target, body.dump(), "application/json", h);
}

HttpResult Client::form(const std::string& target, const std::map<std::string, std::string>& fields,
                        const std::map<std::string, std::string>& headers) {
  return request("POST", target, form_encode(fields), "application/x-www-form-urlencoded", headers);
}

HttpResult Client::login(const std::string& user, const std::string& password, const std::string& next) {
  auto page = get("/login?next=" + core::http::url_encode(next));
  std::string marker = "name=\"csrf_token\" value=\"";
  auto p = page.body.find(marker);
  std::string token;
  if (p != std::string::npos) {
    p += marker.size();
    token = page.body.substr(p, page.body.find('"', p) - p);
  }
  return form("/login", {{"username", user}, {"password", password}, {"next", next}, {"csrf_token", token}});
}

std::string Client::refresh_csrf() {
  auto page = get("/profile");
  std::string marker = "<meta name=\"csrf-token\" content=\"";
  auto p = page.body.find(marker);
  if (p == std::string::npos) {
    // Pages that are not reachable yet (forced password change) still carry the token.
    page = get("/change_password");
    p = page.body.find(marker);
  }
  if (p == std::string::npos) return csrf = {};
  p += marker.size();
  return csrf = page.body.substr(p, page.body.find('"', p) - p);
}

WebInstance::WebInstance(WebOptions options) : options_(std::move(options)) {
  redis_ = std::make_unique<test::RedisServer>(options_.redis);
  auto ep = [&](int db) {
    core::RedisEndpoint e;
    e.host = "127.0.0.1";
    e.port = redis_->port();
    e.db = db;
    return std::make_unique<core::RedisClient>(e);
  };
  meta_ = ep(0);
  users_ = ep(1);
  analyzer_ = ep(2);
  cache_ = ep(3);
  stream_ = ep(5);
  std::string cfg;
  auto endpoint = [&](int db) {
    return options_.redis_endpoint ? options_.redis_endpoint(*redis_, db)
                                   : "127.0.0.1:" + std::to_string(redis_->port()) + "/" + std::to_string(db);
  };
  cfg += "[redis]\nstream = \"" + endpoint(5) + "\"\n";
  cfg += "meta = \"" + endpoint(0) + "\"\n" + options_.extra_redis_config + "\n[web]\n";
  cfg += "listen = \"127.0.0.1:0\"\n";  // d4-web reports the port it got
  // Argon2id at its interactive cost was most of the web tests' CPU (each test makes and signs in
  // several users); tests of the cost itself set password_hash.
  if (options_.extra_web_config.find("password_hash") == std::string::npos)
    cfg += "password_hash = \"minimum\"\n";
  if (options_.tls) {
    std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
        "-days 2 -keyout '" +
        (dir_.path() / "key.pem").string() + "' -out '" + (dir_.path() / "cert.pem").string() +
        "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("openssl could not create a test certificate");
    cfg += "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n";
  } else {
    cfg += "tls_cert = \"\"\ntls_key = \"\"\n";
  }
  if (!options_.admin_password.empty()) cfg += "admin_password = \"" + options_.admin_password + "\"\n";
  cfg += options_.extra_web_config;
  test::write_text(config_path(), cfg);
  test::Process::Options po;
  po.stdout_file = dir_.path() / "web.log";
  po.stderr_file = dir_.path() / "web.err";
  proc_ = test::Process({(test::bin_dir() / "d4-web").string(), "--config", config_path().string()}, po);
  port_ = test::wait_for_listening(dir_.path() / "web.err",
                                   options_.tls ? "web interface, HTTPS" : "web interface, HTTP", proc_);
  bool up = test::eventually(
      [&] {
        try {
          return client().get("/login").status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::milliseconds(20000), std::chrono::milliseconds(50));
  if (!up) throw std::runtime_error("d4-web did not start: " + log());
}

WebInstance::~WebInstance() {
  if (proc_.running()) proc_.stop();
}

int WebInstance::stop() {
  return proc_.stop();
}

std::string WebInstance::log() const {
  std::string s;
  for (const char* f : {"web.log", "web.err"}) {
    try {
      s += test::read_text(dir_.path() / f);
    } catch (const std::exception&) {
    }
  }
  return s;
}

}  // namespace d4::webtest
