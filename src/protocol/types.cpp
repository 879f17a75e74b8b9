#include "protocol/types.hpp"

#include <array>

namespace d4::protocol {
namespace {
constexpr std::array<TypeInfo, 10> kTypes{{
    {0, "reserved", "Reserved"},
    {1, "pcap", "pcap (libpcap 2.4)"},
    {2, "meta-header", "meta header (JSON)"},
    {3, "log-line", "generic log line"},
    {4, "dnscap", "dnscap output"},
    {5, "pcapng", "pcapng (diagnostic)"},
    {6, "ndjson", "generic NDJSON or JSON Lines"},
    {7, "yaf", "generic YAF (Yet Another Flowmeter)"},
    {8, "passivedns-csv", "passivedns CSV stream"},
    {254, "extended", "type defined by meta header (type 2)"},
}};
}  // namespace

std::optional<TypeInfo> type_info(std::uint8_t type) {
  for (const auto& t : kTypes)
    if (t.id == type) return t;
  return std::nullopt;
}

bool is_assigned_type(std::uint8_t type) {
  return (type >= 1 && type <= 8) || type == 254;
}

bool is_line_type(std::uint8_t type) {
  return type == 3 || type == 6 || type == 8 || type == 254;
}

}  // namespace d4::protocol
