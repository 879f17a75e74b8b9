#pragma once
// The client's validated settings: configuration directory merged with command-line overrides.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "client/log.hpp"
#include "client/options.hpp"
#include "client/resp.hpp"
#include "protocol/uuid.hpp"

namespace d4::client {

using Millis = std::chrono::milliseconds;

enum class SourceKind { Stdin, File, Pcap, Folder, D4Server };
enum class EofMode { Exit, Poll };
enum class Overflow { Block, Drop };
enum class Chunking { Read, Record };
enum class FolderOrder { Mtime, Name };

struct Settings {
  // Identity and framing.
  std::string config_dir;  // empty when -c was not given
  protocol::Uuid uuid;
  bool uuid_generated = false;
  std::string key;
  std::uint8_t version = 1;
  std::uint8_t type = 1;       // configured type (2 means: meta header, then 254)
  std::uint8_t data_type = 1;  // type of the data packets (254 when type is 2 or 254)
  std::uint32_t snaplen = 4096;
  std::optional<std::uint64_t> fixed_timestamp;
  std::string metaheader;  // raw bytes of metaheader.json when data_type is 254
  Chunking chunking = Chunking::Read;

  // Source.
  SourceKind source = SourceKind::Stdin;
  std::string file;
  std::string interface;
  std::string filter;
  std::uint32_t capture_snaplen = 262144;
  bool promisc = true;
  std::string folder;
  bool folder_json = false;
  bool folder_daily = false;
  // Send the files already in the folder first (in folder_order), remembering delivered files in
  // folder_state so that a restart does not send them again.
  bool folder_existing = false;
  std::string folder_state;
  FolderOrder folder_order = FolderOrder::Mtime;
  // d4server source: the Redis list (analyzer queue) forwarded, and where it is.
  RedisAddress redis_address;
  std::string redis_queue;
  std::string forwarder_id;  // names the processing list; default: the sensor UUID (dashless)
  Millis redis_timeout{5'000};
  EofMode eof = EofMode::Exit;
  Millis eof_poll{200};

  // Destination.
  bool to_stdout = true;
  std::string host;  // without brackets
  std::string port;
  bool tls = true;
  bool verify = true;
  std::string ca_file;  // empty: system store
  std::string cert_file;
  std::string cert_key_file;
  std::string server_name;  // SNI and name checked in the certificate
  Millis connect_timeout{10'000};
  Millis keepalive{30'000};
  Millis retry_min{500};
  Millis retry_max{30'000};
  bool exit_on_connect_failure = false;  // -rt 0
  Millis user_timeout{60'000};
  std::uint64_t resend_acked = 4ULL << 20;

  // Spool and flow control.
  std::uint64_t spool_memory = 16ULL << 20;
  std::string spool_dir;
  std::uint64_t spool_disk_max = 1ULL << 30;
  Overflow overflow = Overflow::Block;
  std::uint64_t rate_limit = 0;  // bytes per second, 0 = unlimited
  Millis grace{5'000};
  Millis stats_interval{0};
  LogLevel log_level = LogLevel::Info;

  std::string destination_text() const;
};

// Merges the configuration directory (if any) with the command line and validates everything.
// May generate and persist a UUID. Throws UsageError with a message for the user.
Settings resolve_settings(const CommandLine& cl);

// Splits "host:port", "[v6]:port" into host and port. Throws UsageError.
void split_host_port(const std::string& dest, std::string& host, std::string& port);

}  // namespace d4::client
