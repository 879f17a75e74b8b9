#include "analyzers/pdns/passivedns_csv.hpp"

#include <array>
#include <charconv>

#include "analyzers/pdns/rrtype.hpp"
#include "protocol/text.hpp"

namespace d4::analyzers::pdns {
namespace {

template <typename T>
bool parse_int(std::string_view s, T& v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string_view to_string(CsvStatus s) {
  switch (s) {
    case CsvStatus::Ok:
      return "ok";
    case CsvStatus::Empty:
      return "empty";
    case CsvStatus::FieldCount:
      return "field_count";
    case CsvStatus::BadTimestamp:
      return "bad_timestamp";
    case CsvStatus::EmptyName:
      return "empty_name";
    case CsvStatus::UnknownType:
      return "unknown_type";
    case CsvStatus::BadAnswer:
      return "bad_answer";
    case CsvStatus::BadTtl:
      return "bad_ttl";
    case CsvStatus::BadCount:
      return "bad_count";
  }
  return "unknown";
}

CsvStatus parse_passivedns_line(std::string_view line, PdnsRecord& out, const CsvOptions& options) {
  line = text::trim(line);
  if (line.empty()) return CsvStatus::Empty;
  std::array<std::string_view, 9> f;
  std::size_t n = 0, pos = 0;
  for (;;) {
    std::size_t sep = line.find("||", pos);
    if (n == f.size()) return CsvStatus::FieldCount;
    f[n++] = line.substr(pos, sep == std::string_view::npos ? std::string_view::npos : sep - pos);
    if (sep == std::string_view::npos) break;
    pos = sep + 2;
  }
  if (n != 8 && n != 9) return CsvStatus::FieldCount;

  std::string_view ts = f[0].substr(0, f[0].find('.'));
  std::int64_t seconds = 0;
  if (!parse_int(ts, seconds) || seconds < 0) return CsvStatus::BadTimestamp;

  out = PdnsRecord{};
  out.time_first = out.time_last = seconds;
  out.klass = std::string(f[3]);
  out.rrname = std::string(f[4]);
  if (!normalize_name(out.rrname)) return CsvStatus::EmptyName;
  auto type = dns::parse_type(f[5]);
  if (!type) return CsvStatus::UnknownType;
  out.rrtype = *type;
  out.rdata = std::string(f[6]);
  if ((out.rrtype == dns::rrtype::kTxt || out.rrtype == dns::rrtype::kSpf) && !out.rdata.empty()) {
    // passivedns logs TXT data between quotes; the reference removed the first quote only.
    if (out.rdata.size() >= 2 && out.rdata.front() == '"' && out.rdata.back() == '"')
      out.rdata = out.rdata.substr(1, out.rdata.size() - 2);
    else if (out.rdata.front() == '"')
      out.rdata.erase(0, 1);
  }
  if (!normalize_rdata(out.rrtype, out.rdata, options.normalize)) return CsvStatus::BadAnswer;
  if (!parse_int(f[7], out.ttl) || out.ttl < 0) return CsvStatus::BadTtl;
  out.count = 1;
  if (n == 9 && options.use_count_field) {
    std::uint64_t c = 0;
    if (!parse_int(f[8], c)) return CsvStatus::BadCount;
    out.count = c == 0 ? 1 : c;
  }
  return CsvStatus::Ok;
}

std::string format_passivedns_line(const PdnsRecord& r, std::string_view client_ip,
                                   std::string_view server_ip) {
  std::string s;
  s.reserve(96 + r.rrname.size() + r.rdata.size());
  s += std::to_string(r.time_last);
  s += ".000000||";
  s += client_ip;
  s += "||";
  s += server_ip;
  s += "||";
  s += r.klass.empty() ? "IN" : r.klass;
  s += "||";
  s += r.rrname;
  if (r.rrname != ".") s += '.';
  s += "||";
  s += dns::type_name(r.rrtype);
  s += "||";
  s += r.rdata;
  s += "||";
  s += std::to_string(r.ttl < 0 ? 0 : r.ttl);
  s += "||";
  s += std::to_string(r.count);
  return s;
}

}  // namespace d4::analyzers::pdns
