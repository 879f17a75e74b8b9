#pragma once
// Test harness for d4-server: the real binary as a subprocess against a real redis-server, a
// minimal blocking TLS/plain D4 sender (OpenSSL), and small HTTP/Redis helpers.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/redis_client.hpp"
#include "protocol/encoder.hpp"
#include "protocol/uuid.hpp"
#include "support/http.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

struct ssl_st;
struct ssl_ctx_st;

namespace d4::test {

// The default HMAC key the tests configure their servers and sensors with.
inline constexpr const char* kTestHmacKey = "d4-test-key";

using namespace std::chrono_literals;

// A random v4 sensor UUID.
protocol::Uuid random_uuid();

// Builds one signed D4 packet.
std::vector<std::uint8_t> make_packet(const protocol::Uuid& uuid, std::uint8_t type, std::string_view key,
                                      std::span<const std::uint8_t> payload, std::uint64_t timestamp = 0,
                                      std::uint8_t version = 1);
std::vector<std::uint8_t> make_packet(const protocol::Uuid& uuid, std::uint8_t type, std::string_view key,
                                      std::string_view payload, std::uint64_t timestamp = 0);

// A blocking sensor connection with socket timeouts.
class SensorConnection {
 public:
  // Connects (and completes the TLS handshake when tls). Throws on failure. `source`: the local
  // address to connect from (e.g. "127.0.0.2"), default 127.0.0.1; an IPv6 source connects to ::1.
  SensorConnection(int port, bool tls, const std::string& client_cert = {},
                   const std::string& client_key = {}, const std::string& source = {});
  // Bytes sent on the TCP connection before the TLS handshake (a load balancer's PROXY protocol
  // header), from `source` as above.
  struct BeforeTls {
    std::vector<std::uint8_t> bytes;
    std::string source;
  };
  SensorConnection(int port, bool tls, const BeforeTls& before);
  ~SensorConnection();
  SensorConnection(const SensorConnection&) = delete;
  SensorConnection& operator=(const SensorConnection&) = delete;

  // False once the server closed the connection (or the timeout of 10 s passed while blocked).
  bool send(std::span<const std::uint8_t> data);
  bool send(const std::vector<std::uint8_t>& data) { return send(std::span<const std::uint8_t>(data)); }
  // True if the server closes the connection within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);
  void close();  // orderly close (close_notify + FIN)
  // Closes with RST (SO_LINGER 0) without TLS close_notify: a sensor that vanished.
  void abort();
  int fd() const { return fd_; }
  ssl_st* ssl() const { return ssl_; }  // null for plain TCP

 private:
  void start_tls(const std::string& client_cert, const std::string& client_key);
  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
};

// The cipher suite negotiated by a client offering only TLS 1.2 and `ciphers` (OpenSSL list), or
// an empty string when the server refuses the handshake.
std::string tls12_negotiated_cipher(int port, const std::string& ciphers);

// True if a TLS handshake with the server succeeds (client certificate optional).
bool tls_handshake_ok(int port, const std::string& client_cert = {}, const std::string& client_key = {});

struct ServerOptions {
  std::string extra_server_toml;  // lines appended to [server]
  std::string mode = "shared-secret";
  std::string default_key = "d4-test-key";
  int threads = 2;
  RedisServer* meta_redis = nullptr;  // a separate meta Redis (db 1 of it); default: db 1 of `redis`
  std::string stream_endpoint;     // [redis] stream as written (e.g. redis-sentinel://…); default: `redis`
  std::string meta_endpoint;       // [redis] meta as written (e.g. redis-cluster://…); default: meta_redis
  int stream_db = 0, meta_db = 1;  // other databases: share a Redis laid out as another tool's
  std::string plain_listen = "127.0.0.1:0";  // "[::1]:0" for peers connecting from IPv6 sources
  // The server tests assert the reference's layout, one stream entry per packet (entry counts,
  // the packet backlog limit); coalescing (the daemon's default) is tested with a bound set here.
  std::size_t coalesce_max_bytes = 0;
  std::string log_format = "text";  // [general] log_format: "json" shows the structured fields
  std::string key_layout;           // [redis] key_layout when set ("cluster")
};

// A d4-server process: stream Redis = db 0, meta Redis = db 1 of `redis` (or of
// options.meta_redis).
class ServerProcess {
 public:
  ServerProcess(RedisServer& redis, ServerOptions options = {});
  ~ServerProcess();
  void start();                                     // waits until /health answers
  int stop(std::chrono::milliseconds grace = 20s);  // SIGTERM, returns the exit status
  void kill_hard();
  void signal(int sig);
  bool running();
  pid_t pid() const { return proc_.pid(); }
  int tls_port() const { return tls_port_; }
  int plain_port() const { return plain_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string log() const;
  // Waits until the server has loaded its policy from Redis twice more (d4_server_policy_loads_total):
  // a policy change written to Redis before the call is then applied by every worker thread.
  bool wait_policy_reloads(std::chrono::milliseconds timeout = 20s);
  // Waits until no statistics flush is in flight (every flush started so far answered by the meta
  // Redis): what the server counted before the call and saw flushed in part is then written whole.
  bool wait_meta_flushed(std::chrono::milliseconds timeout = 20s);
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path config_path() const { return dir_.path() / "d4.toml"; }
  void write_config(const ServerOptions& options);
  core::RedisClient stream();
  core::RedisClient meta();

 private:
  RedisServer& redis_;
  ServerOptions options_;
  TempDir dir_;
  int tls_port_, plain_port_, metrics_port_;
  Process proc_;
};

// Concatenated `message` fields of a stream (binary safe) and its length.
std::string stream_payloads(core::RedisClient& stream, const std::string& key,
                            std::size_t* entries = nullptr);
// Stream keys of all sessions of a type.
std::vector<std::string> stream_keys(core::RedisClient& stream, int type);
// Waits (up to `timeout`) until the single session of `type` holds `bytes` payload bytes; returns
// the payloads of that stream (and its key in *key_out).
std::string wait_stream(core::RedisClient& stream, int type, std::size_t bytes,
                        std::string* key_out = nullptr, std::chrono::milliseconds timeout = 20s);

// Today's date as d4-server names its daily statistics keys (YYYYMMDD, local time).
std::string local_day();

}  // namespace d4::test
