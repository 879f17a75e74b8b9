#pragma once
// The [server] section of the D4 configuration file (plus [general] and [redis], read by core).
// Every option is documented in docs/server.md and config/d4.example.toml; the ones marked
// "reloadable" take effect on SIGHUP without a restart.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/ipnet.hpp"
#include "core/listen_address.hpp"
#include "core/privileges.hpp"
#include "core/sensors.hpp"
#include "server/tls.hpp"

namespace d4::server {

using core::ListenAddress;
using core::parse_listen_address;

// Options that SIGHUP can change on a running server.
struct RuntimeOptions {
  core::ServerMode mode = core::ServerMode::Registration;
  std::string default_hmac_key = "private key to change";  // written to server:hmac_default_key at start
  bool accept_any_version = true;                          // the reference never checks the version byte
  std::uint32_t max_payload = 1'000'000;
  long long default_backlog = 10'000;  // packets per session, overridden by stream_max_size_by_uuid
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds unidentified_timeout{30};  // until the first packet's HMAC verified
  std::chrono::seconds idle_timeout{3600};        // identified connection without data (0 = never)
  std::chrono::seconds header_timeout{30};        // to complete a 62-byte header once started
  std::chrono::seconds packet_timeout{120};       // to complete a payload once its header arrived
  std::chrono::seconds max_clock_skew{0};         // |header timestamp - now| (0 = not checked)
  std::uint64_t rate_limit = 0;                   // bytes/s per connection (0 = unlimited)
  std::uint64_t rate_limit_burst = 0;             // bytes (0 = one second of rate)
  std::size_t max_connections = 20'000;
  std::size_t max_connections_per_ip = 1'000;          // 0 = unlimited
  std::chrono::seconds redis_outage_close_after{300};  // close paused sessions after (0 = never)
  std::size_t error_list_size = 50;
  // Bytes held for connections whose sensor has not authenticated yet (their first packet):
  // over the process and per peer address (IPv6: per /64). A connection going over is closed.
  std::size_t unauthenticated_bytes_max = 32 << 20;
  std::size_t unauthenticated_bytes_per_ip = 4 << 20;
  // Admission into the stream Redis (server/admission.hpp); 0 disables a limit.
  std::uint64_t max_session_backlog_bytes = 256ull << 20;  // unprocessed bytes per session
  std::uint64_t max_sensor_backlog_bytes = 1ull << 30;     // unprocessed bytes per sensor
  std::size_t max_meta_sessions_per_sensor = 16;           // parallel type 2/254 sessions
  std::uint64_t stream_memory_budget = 0;  // bytes; 0: 90% of maxmemory, else 50% of the machine's memory
  double stream_memory_share_from = 0.75;  // fraction of the budget from which sensors share it equally
  // Source networks whose rejects before authentication are kept in detail (top-N by rejects).
  std::size_t reject_sources_max = 256;
  // Entries blacklist_ip_by_uuid may add to blacklist_ip (beyond, the connection is still refused).
  std::size_t auto_blocked_ips_max = 1000;
  // Load balancers whose connections start with a PROXY protocol v2 header naming the sensor's
  // address (proxy_protocol.hpp); empty: PROXY headers are not accepted from anyone.
  core::IpBlocklist proxy_protocol_from;
};

struct ServerConfig {
  core::CommonConfig common;
  core::RunAs run_as;  // [general] user, group, allow_root: who the server becomes once listening
  std::filesystem::path config_file;  // empty when run without one
  std::vector<ListenAddress> listen{{"::", 4443}};
  std::vector<ListenAddress> plain_listen;  // plain TCP (no TLS)
  bool plain_allow_remote = false;          // plain listeners must be loopback unless set
  std::filesystem::path tls_cert = "server.crt";
  std::filesystem::path tls_key = "server.key";
  std::filesystem::path tls_client_ca;  // set: client certificates are verified (mTLS)
  bool tls_require_client_cert = false;
  std::string tls_min_version = "1.2";             // "1.2" or "1.3"
  std::string tls_ciphers = kDefaultTls12Ciphers;  // TLS 1.2 cipher list (OpenSSL syntax)
  std::vector<int> default_accepted_types{1, 2, 3, 4, 5, 6, 7, 8, 254};
  std::vector<std::string> default_accepted_extended_types{"ja3-jl"};
  RuntimeOptions runtime;
  // Batching and pacing.
  std::size_t read_size = 64 * 1024;                  // bytes per read into a session buffer
  std::size_t max_session_pending_bytes = 256 << 10;  // unconfirmed bytes per session before pausing reads
  std::chrono::milliseconds flush_interval{1000};     // statistics/metadata flush
  // Consecutive packets of a byte-stream type share one stream entry up to this many payload
  // bytes (stream_batch.hpp); 0: one entry per packet, as the reference server.
  std::size_t coalesce_max_bytes = 64 * 1024;
  // A batch counts as stored only once WAIT reports this many replicas of the stream Redis
  // holding it (0: as soon as the stream Redis confirms it); WAIT's timeout per attempt.
  int wait_replicas = 0;
  std::chrono::milliseconds wait_timeout{1000};
  std::chrono::milliseconds policy_refresh{1000};
  std::chrono::milliseconds sweep_interval{250};  // timeouts, backlog polls
  std::chrono::milliseconds memory_poll{250};     // INFO memory of the stream Redis (0: no global budget)
  std::chrono::milliseconds redis_reply_timeout{30000};
  std::chrono::seconds shutdown_timeout{15};
  std::chrono::seconds heartbeat_interval{3};
  std::chrono::seconds instance_ttl{15};
  std::string metrics_listen = "127.0.0.1:9120";  // empty: no metrics endpoint
  unsigned threads = 0;                           // 0: one per core
  // TCP keepalive towards sensors (detects peers that vanished without closing).
  int keepalive_idle = 60, keepalive_interval = 10, keepalive_count = 6;
};

// Reads [general], [redis] and [server]; throws core::ConfigError naming the bad option.
ServerConfig read_server_config(const toml::table& root, const std::filesystem::path& base_dir = {});
// The file (empty: none, the built-in defaults) with the environment overrides (core::load_config).
ServerConfig load_server_config(const std::filesystem::path& file);

}  // namespace d4::server
