#include "analyzers/pdns/record.hpp"

#include "analyzers/packet/ip_address.hpp"
#include "analyzers/pdns/rrtype.hpp"
#include "protocol/text.hpp"

namespace d4::analyzers::pdns {
namespace {

void lower(std::string& s) {
  s = text::ascii_lower(s);
}

bool is_name_type(std::uint16_t t) {
  using namespace dns::rrtype;
  switch (t) {
    case kNs:
    case 3:
    case 4:
    case kCname:
    case 7:
    case 8:
    case 9:
    case kPtr:
    case kDname:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool normalize_name(std::string& name) {
  if (name.empty()) return false;
  lower(name);
  std::size_t b = name.find_first_not_of('.');
  if (b == std::string::npos) {
    name.resize(1);  // only dots: the root
    return true;
  }
  std::size_t e = name.find_last_not_of('.');
  name.erase(e + 1);
  name.erase(0, b);
  return true;
}

bool normalize_rdata(std::uint16_t t, std::string& rdata, const NormalizeOptions& options) {
  using namespace dns::rrtype;
  if (rdata.empty()) return false;
  if (t == kA) {
    auto a = packet::IpAddress::parse(rdata);
    if (!a || !a->is_v4()) return false;
    rdata = a->to_string();
    return true;
  }
  if (t == kAaaa) {
    auto a = packet::IpAddress::parse(rdata);
    if (!a || !a->is_v6()) return false;
    rdata = a->to_string();
    return true;
  }
  if (t == kTxt || t == kSpf) {
    if (options.lowercase_txt) lower(rdata);
    return true;
  }
  if (is_name_type(t)) return normalize_name(rdata);
  if (t == kMx || t == kSrv || t == kSoa) {
    // passivedns reduces these to one name; the presentation form holds numbers and names only.
    if (rdata.find(' ') == std::string::npos) return normalize_name(rdata);
    lower(rdata);
  }
  return true;
}

}  // namespace d4::analyzers::pdns
