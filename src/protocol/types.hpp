#pragma once
// The D4 type registry (architecture/format/type.json and the encapsulation Internet-Draft).
#include <cstdint>
#include <optional>
#include <string_view>

namespace d4::protocol {

enum class PacketType : std::uint8_t {
  Reserved = 0,
  Pcap = 1,           // libpcap 2.4 stream
  MetaHeader = 2,     // JSON object announcing the extended type of the following 254 data
  LogLine = 3,        // generic newline-separated log lines
  Dnscap = 4,         // dnscap output
  Pcapng = 5,         // pcapng stream
  Ndjson = 6,         // JSON lines
  Yaf = 7,            // YAF (IPFIX) records
  PassiveDnsCsv = 8,  // gamelinux passivedns CSV ("||"-separated)
  Extended = 254,     // type defined by the preceding meta header
};

struct TypeInfo {
  std::uint8_t id;
  std::string_view name;         // short machine name, e.g. "pcap"
  std::string_view description;  // human description as in type.json
};

// Known, assigned types (0 is listed as reserved and is never valid on the wire).
std::optional<TypeInfo> type_info(std::uint8_t type);
bool is_assigned_type(std::uint8_t type);  // 1..8 and 254
// Types whose payload is a stream of newline-terminated records.
bool is_line_type(std::uint8_t type);

}  // namespace d4::protocol
