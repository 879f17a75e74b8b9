#pragma once
// Import of Passive DNS Common Output Format records (NDJSON, one object per line, as served by
// /query or by other passive DNS services): rrname, rrtype (mnemonic or number), rdata (string or
// array of strings), time_first, time_last, count, sensor_id (all but sensor_id and count
// required; zone_time_first/zone_time_last are accepted when time_* are absent).
// Unlike the reference importer, names and rdata are normalised like every other input and a
// missing sensor_id is allowed.
#include <string>
#include <string_view>
#include <vector>

#include "analyzers/pdns/record.hpp"

namespace d4::analyzers::pdns {

enum class CofStatus { Ok, Empty, BadJson, MissingField, BadType, BadRdata, BadTime };
std::string_view to_string(CofStatus s);

// Appends one record per rdata value to `out`.
CofStatus parse_cof_line(std::string_view line, std::vector<PdnsRecord>& out,
                         const NormalizeOptions& normalize = {});

}  // namespace d4::analyzers::pdns
