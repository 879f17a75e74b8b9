#pragma once
// A small blocking Redis client for the d4server source (forwarding an analyzer queue). The client
// keeps its runtime dependencies to OpenSSL and libpcap, so it reads RESP replies itself (requests
// are written by the protocol library's RespWriter, shared with d4-server): TCP (IPv4/IPv6),
// TLS (rediss://, set up by protocol/tls_client.hpp like the server side's clients) or a Unix
// socket, connect and command timeouts, AUTH [user] password and SELECT on every (re)connection,
// pipelined commands. Every wait also watches a stop descriptor.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/tls_client.hpp"

struct ssl_st;
struct ssl_ctx_st;

namespace d4::client {

// Where the Redis server is, in the syntax of the server-side endpoints (docs/configuration.md,
// "Redis endpoints"): "host:port/db", "[v6]:port/db", "host:port" (db 0), "unix:/path/to/socket/db",
// "unix:/path/to/socket", or URL forms "redis://[[user]:password@]host:port/db",
// "rediss://...?ca=..&cert=..&key=..&sni=.." (TLS) and "unix://[[user]:password@]/path/to/socket?db=N";
// "?password_file=PATH" reads the password from a file ("redis://user@host?password_file=" names
// the ACL user). Sentinel endpoints are refused: the client follows one master.
struct RedisAddress {
  bool unix_socket = false;
  std::string host;  // without brackets
  std::string port;
  std::string path;  // unix socket
  int db = 0;
  std::string user;  // empty: AUTH password (default user)
  std::string password;
  bool tls = false;
  protocol::TlsClientSettings tls_settings;

  std::string describe() const;  // without the password
};

// Throws UsageError naming `what` when the text cannot be parsed.
RedisAddress parse_redis_address(std::string_view text, std::string_view what);

struct RespReply {
  enum class Kind { Status, Error, Integer, Bulk, Nil, Array };
  Kind kind = Kind::Nil;
  std::string text;  // Status, Error, Bulk
  long long integer = 0;
  std::vector<RespReply> elements;

  bool is_error() const { return kind == Kind::Error; }
};

// Incremental RESP parser: feed bytes, take complete replies.
class RespParser {
 public:
  void feed(const char* data, std::size_t n) { buf_.append(data, n); }
  // A complete reply, or nullopt when more bytes are needed. Throws std::runtime_error on a
  // protocol violation.
  std::optional<RespReply> next();
  void clear() { buf_.clear(), off_ = 0; }

 private:
  // Parses one reply at pos; returns false when incomplete.
  bool parse(std::size_t& pos, RespReply& out, int depth);
  std::string buf_;
  std::size_t off_ = 0;
};

class RespClient {
 public:
  RespClient(RedisAddress address, int stop_fd, int timeout_ms);
  ~RespClient();
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;

  // Connects (TCP or Unix socket, within the timeout), then AUTH and SELECT. Returns false with
  // error() set; stopped() tells whether the stop descriptor fired.
  bool connect();
  bool connected() const { return fd_ >= 0; }
  void close();

  // Sends the commands in one write and reads one reply per command. extra_wait_ms is added to the
  // timeout (for blocking commands). On failure (I/O, timeout, stop) the connection is closed and
  // nullopt is returned: the caller cannot know which commands ran. Error replies are returned as
  // replies.
  std::optional<std::vector<RespReply>> pipeline(const std::vector<std::vector<std::string>>& commands,
                                                 int extra_wait_ms = 0);
  std::optional<RespReply> command(const std::vector<std::string>& args, int extra_wait_ms = 0);

  const std::string& error() const { return error_; }
  bool stopped() const { return stopped_; }
  const RedisAddress& address() const { return addr_; }
  // -1: waits no longer watch a stop descriptor (last acknowledgements at exit).
  void set_stop_fd(int fd) { stop_fd_ = fd; }

 private:
  bool fail(std::string why);
  bool wait_fd(short events, long long deadline_ms);
  bool start_tls(long long deadline_ms);
  // One send or receive, through TLS when it is on: bytes moved (>0), or 0 when the socket is not
  // ready (`want` says for what), or -1 with error_ set.
  long send_some(const char* data, std::size_t n, short& want);
  long receive_some(char* data, std::size_t n, short& want);
  long tls_retry(int rc, short& want, const char* op);

  RedisAddress addr_;
  int stop_fd_;
  int timeout_ms_;
  int fd_ = -1;
  ssl_ctx_st* tls_context_ = nullptr;
  ssl_st* ssl_ = nullptr;
  bool answered_ = false;  // a reply came on this connection (TLS error hints before that)
  RespParser parser_;
  std::string error_;
  bool stopped_ = false;
};

}  // namespace d4::client
