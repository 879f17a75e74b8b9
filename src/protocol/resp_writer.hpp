#pragma once
// RESP (the Redis protocol) requests, written into a caller's buffer: one writer for d4-server's
// pipelined Asio client (core/redis_async.hpp) and the sensor client's blocking one (the d4server
// source, client/resp.hpp). It lives in the protocol library because the static sensor client links
// nothing else; RESP *replies* are read by two parsers on purpose: the server side uses hiredis's
// reader (core/redis_reply.hpp), the sensor client a small one of its own so that it keeps its
// dependencies to OpenSSL and libpcap (docs/architecture.md, "the shared utility layer").
//
// The writer counts the commands it wrote, so that a caller never states separately how many
// replies to wait for:
//
//   std::string req;
//   RespWriter w(req);
//   w.command({"XLEN", key}).command({"HGET", hash, field});
//   redis.submit(std::move(req), w.commands(), ...);
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace d4::protocol {

class RespWriter {
 public:
  explicit RespWriter(std::string& out) : out_(out) {}
  RespWriter& begin(std::size_t nargs);  // "*<n>\r\n": starts (and counts) one command
  RespWriter& arg(std::string_view a);   // "$<len>\r\n<a>\r\n"
  RespWriter& arg(std::uint64_t v);      // decimal
  RespWriter& arg_int(long long v);      // signed decimal
  // One whole command.
  RespWriter& command(std::initializer_list<std::string_view> args);
  RespWriter& command(const std::vector<std::string>& args);

  // The commands begun through this writer.
  std::uint32_t commands() const { return commands_; }

 private:
  void number(std::uint64_t v);
  std::string& out_;
  std::uint32_t commands_ = 0;
};

}  // namespace d4::protocol
