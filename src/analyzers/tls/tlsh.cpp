#include "analyzers/tls/tlsh.hpp"

#include <tlsh.h>

#include <cstdint>
#include <cstdio>

#include "protocol/encoding.hpp"
#include "protocol/text.hpp"

namespace d4::analyzers::tls {
namespace {

// Decodes one UTF-8 sequence at s[i]; returns its length, 0 when invalid (cp untouched).
std::size_t utf8_decode(std::string_view s, std::size_t i, std::uint32_t& cp) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  std::uint32_t v = len == 1 ? c : c & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = v << 6 | (b & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  cp = v;
  return len;
}

// Go's unicode.IsPrint for code points above ASCII, for the characters certificate names carry:
// C1 controls, non-ASCII spaces, format characters, private use and non-characters are not
// printable (unassigned code points are treated as printable).
bool go_is_print_non_ascii(std::uint32_t cp) {
  if (cp <= 0xA0 || cp == 0xAD) return false;
  if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
      (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB))
    return false;
  if ((cp >= 0x600 && cp <= 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F || cp == 0x180E) return false;
  if ((cp >= 0xE000 && cp <= 0xF8FF) || cp >= 0xF0000) return false;  // private use
  if ((cp & 0xFFFE) == 0xFFFE || (cp >= 0xFDD0 && cp <= 0xFDEF)) return false;
  if (cp == 0xE0001 || (cp >= 0xE0020 && cp <= 0xE007F)) return false;
  return true;
}

// Go's asn1.Marshal of a string: PrintableString when every character is in its set, else UTF8String.
std::string go_der_string_hex(std::string_view value) {
  bool printable = true;
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c >= '\'' && c <= ')') || (c >= '+' && c <= '/') || c == ' ' || c == ':' || c == '=' ||
              c == '?';
    if (!ok) {
      printable = false;
      break;
    }
  }
  std::string der;
  der += static_cast<char>(printable ? 0x13 : 0x0c);
  std::size_t n = value.size();
  if (n < 0x80) {
    der += static_cast<char>(n);
  } else {
    std::string len;
    for (std::size_t v = n; v; v >>= 8) len.insert(len.begin(), static_cast<char>(v & 0xFF));
    der += static_cast<char>(0x80 | len.size());
    der += len;
  }
  der += value;
  return protocol::hex({reinterpret_cast<const std::uint8_t*>(der.data()), der.size()});
}

std::string rfc4514_escape(std::string_view v) {
  std::string out;
  for (std::size_t k = 0; k < v.size(); ++k) {
    char c = v[k];
    bool escape = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' ||
                  (c == ' ' && (k == 0 || k + 1 == v.size())) || (c == '#' && k == 0);
    if (escape) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string go_name_string(const std::vector<NameAttribute>& attributes) {
  // Go fills named fields from the string-valued attributes (CommonName and SerialNumber: the last
  // one wins), then prints them in its own order; other attributes come first in the sequence.
  struct Field {
    int arc;
    const char* label;
  };
  static constexpr Field kOrder[] = {{6, "C"},           {8, "ST"}, {7, "L"},  {9, "STREET"},
                                     {17, "POSTALCODE"}, {10, "O"}, {11, "OU"}};
  auto standard_arc = [](const NameAttribute& a) {
    return a.oid.size() == 4 && a.oid[0] == 2 && a.oid[1] == 5 && a.oid[2] == 4 ? a.oid[3] : -1;
  };
  std::vector<std::string> rdns;  // in sequence order; printed reversed
  for (const auto& a : attributes) {
    int arc = standard_arc(a);
    if (arc == 3 || arc == 5 || arc == 6 || arc == 7 || arc == 8 || arc == 9 || arc == 10 || arc == 11 ||
        arc == 17)
      continue;
    std::string oid;
    for (int x : a.oid) oid += (oid.empty() ? "" : ".") + std::to_string(x);
    rdns.push_back(oid + "=#" + go_der_string_hex(a.value));
  }
  auto multi = [&](int arc, const char* label) {
    std::string rdn;
    for (const auto& a : attributes)
      if (standard_arc(a) == arc)
        rdn += (rdn.empty() ? "" : "+") + std::string(label) + "=" + rfc4514_escape(a.value);
    if (!rdn.empty()) rdns.push_back(rdn);
  };
  for (const auto& f : kOrder) multi(f.arc, f.label);
  auto last = [&](int arc, const char* label) {
    const NameAttribute* found = nullptr;
    for (const auto& a : attributes)
      if (standard_arc(a) == arc) found = &a;
    if (found && !found->value.empty())
      rdns.push_back(std::string(label) + "=" + rfc4514_escape(found->value));
  };
  last(3, "CN");
  last(5, "SERIALNUMBER");
  std::string out;
  for (auto it = rdns.rbegin(); it != rdns.rend(); ++it) {
    if (!out.empty()) out += ',';
    out += *it;
  }
  return out;
}

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  std::size_t i = 0;
  while (i < s.size()) {
    std::uint32_t cp = 0;
    std::size_t len = utf8_decode(s, i, cp);
    if (len == 0) {  // invalid byte
      out += "\\x";
      protocol::append_hex(out, {reinterpret_cast<const std::uint8_t*>(s.data() + i), 1});
      ++i;
      continue;
    }
    if (cp == '"' || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp >= 0x20 && cp < 0x7F) {
      out += static_cast<char>(cp);
    } else if (cp < 0x80) {
      switch (cp) {
        case '\a':
          out += "\\a";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\v':
          out += "\\v";
          break;
        default:
          out += "\\x";
          protocol::append_hex(out, {reinterpret_cast<const std::uint8_t*>(s.data() + i), 1});  // cp < 0x80
      }
    } else if (go_is_print_non_ascii(cp)) {
      out.append(s.substr(i, len));
    } else {
      char buf[16];
      std::snprintf(buf, sizeof buf, cp < 0x10000 ? "\\u%04x" : "\\U%08x", static_cast<unsigned>(cp));
      out += buf;
    }
    i += len;
  }
  out += '"';
  return out;
}

std::string session_tlsh_input(std::string_view ja3, std::string_view ja3s,
                               const std::vector<CertificateInfo>& certificates) {
  std::string buf(ja3);
  buf += ja3s;
  for (const auto& c : certificates) {
    buf += go_quote(go_name_string(c.issuer_attributes));
    buf += go_quote(go_name_string(c.subject_attributes));
  }
  std::string out;
  out.reserve(buf.size());
  for (char c : buf)
    if (c != '-' && c != ',' && c != '"') out += c;
  return out;
}

std::optional<std::string> tlsh_digest(std::string_view data) {
  Tlsh t;
  t.final(reinterpret_cast<const unsigned char*>(data.data()), static_cast<unsigned int>(data.size()));
  char buf[TLSH_STRING_BUFFER_LEN] = {0};
  const char* h = t.getHash(buf, sizeof buf);
  if (!h || !*h) return std::nullopt;
  // libtlsh prints upper-case; the reference sensor's Go library prints with encoding/hex.
  return text::ascii_lower(h);
}

bool is_tlsh_digest(std::string_view text) {
  if (text.size() != 70) return false;
  for (char c : text)
    if (!text::is_hex_digit(c)) return false;
  return true;
}

std::optional<int> tlsh_distance(std::string_view a, std::string_view b) {
  if (!is_tlsh_digest(a) || !is_tlsh_digest(b)) return std::nullopt;
  std::string sa(a), sb(b);
  for (auto* s : {&sa, &sb})
    for (char& c : *s) c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 32 : c);
  Tlsh ta, tb;
  if (ta.fromTlshStr(sa.c_str()) != 0 || tb.fromTlshStr(sb.c_str()) != 0) return std::nullopt;
  return ta.totalDiff(&tb, true);
}

}  // namespace d4::analyzers::tls
