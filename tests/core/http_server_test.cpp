#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <thread>

#include "core/http_client.hpp"
#include "core/http_server.hpp"
#include "support/process.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace d4::core::http;

namespace {

bhttp::response<bhttp::string_body> fetch(std::uint16_t port, bhttp::verb verb, const std::string& target,
                                          const std::string& body = {}, bool use_tls = false) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve("127.0.0.1", std::to_string(port));
  bhttp::request<bhttp::string_body> req{verb, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::cookie, "a=1; session=xyz");
  req.body() = body;
  req.prepare_payload();
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  if (use_tls) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_verify_mode(asio::ssl::verify_none);
    beast::ssl_stream<beast::tcp_stream> s(io, ctx);
    beast::get_lowest_layer(s).connect(results);
    s.handshake(asio::ssl::stream_base::client);
    bhttp::write(s, req);
    bhttp::read(s, buf, res);
  } else {
    beast::tcp_stream s(io);
    s.connect(results);
    bhttp::write(s, req);
    bhttp::read(s, buf, res);
  }
  return res;
}

Router make_router() {
  Router r;
  r.get("/hello", [](Request&) { return Response::text(200, "hi"); });
  r.get("/sensors/{uuid}", [](Request& q) {
    return Response::json(200, {{"uuid", *q.param("uuid")},
                                {"page", q.param("page").value_or("")},
                                {"cookie", q.cookie("session").value_or("")}});
  });
  r.post("/echo", [](Request& q) { return Response::json(201, {{"form", q.form()}}); });
  r.get("/static/*", [](Request& q) { return Response::text(200, q.params["*"]); });
  r.get("/boom", [](Request&) -> Response { throw std::runtime_error("x"); });
  return r;
}

}  // namespace

TEST(HttpServer, RoutesParamsQueryFormsAndErrors) {
  ServerOptions o;
  o.max_body_bytes = 1000;
  Server s(make_router(), o);
  s.start();
  ASSERT_GT(s.port(), 0);
  EXPECT_EQ(fetch(s.port(), bhttp::verb::get, "/hello").body(), "hi");
  auto j = nlohmann::json::parse(fetch(s.port(), bhttp::verb::get, "/sensors/abc%20d?page=2").body());
  EXPECT_EQ(j["uuid"], "abc d");
  EXPECT_EQ(j["page"], "2");
  EXPECT_EQ(j["cookie"], "xyz");
  auto e = fetch(s.port(), bhttp::verb::post, "/echo", "a=1&b=x+y%21");
  EXPECT_EQ(e.result_int(), 201);
  EXPECT_EQ(nlohmann::json::parse(e.body())["form"]["b"], "x y!");
  EXPECT_EQ(fetch(s.port(), bhttp::verb::get, "/static/css/app.css").body(), "css/app.css");
  EXPECT_EQ(fetch(s.port(), bhttp::verb::get, "/nope").result_int(), 404);
  EXPECT_EQ(fetch(s.port(), bhttp::verb::post, "/hello").result_int(), 405);
  EXPECT_EQ(fetch(s.port(), bhttp::verb::get, "/boom").result_int(), 500);
  EXPECT_EQ(fetch(s.port(), bhttp::verb::post, "/echo", std::string(5000, 'x')).result_int(), 413);
  s.stop();
}

TEST(HttpServer, ServesHttpsWithTheGivenCertificate) {
  d4::test::TempDir dir;
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout " +
                    (dir / "k.pem").string() + " -out " + (dir / "c.pem").string() + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ServerOptions o;
  o.tls_cert_file = (dir / "c.pem").string();
  o.tls_key_file = (dir / "k.pem").string();
  Server s(make_router(), o);
  s.start();
  EXPECT_EQ(fetch(s.port(), bhttp::verb::get, "/hello", "", true).body(), "hi");
  s.stop();
}

TEST(HttpServer, HandlersRunConcurrentlyOnThePool) {
  // Each request waits (bounded) until both are inside a handler: with handlers run one at a
  // time, neither would see the other.
  std::atomic<int> inside{0};
  Router r;
  r.get("/wait", [&](Request&) {
    ++inside;
    bool met = d4::test::eventually([&] { return inside.load() >= 2; }, std::chrono::milliseconds(5000),
                                    std::chrono::milliseconds(5));
    return Response::text(200, met ? "together" : "alone");
  });
  ServerOptions o;
  o.handler_threads = 2;
  Server s(std::move(r), o);
  s.start();
  std::string a, b;
  std::thread t([&] { a = fetch(s.port(), bhttp::verb::get, "/wait").body(); });
  b = fetch(s.port(), bhttp::verb::get, "/wait").body();
  t.join();
  EXPECT_EQ(a, "together");
  EXPECT_EQ(b, "together");
  s.stop();
}

TEST(HttpHelpers, EscapingAndDecoding) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(url_decode("%41%zz+%"), "A%zz %");
  EXPECT_EQ(url_encode("a b/ü"), "a%20b%2F%C3%BC");
  auto q = parse_query("x=1&y&z=%20");
  EXPECT_EQ(q["x"], "1");
  EXPECT_EQ(q["y"], "");
  EXPECT_EQ(q["z"], " ");
}

TEST(HttpClientGet, ReturnsTheBodyOfA200AndNothingForAnotherStatus) {
  Server s(make_router(), ServerOptions{});
  s.start();
  GetTarget t{"127.0.0.1", std::to_string(s.port()), "127.0.0.1:" + std::to_string(s.port()), "/hello"};
  EXPECT_EQ(get_body(t, std::chrono::seconds(10)), std::optional<std::string>("hi"));
  t.path = "/no-such-page";
  EXPECT_EQ(get_body(t, std::chrono::seconds(10)), std::nullopt);
  t.path = "/hello";
  EXPECT_EQ(get_body(t, std::chrono::seconds(10), /*max_body=*/1), std::nullopt) << "body over the cap";
  s.stop();
}

TEST(HttpClientGet, APeerThatNeverAnswersCostsTheDeadline) {
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});  // accepts, never answers
  GetTarget t{"127.0.0.1", std::to_string(silent.local_endpoint().port()), "127.0.0.1", "/metrics"};
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(get_body(t, std::chrono::milliseconds(300)), std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}
