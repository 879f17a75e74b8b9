#pragma once
// Where a Redis database lives: "host:port/db", "[v6]:port/db", "unix:/path.sock/db" or
// "redis://[[user]:password@]host:port/db". Passwords never appear in to_string() nor in error
// messages (redact()); "rediss://" (TLS) is refused with a clear error: not supported yet.
#include <optional>
#include <string>
#include <string_view>

#include "core/redact.hpp"

namespace d4::core {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_socket;  // when set, host/port are ignored
  int db = 0;
  std::string password;
  std::string username = {};  // Redis 6 ACL user (AUTH user password); empty: AUTH password

  // nullopt and `error` (safe to print: the password is masked) when `text` is not an endpoint.
  static std::optional<RedisEndpoint> parse(std::string_view text, std::string* error = nullptr);
  std::string to_string() const;  // without the credentials
  RedisEndpoint with_db(int other_db) const {
    RedisEndpoint e = *this;
    e.db = other_db;
    return e;
  }
  friend bool operator==(const RedisEndpoint&, const RedisEndpoint&) = default;
};

}  // namespace d4::core
