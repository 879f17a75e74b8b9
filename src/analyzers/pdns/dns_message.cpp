#include "analyzers/pdns/dns_message.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <ctime>

#include "analyzers/pdns/rrtype.hpp"
#include "protocol/encoding.hpp"

namespace d4::analyzers::dns {
namespace {

using protocol::append_base64;
using protocol::append_hex;

constexpr std::size_t kMaxNameWireLength = 255;
constexpr int kMaxPointerJumps = 64;

inline std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t be32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}

void append_decimal_escape(std::string& out, std::uint8_t c) {
  out += '\\';
  out += static_cast<char>('0' + c / 100);
  out += static_cast<char>('0' + c / 10 % 10);
  out += static_cast<char>('0' + c % 10);
}

void append_label_char(std::string& out, std::uint8_t c, bool lowercase) {
  if (c >= 'A' && c <= 'Z') {
    out += static_cast<char>(lowercase ? c + 32 : c);
  } else if (c == '.' || c == '\\') {
    out += '\\';
    out += static_cast<char>(c);
  } else if (c <= 0x20 || c >= 0x7F) {
    append_decimal_escape(out, c);
  } else {
    out += static_cast<char>(c);
  }
}

// A <character-string> in quotes with RFC 1035 escapes (quoted == true), or raw text with only
// non-printable bytes escaped (the passivedns TXT form).
void append_text(std::string& out, const std::uint8_t* p, std::size_t n, bool quoted) {
  if (quoted) out += '"';
  for (std::size_t i = 0; i < n; ++i) {
    std::uint8_t c = p[i];
    if (quoted && (c == '"' || c == '\\')) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7F) {
      append_decimal_escape(out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (quoted) out += '"';
}

const char kBase32Hex[] = "0123456789abcdefghijklmnopqrstuv";

void append_base32hex(std::string& out, std::span<const std::uint8_t> b) {
  std::size_t i = 0;
  while (i < b.size()) {
    std::uint64_t chunk = 0;
    std::size_t n = std::min<std::size_t>(5, b.size() - i);
    for (std::size_t k = 0; k < 5; ++k) chunk = chunk << 8 | (k < n ? b[i + k] : 0);
    static constexpr std::size_t kChars[] = {0, 2, 4, 5, 7, 8};
    for (std::size_t k = 0; k < kChars[n]; ++k) out += kBase32Hex[(chunk >> (35 - 5 * k)) & 31];
    i += n;
  }
}

void append_time(std::string& out, std::uint32_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  out += buf;
}

// Reader over the rdata of one record; every getter fails (returns false) instead of reading
// past the end.
class RdataReader {
 public:
  RdataReader(std::span<const std::uint8_t> msg, std::size_t begin, std::size_t end)
      : msg_(msg), pos_(begin), end_(end) {}
  std::size_t remaining() const { return end_ - pos_; }
  bool done() const { return pos_ == end_; }
  bool u8(std::uint8_t& v) {
    if (remaining() < 1) return false;
    v = msg_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (remaining() < 2) return false;
    v = be16(msg_.data() + pos_);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (remaining() < 4) return false;
    v = be32(msg_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool bytes(std::size_t n, std::span<const std::uint8_t>& out) {
    if (remaining() < n) return false;
    out = msg_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  std::span<const std::uint8_t> rest() {
    auto s = msg_.subspan(pos_, end_ - pos_);
    pos_ = end_;
    return s;
  }
  bool name(std::string& out) {
    std::size_t next = 0;
    if (read_name(msg_.first(end_), pos_, out, next) != ParseStatus::Ok) return false;
    pos_ = next;
    return true;
  }
  bool character_string(std::span<const std::uint8_t>& out) {
    std::uint8_t n;
    return u8(n) && bytes(n, out);
  }

 private:
  std::span<const std::uint8_t> msg_;
  std::size_t pos_, end_;
};

bool append_type_bitmap(std::string& out, RdataReader& r) {
  while (!r.done()) {
    std::uint8_t window, len;
    std::span<const std::uint8_t> bits;
    if (!r.u8(window) || !r.u8(len) || len == 0 || len > 32 || !r.bytes(len, bits)) return false;
    for (std::size_t i = 0; i < bits.size(); ++i)
      for (int b = 0; b < 8; ++b)
        if (bits[i] & (0x80 >> b)) {
          out += ' ';
          out += type_name(static_cast<std::uint16_t>(window * 256 + i * 8 + static_cast<std::size_t>(b)));
        }
  }
  return true;
}

bool append_svc_params(std::string& out, RdataReader& r) {
  while (!r.done()) {
    std::uint16_t key, len;
    std::span<const std::uint8_t> v;
    if (!r.u16(key) || !r.u16(len) || !r.bytes(len, v)) return false;
    out += ' ';
    switch (key) {
      case 0: {  // mandatory
        if (v.size() % 2) return false;
        out += "mandatory=";
        for (std::size_t i = 0; i < v.size(); i += 2) {
          if (i) out += ',';
          std::uint16_t k = be16(v.data() + i);
          static const char* names[] = {"mandatory", "alpn", "no-default-alpn", "port",
                                        "ipv4hint",  "ech",  "ipv6hint"};
          out += k < 7 ? names[k] : "key" + std::to_string(k);
        }
        break;
      }
      case 1: {  // alpn
        out += "alpn=";
        std::size_t i = 0;
        bool first = true;
        while (i < v.size()) {
          std::size_t n = v[i++];
          if (i + n > v.size()) return false;
          if (!first) out += ',';
          first = false;
          append_text(out, v.data() + i, n, false);
          i += n;
        }
        break;
      }
      case 2:
        out += "no-default-alpn";
        if (!v.empty()) return false;
        break;
      case 3:
        if (v.size() != 2) return false;
        out += "port=" + std::to_string(be16(v.data()));
        break;
      case 4:
      case 6: {
        std::size_t w = key == 4 ? 4 : 16;
        if (v.empty() || v.size() % w) return false;
        out += key == 4 ? "ipv4hint=" : "ipv6hint=";
        for (std::size_t i = 0; i < v.size(); i += w) {
          if (i) out += ',';
          char buf[INET6_ADDRSTRLEN];
          inet_ntop(key == 4 ? AF_INET : AF_INET6, v.data() + i, buf, sizeof buf);
          out += buf;
        }
        break;
      }
      case 5:
        out += "ech=";
        append_base64(out, v);
        break;
      default:
        out += "key" + std::to_string(key);
        if (!v.empty()) {
          out += '=';
          append_text(out, v.data(), v.size(), true);
        }
    }
  }
  return true;
}

// DNSSEC, key, certificate-association and service-binding types (render's second half).
bool render_keys_and_services(const ResourceRecord& rr, RdataReader& r, std::string& out) {
  switch (rr.type) {
    case rrtype::kDs:
    case rrtype::kCds:
    case 32768:  // TA
    case rrtype::kDlv: {
      std::uint16_t tag;
      std::uint8_t alg, digest_type;
      if (!r.u16(tag) || !r.u8(alg) || !r.u8(digest_type) || r.done()) return false;
      out += std::to_string(tag) + ' ' + std::to_string(alg) + ' ' + std::to_string(digest_type) + ' ';
      append_hex(out, r.rest(), true);
      return true;
    }
    case rrtype::kDnskey:
    case rrtype::kCdnskey:
    case 25: {  // KEY
      std::uint16_t flags;
      std::uint8_t proto, alg;
      if (!r.u16(flags) || !r.u8(proto) || !r.u8(alg) || r.done()) return false;
      out += std::to_string(flags) + ' ' + std::to_string(proto) + ' ' + std::to_string(alg) + ' ';
      append_base64(out, r.rest());
      return true;
    }
    case rrtype::kRrsig:
    case 24: {  // SIG
      std::uint16_t covered, tag;
      std::uint8_t alg, labels;
      std::uint32_t ttl, expiration, inception;
      std::string signer;
      if (!r.u16(covered) || !r.u8(alg) || !r.u8(labels) || !r.u32(ttl) || !r.u32(expiration) ||
          !r.u32(inception) || !r.u16(tag) || !r.name(signer) || r.done())
        return false;
      out += type_name(covered) + ' ' + std::to_string(alg) + ' ' + std::to_string(labels) + ' ' +
             std::to_string(ttl) + ' ';
      append_time(out, expiration);
      out += ' ';
      append_time(out, inception);
      out += ' ' + std::to_string(tag) + ' ' + signer + ' ';
      append_base64(out, r.rest());
      return true;
    }
    case rrtype::kNsec: {
      if (!r.name(out)) return false;
      return append_type_bitmap(out, r);
    }
    case rrtype::kNsec3:
    case rrtype::kNsec3param: {
      std::uint8_t hash_alg, flags, salt_len;
      std::uint16_t iterations;
      std::span<const std::uint8_t> salt;
      if (!r.u8(hash_alg) || !r.u8(flags) || !r.u16(iterations) || !r.u8(salt_len) ||
          !r.bytes(salt_len, salt))
        return false;
      out += std::to_string(hash_alg) + ' ' + std::to_string(flags) + ' ' + std::to_string(iterations) + ' ';
      if (salt.empty())
        out += '-';
      else
        append_hex(out, salt, true);
      if (rr.type == rrtype::kNsec3param) return r.done();
      std::uint8_t hash_len;
      std::span<const std::uint8_t> hash;
      if (!r.u8(hash_len) || !r.bytes(hash_len, hash)) return false;
      out += ' ';
      append_base32hex(out, hash);
      return append_type_bitmap(out, r);
    }
    case rrtype::kSshfp: {
      std::uint8_t alg, fp;
      if (!r.u8(alg) || !r.u8(fp) || r.done()) return false;
      out += std::to_string(alg) + ' ' + std::to_string(fp) + ' ';
      append_hex(out, r.rest(), true);
      return true;
    }
    case rrtype::kTlsa:
    case rrtype::kSmimea: {
      std::uint8_t usage, selector, mtype;
      if (!r.u8(usage) || !r.u8(selector) || !r.u8(mtype) || r.done()) return false;
      out += std::to_string(usage) + ' ' + std::to_string(selector) + ' ' + std::to_string(mtype) + ' ';
      append_hex(out, r.rest(), true);
      return true;
    }
    case rrtype::kOpenpgpkey:
      if (r.done()) return false;
      append_base64(out, r.rest());
      return true;
    case rrtype::kCaa: {
      std::uint8_t flags, tag_len;
      std::span<const std::uint8_t> tag;
      if (!r.u8(flags) || !r.u8(tag_len) || tag_len == 0 || !r.bytes(tag_len, tag)) return false;
      out += std::to_string(flags) + ' ';
      append_text(out, tag.data(), tag.size(), false);
      out += ' ';
      auto value = r.rest();
      append_text(out, value.data(), value.size(), true);
      return true;
    }
    case rrtype::kUri: {
      std::uint16_t prio, weight;
      if (!r.u16(prio) || !r.u16(weight)) return false;
      out += std::to_string(prio) + ' ' + std::to_string(weight) + ' ';
      auto target = r.rest();
      append_text(out, target.data(), target.size(), true);
      return true;
    }
    case rrtype::kSvcb:
    case rrtype::kHttps: {
      std::uint16_t prio;
      std::string target;
      if (!r.u16(prio) || !r.name(target)) return false;
      out += std::to_string(prio) + ' ' + target;
      return append_svc_params(out, r);
    }
    default:
      return false;
  }
}

// Renders the rdata of `rr` in `style`; false when it does not match its type's format.
bool render(std::span<const std::uint8_t> msg, const ResourceRecord& rr, RdataStyle style, std::string& out) {
  const std::size_t begin = rr.rdata_offset, end = begin + rr.rdata_length;
  RdataReader r(msg, begin, end);
  const bool compat = style == RdataStyle::Passivedns;
  switch (rr.type) {
    case rrtype::kA: {
      std::span<const std::uint8_t> a;
      if (rr.rdata_length != 4 || !r.bytes(4, a)) return false;
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, a.data(), buf, sizeof buf);
      out += buf;
      return true;
    }
    case rrtype::kAaaa: {
      std::span<const std::uint8_t> a;
      if (rr.rdata_length != 16 || !r.bytes(16, a)) return false;
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
      out += buf;
      return true;
    }
    case rrtype::kNs:
    case 3:  // MD
    case 4:  // MF
    case rrtype::kCname:
    case 7:  // MB
    case 8:  // MG
    case 9:  // MR
    case rrtype::kPtr:
    case rrtype::kDname:
      return r.name(out) && r.done();
    case rrtype::kSoa: {
      if (!r.name(out)) return false;
      std::string rname;
      std::uint32_t v[5];
      if (!r.name(rname)) return false;
      for (auto& x : v)
        if (!r.u32(x)) return false;
      if (!r.done()) return false;
      if (compat) return true;
      out += ' ' + rname;
      for (auto x : v) out += ' ' + std::to_string(x);
      return true;
    }
    case rrtype::kMx:
    case 18:    // AFSDB
    case 21:    // RT
    case 36: {  // KX
      std::uint16_t pref;
      if (!r.u16(pref)) return false;
      std::string name;
      if (!r.name(name) || !r.done()) return false;
      if (compat && rr.type == rrtype::kMx) {
        out += name;
      } else {
        out += std::to_string(pref) + ' ' + name;
      }
      return true;
    }
    case rrtype::kTxt:
    case rrtype::kSpf: {
      bool first = true;
      if (r.done()) return false;
      while (!r.done()) {
        std::span<const std::uint8_t> s;
        if (!r.character_string(s)) return false;
        if (!compat && !first) out += ' ';
        append_text(out, s.data(), s.size(), !compat);
        first = false;
      }
      return true;
    }
    case rrtype::kHinfo: {
      std::span<const std::uint8_t> cpu, os;
      if (!r.character_string(cpu) || !r.character_string(os) || !r.done()) return false;
      append_text(out, cpu.data(), cpu.size(), true);
      out += ' ';
      append_text(out, os.data(), os.size(), true);
      return true;
    }
    case rrtype::kRp:
    case 14: {  // MINFO
      std::string a, b;
      if (!r.name(a) || !r.name(b) || !r.done()) return false;
      out += a + ' ' + b;
      return true;
    }
    case rrtype::kSrv: {
      std::uint16_t prio, weight, port;
      std::string target;
      if (!r.u16(prio) || !r.u16(weight) || !r.u16(port) || !r.name(target) || !r.done()) return false;
      if (compat)
        out += target;
      else
        out +=
            std::to_string(prio) + ' ' + std::to_string(weight) + ' ' + std::to_string(port) + ' ' + target;
      return true;
    }
    case rrtype::kNaptr: {
      std::uint16_t order, pref;
      std::span<const std::uint8_t> flags, services, regexp;
      std::string replacement;
      if (!r.u16(order) || !r.u16(pref) || !r.character_string(flags) || !r.character_string(services) ||
          !r.character_string(regexp) || !r.name(replacement) || !r.done())
        return false;
      out += std::to_string(order) + ' ' + std::to_string(pref) + ' ';
      append_text(out, flags.data(), flags.size(), true);
      out += ' ';
      append_text(out, services.data(), services.size(), true);
      out += ' ';
      append_text(out, regexp.data(), regexp.size(), true);
      out += ' ' + replacement;
      return true;
    }
    default:
      return render_keys_and_services(rr, r, out);
  }
}

bool has_renderer(std::uint16_t type) {
  switch (type) {
    case rrtype::kA:
    case rrtype::kAaaa:
    case rrtype::kNs:
    case 3:
    case 4:
    case rrtype::kCname:
    case 7:
    case 8:
    case 9:
    case rrtype::kPtr:
    case rrtype::kDname:
    case rrtype::kSoa:
    case rrtype::kMx:
    case 18:
    case 21:
    case 36:
    case rrtype::kTxt:
    case rrtype::kSpf:
    case rrtype::kHinfo:
    case rrtype::kRp:
    case 14:
    case rrtype::kSrv:
    case rrtype::kNaptr:
    case rrtype::kDs:
    case rrtype::kCds:
    case 32768:
    case rrtype::kDlv:
    case rrtype::kDnskey:
    case rrtype::kCdnskey:
    case 25:
    case rrtype::kRrsig:
    case 24:
    case rrtype::kNsec:
    case rrtype::kNsec3:
    case rrtype::kNsec3param:
    case rrtype::kSshfp:
    case rrtype::kTlsa:
    case rrtype::kSmimea:
    case rrtype::kOpenpgpkey:
    case rrtype::kCaa:
    case rrtype::kUri:
    case rrtype::kSvcb:
    case rrtype::kHttps:
      return true;
    default:
      return false;
  }
}

void append_generic(std::span<const std::uint8_t> msg, const ResourceRecord& rr, std::string& out) {
  out += "\\# " + std::to_string(rr.rdata_length);
  if (rr.rdata_length) {
    out += ' ';
    append_hex(out, msg.subspan(rr.rdata_offset, rr.rdata_length), true);
  }
}

}  // namespace

std::string_view to_string(ParseStatus s) {
  switch (s) {
    case ParseStatus::Ok:
      return "ok";
    case ParseStatus::Truncated:
      return "truncated";
    case ParseStatus::BadName:
      return "bad_name";
    case ParseStatus::TooManyRecords:
      return "too_many_records";
  }
  return "unknown";
}

ParseStatus read_name(std::span<const std::uint8_t> msg, std::size_t offset, std::string& out,
                      std::size_t& next, bool lowercase) {
  std::size_t pos = offset;
  std::size_t run_start = offset;  // start of the label run being read; pointers must go before it
  std::size_t wire_len = 0;
  bool jumped = false;
  int jumps = 0;
  const std::size_t out_start = out.size();
  for (;;) {
    if (pos >= msg.size()) return ParseStatus::Truncated;
    std::uint8_t len = msg[pos];
    if (len == 0) {
      if (!jumped) next = pos + 1;
      if (out.size() == out_start) out += '.';
      return ParseStatus::Ok;
    }
    switch (len & 0xC0) {
      case 0xC0: {
        if (pos + 1 >= msg.size()) return ParseStatus::Truncated;
        std::size_t target = static_cast<std::size_t>(len & 0x3F) << 8 | msg[pos + 1];
        if (target >= run_start || ++jumps > kMaxPointerJumps) return ParseStatus::BadName;
        if (!jumped) next = pos + 2;
        jumped = true;
        pos = run_start = target;
        continue;
      }
      case 0x00: {
        wire_len += 1u + len;
        if (wire_len + 1 > kMaxNameWireLength) return ParseStatus::BadName;
        if (pos + 1 + len > msg.size()) return ParseStatus::Truncated;
        if (out.size() != out_start) out += '.';
        for (std::size_t i = 0; i < len; ++i) append_label_char(out, msg[pos + 1 + i], lowercase);
        pos += 1u + len;
        continue;
      }
      default:  // 0x40 extended label types and 0x80 are not in use
        return ParseStatus::BadName;
    }
  }
}

ParseStatus Message::parse_records(std::size_t& off, std::uint16_t count, std::vector<ResourceRecord>& out,
                                   std::size_t& budget) {
  // The header's count is the sender's claim: reserve only what the budget and the bytes left
  // can hold (a record takes at least 11 bytes: a root name, type, class, TTL, rdata length).
  constexpr std::size_t kMinRecordBytes = 11;
  const std::size_t left = off < wire_.size() ? wire_.size() - off : 0;
  out.reserve(std::min<std::size_t>({count, budget, left / kMinRecordBytes}));
  for (std::uint16_t i = 0; i < count; ++i) {
    if (budget == 0) return ParseStatus::TooManyRecords;
    --budget;
    ResourceRecord rr;
    std::size_t next = 0;
    if (auto s = read_name(wire_, off, rr.name, next); s != ParseStatus::Ok) return s;
    if (next + 10 > wire_.size()) return ParseStatus::Truncated;
    const std::uint8_t* p = wire_.data() + next;
    rr.type = be16(p);
    rr.klass = be16(p + 2);
    rr.ttl = be32(p + 4);
    rr.rdata_length = be16(p + 8);
    rr.rdata_offset = static_cast<std::uint32_t>(next + 10);
    if (static_cast<std::size_t>(rr.rdata_offset) + rr.rdata_length > wire_.size())
      return ParseStatus::Truncated;
    off = rr.rdata_offset + rr.rdata_length;
    out.push_back(std::move(rr));
  }
  return ParseStatus::Ok;
}

ParseStatus Message::parse(std::span<const std::uint8_t> wire, const ParseOptions& options) {
  wire_ = wire;
  questions_.clear();
  answers_.clear();
  authority_.clear();
  additional_.clear();
  if (wire.size() < 12) return ParseStatus::Truncated;
  const std::uint8_t* p = wire.data();
  header_.id = be16(p);
  header_.flags = be16(p + 2);
  header_.qdcount = be16(p + 4);
  header_.ancount = be16(p + 6);
  header_.nscount = be16(p + 8);
  header_.arcount = be16(p + 10);
  std::size_t off = 12;
  std::size_t budget = options.max_records;
  for (std::uint16_t i = 0; i < header_.qdcount; ++i) {
    if (budget == 0) return ParseStatus::TooManyRecords;
    --budget;
    Question q;
    std::size_t next = 0;
    if (auto s = read_name(wire, off, q.name, next); s != ParseStatus::Ok) return s;
    if (next + 4 > wire.size()) return ParseStatus::Truncated;
    q.type = be16(wire.data() + next);
    q.klass = be16(wire.data() + next + 2);
    off = next + 4;
    questions_.push_back(std::move(q));
  }
  if (auto s = parse_records(off, header_.ancount, answers_, budget); s != ParseStatus::Ok) return s;
  if (!options.parse_authority_and_additional) return ParseStatus::Ok;
  if (auto s = parse_records(off, header_.nscount, authority_, budget); s != ParseStatus::Ok) return s;
  return parse_records(off, header_.arcount, additional_, budget);
}

bool Message::render_rdata(const ResourceRecord& rr, RdataStyle style, std::string& out) const {
  std::size_t start = out.size();
  if (render(wire_, rr, style, out)) return true;
  out.resize(start);
  append_generic(wire_, rr, out);
  // Unknown types are not malformed: the generic form is their presentation.
  return !has_renderer(rr.type);
}

}  // namespace d4::analyzers::dns
