#pragma once
// The passivedns (gamelinux) log line that D4 type 8 carries:
//   timestamp||client-ip||server-ip||class||query||type||answer||ttl[||count]
// e.g. 1548624738.280922||192.168.1.12||8.8.8.8||IN||www.example.org.||AAAA||2a00:1450::200e||299||12
// Parsing never throws: a bad line yields a reason, which the caller counts.
#include <string>
#include <string_view>

#include "analyzers/pdns/record.hpp"

namespace d4::analyzers::pdns {

enum class CsvStatus {
  Ok,
  Empty,       // blank line (skipped, not an error)
  FieldCount,  // not 8 or 9 fields
  BadTimestamp,
  EmptyName,
  UnknownType,  // neither a mnemonic nor a number
  BadAnswer,    // empty, or not valid for its type (e.g. an A record that is not an IPv4 address)
  BadTtl,
  BadCount,
};
std::string_view to_string(CsvStatus s);

struct CsvOptions {
  NormalizeOptions normalize;
  // Use the count field (how many times passivedns saw the answer since it last logged it); the
  // reference counted each line once.
  bool use_count_field = true;
};

CsvStatus parse_passivedns_line(std::string_view line, PdnsRecord& out, const CsvOptions& options = {});

// Formats a record as a passivedns line (count field included), the inverse of the parser for
// the fields it keeps; client/server addresses are written as given.
std::string format_passivedns_line(const PdnsRecord& r, std::string_view client_ip,
                                   std::string_view server_ip);

}  // namespace d4::analyzers::pdns
