#include "analyzers/pdns/dnscap_text.hpp"

#include <charconv>
#include <ctime>
#include <vector>

#include "analyzers/pdns/rrtype.hpp"

namespace d4::analyzers::pdns {
namespace {

constexpr std::size_t kMaxMessageBytes = 1 << 20;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  for (;;) {
    std::size_t e = s.find(sep, pos);
    out.push_back(s.substr(pos, e == std::string_view::npos ? std::string_view::npos : e - pos));
    if (e == std::string_view::npos) break;
    pos = e + 1;
  }
  return out;
}

std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    std::size_t b = i;
    while (i < s.size() && !(s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    if (i > b) {
      std::string_view t = s.substr(b, i - b);
      if (t != "\\") out.push_back(t);
    }
  }
  return out;
}

bool parse_int(std::string_view s, std::int64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// "2023-11-14" "22:13:20.010000" (UTC) -> epoch seconds
bool parse_time(std::string_view date, std::string_view time, std::int64_t& out) {
  std::int64_t y, mo, d, h, mi, s;
  if (date.size() != 10 || time.size() < 8) return false;
  if (!parse_int(date.substr(0, 4), y) || !parse_int(date.substr(5, 2), mo) ||
      !parse_int(date.substr(8, 2), d) || !parse_int(time.substr(0, 2), h) ||
      !parse_int(time.substr(3, 2), mi) || !parse_int(time.substr(6, 2), s))
    return false;
  std::tm tm{};
  tm.tm_year = static_cast<int>(y - 1900);
  tm.tm_mon = static_cast<int>(mo - 1);
  tm.tm_mday = static_cast<int>(d);
  tm.tm_hour = static_cast<int>(h);
  tm.tm_min = static_cast<int>(mi);
  tm.tm_sec = static_cast<int>(s);
  out = static_cast<std::int64_t>(timegm(&tm));
  return out >= 0;
}

}  // namespace

void DnscapParser::malformed(std::string_view reason, std::string_view text) {
  ++stats_.malformed;
  if (on_reject_) on_reject_(reason, text);
}

void DnscapParser::feed(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      partial_line_.append(text.substr(pos));
      if (partial_line_.size() > kMaxMessageBytes) {  // no newline in a megabyte: not dnscap text
        malformed("dnscap_line_too_long", std::string_view(partial_line_).substr(0, 200));
        partial_line_.clear();
      }
      return;
    }
    if (partial_line_.empty()) {
      on_line(text.substr(pos, nl - pos));
    } else {
      partial_line_.append(text.substr(pos, nl - pos));
      on_line(partial_line_);
      partial_line_.clear();
    }
    pos = nl + 1;
  }
}

void DnscapParser::finish() {
  if (!partial_line_.empty()) {
    std::string line = std::move(partial_line_);
    partial_line_.clear();
    on_line(line);
  }
  if (!message_.empty()) {
    parse_message(message_);
    message_.clear();
  }
}

void DnscapParser::on_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.empty() && line.front() == '[' && !message_.empty()) {
    // A new header while a message is open: the previous one lacked its final line.
    parse_message(message_);
    message_.clear();
  }
  if (message_.size() + line.size() > kMaxMessageBytes) {
    malformed("dnscap_message_too_long", std::string_view(message_).substr(0, 200));
    message_.clear();
    return;
  }
  message_.append(line);
  message_ += '\n';
  std::size_t e = line.find_last_not_of(" \t");
  bool continues = e != std::string_view::npos && line[e] == '\\';
  if (!continues) {
    parse_message(message_);
    message_.clear();
  }
}

void DnscapParser::parse_message(std::string_view message) {
  auto t = tokens(message);
  if (t.empty()) return;
  ++stats_.messages;
  // [len] date time [#n iface vlan] [src].port [dst].port dns OPCODE,RCODE,ID,FLAGS sections...
  std::int64_t ts = 0;
  if (t.size() < 3 || t[0].empty() || t[0].front() != '[' || !parse_time(t[1], t[2], ts)) {
    malformed("dnscap_bad_header", message);
    return;
  }
  std::size_t i = 3;
  while (i < t.size() && t[i] != "dns") ++i;
  if (i + 1 >= t.size()) return;  // e.g. a TCP segment without DNS data, or "(frag)"
  auto head = split(t[i + 1], ',');
  if (head.size() < 3) {
    malformed("dnscap_bad_dns_header", message);
    return;
  }
  bool qr = false;
  if (head.size() >= 4)
    for (auto f : split(head[3], '|'))
      if (f == "qr") qr = true;
  if (!qr) return;
  ++stats_.responses;
  i += 2;
  // Sections: question, answer, authority, additional; each a count then that many tokens.
  std::int64_t count = 0;
  if (i >= t.size() || !parse_int(t[i], count) || count < 0 || static_cast<std::size_t>(count) > t.size()) {
    malformed("dnscap_bad_section", message);
    return;
  }
  i += 1 + static_cast<std::size_t>(count);
  if (i >= t.size() || !parse_int(t[i], count) || count < 0 ||
      i + 1 + static_cast<std::size_t>(count) > t.size()) {
    malformed("dnscap_bad_section", message);
    return;
  }
  for (std::int64_t k = 0; k < count; ++k) {
    auto f = split(t[i + 1 + static_cast<std::size_t>(k)], ',');
    if (f.size() < 4) {
      malformed("dnscap_bad_record", t[i + 1 + static_cast<std::size_t>(k)]);
      continue;
    }
    auto type = dns::parse_type(f[2]);
    if (!type) {
      malformed("dnscap_unknown_type", t[i + 1 + static_cast<std::size_t>(k)]);
      continue;
    }
    if (f.size() < 5 || (f[4].size() > 1 && f[4].front() == '[' && f[4].back() == ']')) {
      ++stats_.unrendered;
      continue;
    }
    PdnsRecord r;
    r.rrname = std::string(f[0]);
    r.rrtype = *type;
    r.klass = std::string(f[1]);
    r.time_first = r.time_last = ts;
    std::int64_t ttl = 0;
    r.ttl = parse_int(f[3], ttl) ? ttl : -1;
    // MX: pref,exchange; SOA: mname,rname,serial,... -> the passivedns form (one name).
    if (*type == dns::rrtype::kMx && f.size() >= 6)
      r.rdata = std::string(f[5]);
    else
      r.rdata = std::string(f[4]);
    if (!normalize_name(r.rrname) || !normalize_rdata(r.rrtype, r.rdata, normalize_)) {
      malformed("dnscap_bad_answer", t[i + 1 + static_cast<std::size_t>(k)]);
      continue;
    }
    ++stats_.records;
    sink_(std::move(r));
  }
}

}  // namespace d4::analyzers::pdns
