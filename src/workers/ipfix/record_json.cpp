#include "workers/ipfix/record_json.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <span>
#include <utility>

#include "protocol/encoding.hpp"

namespace d4::workers::ipfix {
namespace {

constexpr int kMaxDepth = 4;                     // nested lists deeper than this are output as hex
constexpr std::int64_t kNtpToUnix = 2208988800;  // seconds from 1900-01-01 to 1970-01-01

template <typename Int>
void append_int(std::string& out, Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Zero-padded decimal of `width` digits (dates and fractions: no format string to parse).
void append_padded(std::string& out, std::uint64_t v, int width) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

std::span<const std::uint8_t> bytes_of(std::string_view v) {
  return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size()};
}

void append_hex(std::string& out, std::string_view v) {
  out.push_back('"');
  protocol::append_hex(out, bytes_of(v));
  out.push_back('"');
}

std::uint64_t read_uint(std::string_view v) {
  std::uint64_t x = 0;
  for (unsigned char c : v) x = (x << 8) | c;
  return x;
}

std::int64_t read_int(std::string_view v) {
  std::uint64_t x = read_uint(v);
  unsigned bits = static_cast<unsigned>(v.size() * 8);
  if (bits < 64 && (x >> (bits - 1)) & 1) x |= ~std::uint64_t{0} << bits;  // sign extension
  return static_cast<std::int64_t>(x);
}

std::size_t natural_size(DataType t) {
  switch (t) {
    case DataType::Unsigned8:
    case DataType::Signed8:
    case DataType::Boolean:
      return 1;
    case DataType::Unsigned16:
    case DataType::Signed16:
      return 2;
    case DataType::Unsigned32:
    case DataType::Signed32:
    case DataType::Float32:
    case DataType::DateTimeSeconds:
    case DataType::Ipv4Address:
      return 4;
    case DataType::MacAddress:
      return 6;
    case DataType::Unsigned64:
    case DataType::Signed64:
    case DataType::Float64:
    case DataType::DateTimeMilliseconds:
    case DataType::DateTimeMicroseconds:
    case DataType::DateTimeNanoseconds:
      return 8;
    case DataType::Ipv6Address:
      return 16;
    default:
      return 0;
  }
}

void append_float(std::string& out, double d) {
  if (!std::isfinite(d))
    out += "null";
  else
    fmt::format_to(std::back_inserter(out), "{}", d);
}

void append_string(std::string& out, std::string_view v) {
  while (!v.empty() && v.back() == '\0') v.remove_suffix(1);  // fixed-length strings are padded
  bool plain = std::all_of(v.begin(), v.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
  });
  if (plain) {
    out.push_back('"');
    out.append(v);
    out.push_back('"');
    return;
  }
  out += nlohmann::json(std::string(v)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_address(std::string& out, std::string_view v, int family) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, v.data(), text, sizeof text);
  out.push_back('"');
  out += text;
  out.push_back('"');
}

void append_mac(std::string& out, std::string_view v) {
  out.push_back('"');
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out.push_back(':');
    protocol::append_hex(out, bytes_of(v.substr(i, 1)));
  }
  out.push_back('"');
}

// NTP timestamps (dateTimeMicroseconds/Nanoseconds, RFC 7011 §6.1.9-10): seconds since 1900 and a
// binary fraction of a second.
void append_ntp_time(std::string& out, std::uint64_t ntp, int digits) {
  std::uint64_t frac = ntp & 0xffffffffu;
  if (digits == 6) frac &= ~std::uint64_t{0x7ff};  // the 11 low bits are not significant for microseconds
  std::uint64_t scale = digits == 6 ? 1'000'000 : 1'000'000'000;
  auto sub = static_cast<std::uint32_t>((frac * scale) >> 32);
  out.push_back('"');
  append_rfc3339(out, static_cast<std::int64_t>(ntp >> 32) - kNtpToUnix, sub, digits);
  out.push_back('"');
}

// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm: exact for every 64-bit input
// that comes from a 32/64-bit IPFIX time).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  auto doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

}  // namespace

void append_rfc3339(std::string& out, std::int64_t seconds, std::uint32_t fraction, int digits) {
  std::int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
  auto sod = static_cast<unsigned>(seconds - days * 86400);
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  if (y < 0 || y > 9999)
    fmt::format_to(std::back_inserter(out), "{:04}", y);
  else
    append_padded(out, static_cast<std::uint64_t>(y), 4);
  const std::pair<char, unsigned> parts[] = {
      {'-', m}, {'-', d}, {'T', sod / 3600}, {':', sod / 60 % 60}, {':', sod % 60}};
  for (const auto& [sep, v] : parts) {
    out.push_back(sep);
    append_padded(out, v, 2);
  }
  if (digits > 0) {
    out.push_back('.');
    append_padded(out, fraction, digits);
  }
  out.push_back('Z');
}

void RecordRenderer::render(std::string& out, std::string_view sensor, const MessageHeader& h,
                            const Template& t, std::string_view record) const {
  out += "{\"d4_sensor\":\"";
  out += sensor;
  out += "\",\"ipfix_domain\":";
  append_int(out, h.domain);
  out += ",\"ipfix_template\":";
  append_int(out, t.id);
  out += ",\"ipfix_export_time\":\"";
  append_rfc3339(out, h.export_time);
  out.push_back('"');
  if (t.options) out += ",\"ipfix_options\":true";
  fields(out, h.domain, t, record, 0);
  out.push_back('}');
}

// Appends ,"key":value for every field of one record (record_length() already checked it fits).
void RecordRenderer::fields(std::string& out, std::uint32_t domain, const Template& t,
                            std::string_view record, int depth) const {
  std::size_t pos = 0;
  for (const auto& f : t.fields) {
    std::size_t len = f.length;
    if (f.length == kVariableLength) {
      len = static_cast<unsigned char>(record[pos++]);
      if (len == 255) {
        len = be16(record.data() + pos);
        pos += 2;
      }
    }
    std::string_view v = record.substr(pos, len);
    pos += len;
    if (f.skip) continue;
    out += ",\"";
    out += f.key;
    out += "\":";
    value(out, domain, f, v, depth);
  }
}

void RecordRenderer::value(std::string& out, std::uint32_t domain, const FieldSpec& f, std::string_view v,
                           int depth) const {
  DataType type = f.info ? f.info->type : DataType::OctetArray;
  std::size_t natural = natural_size(type);
  bool reduced_ok = !v.empty() && v.size() <= natural;  // RFC 7011 §6.2 reduced-size encoding
  switch (type) {
    case DataType::Unsigned8:
    case DataType::Unsigned16:
    case DataType::Unsigned32:
    case DataType::Unsigned64:
      if (!reduced_ok) break;
      append_int(out, read_uint(v));
      return;
    case DataType::Signed8:
    case DataType::Signed16:
    case DataType::Signed32:
    case DataType::Signed64:
      if (!reduced_ok) break;
      append_int(out, read_int(v));
      return;
    case DataType::Float32:
    case DataType::Float64:
      if (v.size() == 4) {
        auto bits = static_cast<std::uint32_t>(read_uint(v));
        float x = 0;
        std::memcpy(&x, &bits, 4);
        append_float(out, x);
        return;
      }
      if (v.size() == 8 && type == DataType::Float64) {
        std::uint64_t bits = read_uint(v);
        double x = 0;
        std::memcpy(&x, &bits, 8);
        append_float(out, x);
        return;
      }
      break;
    case DataType::Boolean:
      if (v.size() != 1 || (v[0] != 1 && v[0] != 2)) break;
      out += v[0] == 1 ? "true" : "false";
      return;
    case DataType::MacAddress:
      if (v.size() != 6) break;
      append_mac(out, v);
      return;
    case DataType::String:
      append_string(out, v);
      return;
    case DataType::DateTimeSeconds:
      if (v.size() != 4) break;
      out.push_back('"');
      append_rfc3339(out, static_cast<std::int64_t>(read_uint(v)));
      out.push_back('"');
      return;
    case DataType::DateTimeMilliseconds: {
      if (v.size() != 8) break;
      std::uint64_t ms = read_uint(v);
      out.push_back('"');
      append_rfc3339(out, static_cast<std::int64_t>(ms / 1000), static_cast<std::uint32_t>(ms % 1000), 3);
      out.push_back('"');
      return;
    }
    case DataType::DateTimeMicroseconds:
    case DataType::DateTimeNanoseconds:
      if (v.size() != 8) break;
      append_ntp_time(out, read_uint(v), type == DataType::DateTimeMicroseconds ? 6 : 9);
      return;
    case DataType::Ipv4Address:
      if (v.size() != 4) break;
      append_address(out, v, AF_INET);
      return;
    case DataType::Ipv6Address:
      if (v.size() != 16) break;
      append_address(out, v, AF_INET6);
      return;
    case DataType::BasicList:
    case DataType::SubTemplateList:
    case DataType::SubTemplateMultiList: {
      if (depth >= kMaxDepth) break;
      std::size_t mark = out.size();
      bool ok = type == DataType::BasicList         ? basic_list(out, domain, v, depth + 1)
                : type == DataType::SubTemplateList ? sub_template_list(out, domain, v, depth + 1)
                                                    : sub_template_multi_list(out, domain, v, depth + 1);
      if (ok) return;
      out.resize(mark);
      break;
    }
    case DataType::OctetArray:
      break;
  }
  append_hex(out, v);
}

// RFC 6313 §4.5.1: semantic, field id (+ enterprise number), element length, elements.
bool RecordRenderer::basic_list(std::string& out, std::uint32_t domain, std::string_view v, int depth) const {
  if (v.size() < 5) return false;
  FieldSpec f;
  std::uint16_t raw_id = be16(v.data() + 1);
  f.length = be16(v.data() + 3);
  f.id = raw_id & static_cast<std::uint16_t>(~kEnterpriseBit);
  std::size_t pos = 5;
  if (raw_id & kEnterpriseBit) {
    if (v.size() < 9) return false;
    f.pen = be32(v.data() + 5);
    pos = 9;
  }
  if (f.length == 0) return false;
  f.info = model_.find(f.pen, f.id);
  out.push_back('[');
  bool first = true;
  while (pos < v.size()) {
    std::size_t len = f.length;
    if (f.length == kVariableLength) {
      len = static_cast<unsigned char>(v[pos++]);
      if (len == 255) {
        if (v.size() - pos < 2) return false;
        len = be16(v.data() + pos);
        pos += 2;
      }
    }
    if (v.size() - pos < len) return false;
    if (!first) out.push_back(',');
    first = false;
    value(out, domain, f, v.substr(pos, len), depth);
    pos += len;
  }
  out.push_back(']');
  return true;
}

// RFC 6313 §4.5.2: semantic, template id, records of that template.
bool RecordRenderer::sub_template_list(std::string& out, std::uint32_t domain, std::string_view v,
                                       int depth) const {
  if (v.size() < 3) return false;
  out.push_back('[');
  if (!records_of(out, domain, be16(v.data() + 1), v.substr(3), depth)) return false;
  out.push_back(']');
  return true;
}

// RFC 6313 §4.5.3: semantic, then (template id, length, records) groups.
bool RecordRenderer::sub_template_multi_list(std::string& out, std::uint32_t domain, std::string_view v,
                                             int depth) const {
  if (v.empty()) {  // an empty list may omit even the semantic
    out += "[]";
    return true;
  }
  std::size_t pos = 1;
  out.push_back('[');
  bool first = true;
  while (pos < v.size()) {
    if (v.size() - pos < 4) return false;
    std::uint16_t tid = be16(v.data() + pos);
    std::size_t len = be16(v.data() + pos + 2);
    if (len < 4 || v.size() - pos < len) return false;
    if (len > 4) {
      if (!first) out.push_back(',');
      first = false;
      if (!records_of(out, domain, tid, v.substr(pos + 4, len - 4), depth)) return false;
    }
    pos += len;
  }
  out.push_back(']');
  return true;
}

// Comma-separated objects for every record of template tid in data (false if it does not parse).
bool RecordRenderer::records_of(std::string& out, std::uint32_t domain, std::uint16_t tid,
                                std::string_view data, int depth) const {
  const Template* t = templates_.find(domain, tid);
  if (!t) return data.empty();
  std::size_t pos = 0;
  bool first = true;
  while (pos < data.size()) {
    std::size_t n = record_length(*t, data.data() + pos, data.size() - pos);
    if (n == 0) return false;
    if (!first) out.push_back(',');
    first = false;
    fmt::format_to(std::back_inserter(out), "{{\"ipfix_template\":{}", tid);
    fields(out, domain, *t, data.substr(pos, n), depth);
    out.push_back('}');
    pos += n;
  }
  return true;
}

}  // namespace d4::workers::ipfix
