#include "analyzers/pdns/rrtype.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

namespace d4::analyzers::dns {
namespace {

struct Entry {
  std::uint16_t type;
  std::string_view name;
};

// IANA "Resource Record (RR) TYPEs" registry (meta types included, obsolete ones kept so that old
// captures render by name).
constexpr Entry kTypes[] = {
    {1, "A"},      {2, "NS"},      {3, "MD"},          {4, "MF"},     {5, "CNAME"},     {6, "SOA"},
    {7, "MB"},     {8, "MG"},      {9, "MR"},          {10, "NULL"},  {11, "WKS"},      {12, "PTR"},
    {13, "HINFO"}, {14, "MINFO"},  {15, "MX"},         {16, "TXT"},   {17, "RP"},       {18, "AFSDB"},
    {19, "X25"},   {20, "ISDN"},   {21, "RT"},         {22, "NSAP"},  {23, "NSAP-PTR"}, {24, "SIG"},
    {25, "KEY"},   {26, "PX"},     {27, "GPOS"},       {28, "AAAA"},  {29, "LOC"},      {30, "NXT"},
    {31, "EID"},   {32, "NIMLOC"}, {33, "SRV"},        {34, "ATMA"},  {35, "NAPTR"},    {36, "KX"},
    {37, "CERT"},  {38, "A6"},     {39, "DNAME"},      {40, "SINK"},  {41, "OPT"},      {42, "APL"},
    {43, "DS"},    {44, "SSHFP"},  {45, "IPSECKEY"},   {46, "RRSIG"}, {47, "NSEC"},     {48, "DNSKEY"},
    {49, "DHCID"}, {50, "NSEC3"},  {51, "NSEC3PARAM"}, {52, "TLSA"},  {53, "SMIMEA"},   {55, "HIP"},
    {56, "NINFO"}, {57, "RKEY"},   {58, "TALINK"},     {59, "CDS"},   {60, "CDNSKEY"},  {61, "OPENPGPKEY"},
    {62, "CSYNC"}, {63, "ZONEMD"}, {64, "SVCB"},       {65, "HTTPS"}, {99, "SPF"},      {100, "UINFO"},
    {101, "UID"},  {102, "GID"},   {103, "UNSPEC"},    {104, "NID"},  {105, "L32"},     {106, "L64"},
    {107, "LP"},   {108, "EUI48"}, {109, "EUI64"},     {249, "TKEY"}, {250, "TSIG"},    {251, "IXFR"},
    {252, "AXFR"}, {253, "MAILB"}, {254, "MAILA"},     {255, "ANY"},  {256, "URI"},     {257, "CAA"},
    {258, "AVC"},  {259, "DOA"},   {260, "AMTRELAY"},  {32768, "TA"}, {32769, "DLV"},
};

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'a' && x <= 'z' ? x - 32 : x) == (y >= 'a' && y <= 'z' ? y - 32 : y);
         });
}

std::optional<std::uint16_t> parse_number(std::string_view s) {
  unsigned v = 0;
  if (s.empty() || s.size() > 5) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::string type_name(std::uint16_t type) {
  // Binary search: the table is sorted by number.
  auto it = std::lower_bound(std::begin(kTypes), std::end(kTypes), type,
                             [](const Entry& e, std::uint16_t t) { return e.type < t; });
  if (it != std::end(kTypes) && it->type == type) return std::string(it->name);
  return "TYPE" + std::to_string(type);
}

std::optional<std::uint16_t> parse_type(std::string_view text) {
  for (const auto& e : kTypes)
    if (iequal(e.name, text)) return e.type;
  if (text.size() > 4 && iequal(text.substr(0, 4), "TYPE")) return parse_number(text.substr(4));
  if (auto mnemonic = std::string_view("*"); text == mnemonic) return rrtype::kAny;
  return parse_number(text);
}

const std::vector<std::uint16_t>& known_types() {
  static const std::vector<std::uint16_t> v = [] {
    std::vector<std::uint16_t> out;
    for (const auto& e : kTypes) out.push_back(e.type);
    return out;
  }();
  return v;
}

std::string class_name(std::uint16_t klass) {
  switch (klass) {
    case 1:
      return "IN";
    case 3:
      return "CH";
    case 4:
      return "HS";
    case 254:
      return "NONE";
    case 255:
      return "ANY";
    default:
      return "CLASS" + std::to_string(klass);
  }
}

}  // namespace d4::analyzers::dns
