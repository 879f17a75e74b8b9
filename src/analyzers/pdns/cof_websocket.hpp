#pragma once
// A websocket source of COF NDJSON records, as the reference `pdns-import-cof.py --websocket`:
// every message (text or binary) holds one or more lines, each handed to the caller, which imports
// them exactly like a COF file. ws:// and wss:// (certificate and host name verified by default,
// against the system trust store or a given CA file). The connection is re-established with
// exponential backoff whenever it fails or the server drops it; only a stop request ends the run.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace d4::analyzers::pdns {

struct WebsocketUrl {
  bool tls = false;
  std::string host;         // without brackets (IPv6 literal as is)
  std::string port;         // explicit or 80/443
  std::string host_header;  // Host: as the server expects it (brackets, non-default port)
  std::string target;       // path and query, at least "/"
};
// ws://host[:port][/path][?query] or wss://...; nullopt (and *error) when malformed.
std::optional<WebsocketUrl> parse_websocket_url(std::string_view url, std::string* error = nullptr);

struct WebsocketSourceOptions {
  std::string url;
  std::string ca_file;      // PEM trust anchors for wss:// (default: the system store)
  bool verify_peer = true;  // false: accept any certificate (testing only; logged)
  // Called this often while connected (and after every disconnection) so that records reach
  // storage without waiting for a full batch.
  std::chrono::milliseconds flush_interval{250};
  std::chrono::milliseconds connect_timeout{10000};  // TCP + TLS + websocket handshakes
  // Keep-alive: a ping after half of it without traffic; nothing at all for this long (not even a
  // pong) ends the connection, so a silently vanished server is noticed.
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds backoff_min{200};
  std::chrono::milliseconds backoff_max{30000};
  std::size_t max_message_bytes = 64u << 20;
};

struct WebsocketSourceStats {
  std::uint64_t connections = 0;      // successful handshakes
  std::uint64_t failed_attempts = 0;  // connects or handshakes that failed
  std::uint64_t disconnections = 0;   // established connections that ended
  std::uint64_t messages = 0;
  std::uint64_t lines = 0;
};

// Runs until `stop` is set (checked at least every 100 ms). `on_line` gets every line of every
// message (without the newline; empty lines included); `on_flush` is called as described above
// and once more before returning. Exceptions from the callbacks end the run. Throws
// std::invalid_argument for a malformed URL and std::runtime_error for an unreadable CA file.
WebsocketSourceStats run_websocket_source(const WebsocketSourceOptions& options,
                                          const std::function<void(std::string_view)>& on_line,
                                          const std::function<void()>& on_flush,
                                          const std::atomic<bool>& stop);

}  // namespace d4::analyzers::pdns
