#include "analyzers/pdns/cof_websocket.hpp"
#include "protocol/text.hpp"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <stdexcept>
#include <thread>

#include "core/redis_client.hpp"  // core::Backoff

namespace d4::analyzers::pdns {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::optional<WebsocketUrl> parse_websocket_url(std::string_view url, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<WebsocketUrl> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  WebsocketUrl u;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return fail("expected ws:// or wss://");
  const std::string scheme = text::ascii_lower(url.substr(0, scheme_end));
  if (scheme == "wss")
    u.tls = true;
  else if (scheme != "ws")
    return fail("unsupported scheme '" + scheme + "' (ws or wss)");
  std::string_view rest = url.substr(scheme_end + 3);
  auto path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  u.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (!u.target.empty() && u.target.front() == '?') u.target.insert(0, "/");
  if (auto hash = u.target.find('#'); hash != std::string::npos) u.target.resize(hash);
  if (authority.find('@') != std::string_view::npos) return fail("credentials in the URL are not supported");
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated IPv6 address");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after the IPv6 address");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return fail("no host");
  if (port.empty()) {
    u.port = u.tls ? "443" : "80";
  } else {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
      return fail("bad port '" + std::string(port) + "'");
    int p = std::stoi(std::string(port));
    if (p <= 0 || p > 65535) return fail("bad port '" + std::string(port) + "'");
    u.port = std::to_string(p);
  }
  bool v6 = u.host.find(':') != std::string::npos;
  u.host_header = v6 ? "[" + u.host + "]" : u.host;
  if (u.port != (u.tls ? "443" : "80")) u.host_header += ":" + u.port;
  return u;
}

namespace {

using PlainStream = websocket::stream<beast::tcp_stream>;
using TlsStream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

class Source {
 public:
  Source(const WebsocketSourceOptions& options, WebsocketUrl url,
         const std::function<void(std::string_view)>& on_line, const std::function<void()>& on_flush,
         const std::atomic<bool>& stop)
      : options_(options), url_(std::move(url)), on_line_(on_line), on_flush_(on_flush), stop_(stop) {
    if (url_.tls) {
      tls_.emplace(ssl::context::tls_client);
      tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      if (options_.verify_peer) {
        tls_->set_verify_mode(ssl::verify_peer);
        boost::system::error_code ec;
        if (!options_.ca_file.empty())
          tls_->load_verify_file(options_.ca_file, ec);
        else
          tls_->set_default_verify_paths(ec);
        if (ec)
          throw std::runtime_error(
              "cannot load trust anchors " +
              (options_.ca_file.empty() ? std::string("(system store)") : options_.ca_file) + ": " +
              ec.message());
      } else {
        tls_->set_verify_mode(ssl::verify_none);
        spdlog::warn("{}: certificate verification disabled", options_.url);
      }
    }
  }

  WebsocketSourceStats run() {
    core::Backoff backoff(options_.backoff_min, options_.backoff_max);
    bool logged_down = false;
    while (!stop_.load()) {
      bool done = false, established = false;
      std::exception_ptr failure;
      asio::co_spawn(ioc_, session(established), [&](std::exception_ptr e) {
        done = true;
        failure = e;
      });
      auto last_flush = std::chrono::steady_clock::now();
      while (!done) {
        if (stop_.load() && cancel_) {
          cancel_();
          cancel_ = nullptr;
        }
        ioc_.run_one_for(std::chrono::milliseconds(100));
        auto now = std::chrono::steady_clock::now();
        if (established && now - last_flush >= options_.flush_interval) {
          on_flush_();
          last_flush = std::chrono::steady_clock::now();
        }
      }
      cancel_ = nullptr;
      ioc_.restart();
      std::string reason = "closed";
      try {
        if (failure) std::rethrow_exception(failure);
      } catch (const boost::system::system_error& e) {
        reason = describe(e.code());
      }  // anything else (a callback's error) ends the run
      on_flush_();
      if (established) {
        ++stats_.disconnections;
        backoff.reset();
        if (!stop_.load()) spdlog::warn("{}: connection lost ({}), reconnecting", options_.url, reason);
        logged_down = false;
      } else if (!stop_.load()) {
        ++stats_.failed_attempts;
        if (!logged_down)
          spdlog::warn("{}: cannot connect ({}), retrying with backoff", options_.url, reason);
        else
          spdlog::debug("{}: cannot connect ({})", options_.url, reason);
        logged_down = true;
      }
      if (stop_.load()) break;
      sleep_unless_stopped(established ? options_.backoff_min : backoff.next());
    }
    return stats_;
  }

 private:
  void sleep_unless_stopped(std::chrono::milliseconds d) const {
    auto until = std::chrono::steady_clock::now() + d;
    while (!stop_.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
  }

  static std::string describe(const boost::system::error_code& ec) {
    // TLS failures carry OpenSSL's reason (e.g. "certificate verify failed").
    return ec.message() + (ec.category() == asio::error::get_ssl_category() ? " [tls]" : "");
  }

  asio::awaitable<void> session(bool& established) {
    auto resolver = tcp::resolver(ioc_);
    cancel_ = [&resolver] { resolver.cancel(); };
    auto endpoints = co_await resolver.async_resolve(url_.host, url_.port, asio::use_awaitable);
    if (url_.tls) {
      TlsStream ws(ioc_, *tls_);
      co_await connect(beast::get_lowest_layer(ws), endpoints);
      auto& tls_stream = ws.next_layer();
      boost::system::error_code ip_ec;
      asio::ip::make_address(url_.host, ip_ec);
      if (ip_ec && SSL_ctrl(tls_stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
                            TLSEXT_NAMETYPE_host_name, const_cast<char*>(url_.host.c_str())) != 1)
        throw boost::system::system_error(asio::error::invalid_argument);  // SNI
      if (options_.verify_peer) tls_stream.set_verify_callback(ssl::host_name_verification(url_.host));
      co_await tls_stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
      co_await read_messages(ws, established);
    } else {
      PlainStream ws(ioc_);
      co_await connect(beast::get_lowest_layer(ws), endpoints);
      co_await read_messages(ws, established);
    }
  }

  asio::awaitable<void> connect(beast::tcp_stream& tcp_layer, const tcp::resolver::results_type& endpoints) {
    cancel_ = [&tcp_layer] { tcp_layer.socket().close(); };
    tcp_layer.expires_after(options_.connect_timeout);
    co_await tcp_layer.async_connect(endpoints, asio::use_awaitable);
    tcp_layer.socket().set_option(tcp::no_delay(true));
  }

  template <typename Ws>
  asio::awaitable<void> read_messages(Ws& ws, bool& established) {
    auto& tcp_layer = beast::get_lowest_layer(ws);
    tcp_layer.expires_never();  // the websocket stream's own timeouts take over
    websocket::stream_base::timeout t{};
    t.handshake_timeout = options_.connect_timeout;
    t.idle_timeout = options_.idle_timeout;
    t.keep_alive_pings = true;
    ws.set_option(t);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "d4-pdns"); }));
    ws.read_message_max(options_.max_message_bytes);
    co_await ws.async_handshake(url_.host_header, url_.target, asio::use_awaitable);
    established = true;
    ++stats_.connections;
    spdlog::info("{}: connected", options_.url);
    beast::flat_buffer buffer;
    for (;;) {
      buffer.clear();
      co_await ws.async_read(buffer, asio::use_awaitable);
      ++stats_.messages;
      std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
      while (!data.empty()) {
        auto nl = data.find('\n');
        std::string_view line = data.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        ++stats_.lines;
        on_line_(line);
        if (nl == std::string_view::npos) break;
        data.remove_prefix(nl + 1);
      }
    }
  }

  const WebsocketSourceOptions& options_;
  WebsocketUrl url_;
  const std::function<void(std::string_view)>& on_line_;
  const std::function<void()>& on_flush_;
  const std::atomic<bool>& stop_;
  asio::io_context ioc_;
  std::optional<ssl::context> tls_;
  std::function<void()> cancel_;  // ends the current connection attempt or session
  WebsocketSourceStats stats_;
};

}  // namespace

WebsocketSourceStats run_websocket_source(const WebsocketSourceOptions& options,
                                          const std::function<void(std::string_view)>& on_line,
                                          const std::function<void()>& on_flush,
                                          const std::atomic<bool>& stop) {
  std::string error;
  auto url = parse_websocket_url(options.url, &error);
  if (!url) throw std::invalid_argument("websocket URL '" + options.url + "': " + error);
  Source source(options, std::move(*url), on_line, on_flush, stop);
  return source.run();
}

}  // namespace d4::analyzers::pdns
