#include "analyzers/pdns/cof_import.hpp"

#include <nlohmann/json.hpp>

#include "analyzers/pdns/rrtype.hpp"

namespace d4::analyzers::pdns {
namespace {

bool get_time(const nlohmann::json& j, const char* key, const char* alt, std::int64_t& out) {
  const nlohmann::json* v = nullptr;
  if (auto it = j.find(key); it != j.end())
    v = &*it;
  else if (auto it2 = j.find(alt); it2 != j.end())
    v = &*it2;
  if (!v) return false;
  if (v->is_number_integer()) {
    out = v->get<std::int64_t>();
    return out >= 0;
  }
  if (v->is_number_float()) {
    out = static_cast<std::int64_t>(v->get<double>());
    return out >= 0;
  }
  return false;
}

}  // namespace

std::string_view to_string(CofStatus s) {
  switch (s) {
    case CofStatus::Ok:
      return "ok";
    case CofStatus::Empty:
      return "empty";
    case CofStatus::BadJson:
      return "bad_json";
    case CofStatus::MissingField:
      return "missing_field";
    case CofStatus::BadType:
      return "bad_rrtype";
    case CofStatus::BadRdata:
      return "bad_rdata";
    case CofStatus::BadTime:
      return "bad_time";
  }
  return "unknown";
}

CofStatus parse_cof_line(std::string_view line, std::vector<PdnsRecord>& out,
                         const NormalizeOptions& normalize) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
    line.remove_suffix(1);
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  if (line.empty()) return CofStatus::Empty;
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return CofStatus::BadJson;
  auto name = j.find("rrname");
  auto type = j.find("rrtype");
  auto rdata = j.find("rdata");
  if (name == j.end() || type == j.end() || rdata == j.end() || !name->is_string())
    return CofStatus::MissingField;
  PdnsRecord base;
  base.rrname = name->get<std::string>();
  if (!normalize_name(base.rrname)) return CofStatus::MissingField;
  if (type->is_number_unsigned() && type->get<std::uint64_t>() <= 65535) {
    base.rrtype = static_cast<std::uint16_t>(type->get<std::uint64_t>());
  } else if (type->is_string()) {
    auto t = dns::parse_type(type->get<std::string>());
    if (!t) return CofStatus::BadType;
    base.rrtype = *t;
  } else {
    return CofStatus::BadType;
  }
  if (!get_time(j, "time_first", "zone_time_first", base.time_first) ||
      !get_time(j, "time_last", "zone_time_last", base.time_last))
    return CofStatus::BadTime;
  if (base.time_last < base.time_first) std::swap(base.time_first, base.time_last);
  base.count = 1;
  if (auto c = j.find("count"); c != j.end()) {
    if (!c->is_number_unsigned()) return CofStatus::MissingField;
    base.count = std::max<std::uint64_t>(1, c->get<std::uint64_t>());
  }
  if (auto s = j.find("sensor_id"); s != j.end() && s->is_string()) base.sensor_id = s->get<std::string>();
  base.klass.clear();  // COF carries no class
  std::vector<std::string> values;
  if (rdata->is_string()) {
    values.push_back(rdata->get<std::string>());
  } else if (rdata->is_array()) {
    for (const auto& v : *rdata) {
      if (!v.is_string()) return CofStatus::BadRdata;
      values.push_back(v.get<std::string>());
    }
  } else {
    return CofStatus::BadRdata;
  }
  std::size_t before = out.size();
  for (auto& v : values) {
    PdnsRecord r = base;
    r.rdata = std::move(v);
    if (!normalize_rdata(r.rrtype, r.rdata, normalize)) {
      out.resize(before);
      return CofStatus::BadRdata;
    }
    out.push_back(std::move(r));
  }
  return values.empty() ? CofStatus::BadRdata : CofStatus::Ok;
}

}  // namespace d4::analyzers::pdns
