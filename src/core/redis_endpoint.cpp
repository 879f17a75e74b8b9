#include "core/redis_endpoint.hpp"

#include <charconv>

namespace d4::core {
namespace {
bool parse_int(std::string_view s, int& out, int lo, int hi) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}
}  // namespace

std::optional<RedisEndpoint> RedisEndpoint::parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string msg) -> std::optional<RedisEndpoint> {
    if (error) *error = "invalid Redis endpoint \"" + redact_endpoint(text) + "\": " + msg;
    return std::nullopt;
  };
  RedisEndpoint e;
  std::string_view s = text;
  if (s.starts_with("rediss://"))
    return fail(
        "TLS connections to Redis (rediss://) are not supported yet; use a unix socket or redis:// on a "
        "trusted network (or a TLS tunnel such as stunnel to a local port)");
  if (auto scheme = s.find("://"); scheme != std::string_view::npos && !s.starts_with("redis://"))
    return fail("unknown scheme \"" + std::string(s.substr(0, scheme)) + "://\" (expected redis://)");
  if (s.starts_with("redis://")) {
    s.remove_prefix(8);
    auto at = s.rfind('@');
    if (at != std::string_view::npos) {
      auto cred = s.substr(0, at);
      auto colon = cred.find(':');
      if (colon == std::string_view::npos) {
        e.password = std::string(cred);  // redis://password@host: a password, as before ACLs
      } else {
        e.username = std::string(cred.substr(0, colon));
        e.password = std::string(cred.substr(colon + 1));
      }
      s.remove_prefix(at + 1);
    }
    // redis://host:port/db: an empty path or a trailing slash means db 0.
    if (s.ends_with('/')) s.remove_suffix(1);
  }
  if (s.starts_with("unix:")) {
    s.remove_prefix(5);
    // unix:/run/redis.sock or unix:/run/redis.sock/2 (a trailing /<digits> selects the db)
    auto slash = s.rfind('/');
    if (slash != std::string_view::npos && slash + 1 < s.size() && slash > 0) {
      int db = 0;
      if (parse_int(s.substr(slash + 1), db, 0, 1 << 20)) {
        e.db = db;
        s = s.substr(0, slash);
      }
    }
    if (s.empty() || s.front() != '/') return fail("unix socket path must be absolute");
    e.unix_socket = std::string(s);
    return e;
  }
  auto slash = s.find('/');
  if (slash != std::string_view::npos) {
    if (!parse_int(s.substr(slash + 1), e.db, 0, 1 << 20)) return fail("bad database number");
    s = s.substr(0, slash);
  }
  if (s.starts_with('[')) {
    auto close = s.find(']');
    if (close == std::string_view::npos) return fail("missing ']'");
    e.host = std::string(s.substr(1, close - 1));
    s.remove_prefix(close + 1);
    if (!s.empty()) {
      if (s.front() != ':' || !parse_int(s.substr(1), e.port, 1, 65535)) return fail("bad port");
    }
  } else {
    auto colon = s.rfind(':');
    if (colon != std::string_view::npos) {
      if (!parse_int(s.substr(colon + 1), e.port, 1, 65535)) return fail("bad port");
      s = s.substr(0, colon);
    }
    if (!s.empty()) e.host = std::string(s);
  }
  if (e.host.empty()) return fail("empty host");
  return e;
}

std::string RedisEndpoint::to_string() const {
  if (!unix_socket.empty()) return "unix:" + unix_socket + "/" + std::to_string(db);
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

}  // namespace d4::core
