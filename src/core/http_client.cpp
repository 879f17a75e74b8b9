#include "core/http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace d4::core::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

std::optional<std::string> get_body(const GetTarget& target, std::chrono::milliseconds timeout,
                                    std::size_t max_body) {
  asio::io_context ioc;
  asio::ip::tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  bhttp::request<bhttp::empty_body> request{bhttp::verb::get, target.path, 11};
  request.set(bhttp::field::host, target.host_header);
  request.set(bhttp::field::connection, "close");
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(max_body);
  std::optional<std::string> body;

  using error_code = boost::system::error_code;
  stream.expires_after(timeout);  // connect, write and read
  resolver.async_resolve(target.host, target.port,
                         [&](error_code ec, asio::ip::tcp::resolver::results_type r) {
                           if (ec) return;
                           stream.async_connect(r, [&](error_code ec2, const asio::ip::tcp::endpoint&) {
                             if (ec2) return;
                             bhttp::async_write(stream, request, [&](error_code ec3, std::size_t) {
                               if (ec3) return;
                               bhttp::async_read(stream, buffer, parser, [&](error_code ec4, std::size_t) {
                                 if (!ec4 && parser.get().result() == bhttp::status::ok)
                                   body = std::move(parser.get().body());
                               });
                             });
                           });
                         });
  ioc.run_for(timeout);  // the resolution too
  return body;
}

}  // namespace d4::core::http
