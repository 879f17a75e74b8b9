#include "analyzers/tls/passivessl.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <unordered_map>

#include "analyzers/packet/ip_address.hpp"
#include "analyzers/tls/certificate.hpp"
#include "analyzers/tls/tlsh.hpp"
#include "core/digest.hpp"
#include "protocol/encoding.hpp"
#include "protocol/text.hpp"

namespace d4::analyzers::tls {
namespace {

// Counts an observation in a hash and keeps first/last seen as min/max; ARGV: ts ("" for an
// observation outside any session: seen times untouched), increment, then field/value pairs to set.
constexpr std::string_view kTouchScript = R"lua(
local h = KEYS[1]
redis.call('HINCRBY', h, 'count', ARGV[2])
if ARGV[1] ~= '' then
  local f = tonumber(redis.call('HGET', h, 'first_seen') or '')
  if not f or f > tonumber(ARGV[1]) then redis.call('HSET', h, 'first_seen', ARGV[1]) end
  local l = tonumber(redis.call('HGET', h, 'last_seen') or '')
  if not l or l < tonumber(ARGV[1]) then redis.call('HSET', h, 'last_seen', ARGV[1]) end
end
for i = 3, #ARGV, 2 do redis.call('HSET', h, ARGV[i], ARGV[i + 1]) end
return 1
)lua";

// A certificate's chain depends on what the server sent in that session: keep the best one seen
// (a valid chain before an invalid one, then the longer one). ARGV: rank, chain, is_valid_chain,
// issuer_sha1.
constexpr std::string_view kChainScript = R"lua(
local cur = tonumber(redis.call('HGET', KEYS[1], 'chain_rank') or '')
if cur and cur > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'chain_rank', ARGV[1], 'chain', ARGV[2], 'is_valid_chain', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'issuer_sha1', ARGV[4])
else redis.call('HDEL', KEYS[1], 'issuer_sha1') end
return 1
)lua";

// A public key seen in a certificate. KEYS: key hash, its certificate set, the all-keys zset
// (score = certificates using the key). ARGV: ts ("" outside sessions), increment, certificate
// SHA-1, key SHA-256, then field/value pairs.
// On a Redis Cluster the three keys lie in three slots (and keep their names, which d4-web,
// d4-misp-feed and the query API read), so the script is given the key hash alone and the rest is
// done in per-slot steps by the caller (certificate_commands): ZADD GT of the certificate, ZCARD of
// the set, then ZADD GT of that count into the all-keys zset in a second pipeline. The set only
// grows, so the GT writes give the values the one script gives, in any order and when repeated.
constexpr std::string_view kPublicKeyScript = R"lua(
local h = KEYS[1]
redis.call('HINCRBY', h, 'count', ARGV[2])
local ts = 0
if ARGV[1] ~= '' then
  ts = tonumber(ARGV[1])
  local f = tonumber(redis.call('HGET', h, 'first_seen') or '')
  if not f or f > ts then redis.call('HSET', h, 'first_seen', ARGV[1]) end
  local l = tonumber(redis.call('HGET', h, 'last_seen') or '')
  if not l or l < ts then redis.call('HSET', h, 'last_seen', ARGV[1]) end
end
for i = 5, #ARGV, 2 do redis.call('HSET', h, ARGV[i], ARGV[i + 1]) end
if #KEYS == 1 then return 1 end
redis.call('ZADD', KEYS[2], 'GT', ts, ARGV[3])
redis.call('ZADD', KEYS[3], redis.call('ZCARD', KEYS[2]), ARGV[4])
return 1
)lua";

// TLSH digests are kept in the reference sensor's lower case whatever case a producer used.
std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
  return out;
}

SslCertificate from_info(const CertificateInfo& info) {
  SslCertificate sc;
  sc.sha1 = info.sha1;
  sc.sha256 = info.sha256;
  sc.subject = info.subject;
  sc.issuer = info.issuer;
  sc.not_before = info.not_before;
  sc.not_after = info.not_after;
  sc.serial = info.serial_hex;
  sc.key_algorithm = info.public_key_algorithm;
  sc.key_bits = info.public_key_bits;
  sc.spki_sha256 = info.spki_sha256;
  sc.is_ca = info.is_ca;
  sc.is_self_signed = info.self_issued;
  sc.dns_names = info.dns_names;
  sc.raw_b64 = protocol::base64_encode(info.der);
  return sc;
}

// Fills the cryptographically checked fields of the certificates decoded from DER.
void analyze(std::vector<SslCertificate>& certs, const std::vector<std::vector<std::uint8_t>>& ders,
             const std::vector<std::size_t>& index) {
  if (ders.empty()) return;
  std::vector<std::span<const std::uint8_t>> spans(ders.begin(), ders.end());
  auto entries = analyze_certificates(spans);
  for (std::size_t k = 0; k < entries.size(); ++k) {
    auto& c = certs[index[k]];
    auto& e = entries[k];
    if (e.sha1.empty()) continue;
    c.verified = true;
    c.is_self_signed = e.is_self_signed;
    c.chain = std::move(e.chain);
    c.is_valid_chain = e.is_valid_chain;
    c.issuer_sha1 = e.issuer ? entries[*e.issuer].sha1 : std::string();
    c.public_key = std::move(e.public_key);
  }
}

std::string str_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  return {};
}

std::optional<std::uint16_t> port_field(const nlohmann::json& j, const char* key) {
  std::string s = str_field(j, key);
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// RFC 2253-like text from a Go pkix.Name object (Names in certificate order, printed reversed).
std::string name_from_go(const nlohmann::json& name) {
  static const std::pair<std::string_view, const char*> kShort[] = {
      {"2.5.4.3", "CN"},     {"2.5.4.6", "C"},           {"2.5.4.7", "L"},
      {"2.5.4.8", "ST"},     {"2.5.4.10", "O"},          {"2.5.4.11", "OU"},
      {"2.5.4.9", "STREET"}, {"2.5.4.17", "postalCode"}, {"2.5.4.5", "serialNumber"}};
  std::vector<std::string> parts;
  auto names = name.find("Names");
  if (names == name.end() || !names->is_array()) return {};
  for (const auto& n : *names) {
    if (!n.is_object() || !n.contains("Type") || !n["Type"].is_array()) continue;
    std::string oid;
    for (const auto& x : n["Type"]) {
      if (!x.is_number_integer()) continue;
      if (!oid.empty()) oid += '.';
      oid += std::to_string(x.get<long long>());
    }
    std::string label = oid;
    for (const auto& [o, s] : kShort)
      if (o == oid) label = s;
    parts.push_back(label + "=" +
                    (n.contains("Value") && n["Value"].is_string() ? n["Value"].get<std::string>() : ""));
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!out.empty()) out += ',';
    out += *it;
  }
  return out;
}

// The same server sends the same certificates session after session: decoding, verifying and
// describing them again (OpenSSL's decoder and provider lookups) would dominate ingestion, so
// analysed certificate lists are remembered, keyed by the SHA-1s of their Raw texts. Bounded:
// emptied when full.
class AnalysedLists {
 public:
  const std::vector<SslCertificate>* find(const std::string& key) const {
    auto it = lists_.find(key);
    return it == lists_.end() ? nullptr : &it->second;
  }
  void insert(std::string key, const std::vector<SslCertificate>& certs) {
    if (lists_.size() >= kMaxLists) lists_.clear();
    lists_.emplace(std::move(key), certs);
  }

 private:
  static constexpr std::size_t kMaxLists = 2048;
  std::unordered_map<std::string, std::vector<SslCertificate>> lists_;
};
thread_local AnalysedLists analysed_lists;

}  // namespace

std::string_view to_string(RecordStatus s) {
  switch (s) {
    case RecordStatus::Ok:
      return "ok";
    case RecordStatus::Empty:
      return "empty";
    case RecordStatus::BadJson:
      return "bad_json";
    case RecordStatus::MissingField:
      return "missing_field";
    case RecordStatus::BadTimestamp:
      return "bad_timestamp";
    case RecordStatus::CertificateMismatch:
      return "certificate_mismatch";
  }
  return "unknown";
}

std::string SslSessionRecord::session_id() const {
  std::string certs;
  for (const auto& c : certificates) certs += c.sha1 + ",";
  std::string key = server_ip + "|" + std::to_string(server_port) + "|" + client_ip + "|" + ja3_md5 + "|" +
                    ja3s_md5 + "|" + sni + "|" + certs;
  return core::sha1_hex(key).substr(0, 20);
}

std::optional<std::int64_t> parse_rfc3339(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
      t[13] != ':' || t[16] != ':')
    return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    auto [p, ec] = std::from_chars(t.data() + pos, t.data() + pos + len, out);
    return ec == std::errc() && p == t.data() + pos + len;
  };
  std::tm tm{};
  int y, mo, d, h, mi, s;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, s))
    return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  std::size_t pos = 19;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
  }
  std::int64_t offset = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 <= t.size() && (t[pos] == '+' || t[pos] == '-') && t[pos + 3] == ':') {
    int oh, om;
    if (!num(pos + 1, 2, oh) || !num(pos + 4, 2, om)) return std::nullopt;
    offset = (oh * 3600 + om * 60) * (t[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != t.size()) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) - offset;
}

RecordStatus parse_ja3jl(std::string_view line, SslSessionRecord& out) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
    line.remove_suffix(1);
  if (line.empty()) return RecordStatus::Empty;
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return RecordStatus::BadJson;
  out = SslSessionRecord{};
  out.server_ip = packet::normalize_ip_text(str_field(j, "ServerIP"));
  out.client_ip = packet::normalize_ip_text(str_field(j, "ClientIP"));
  auto sp = port_field(j, "ServerPort"), cp = port_field(j, "ClientPort");
  if (out.server_ip.empty() || out.client_ip.empty() || !sp || !cp) return RecordStatus::MissingField;
  out.server_port = *sp;
  out.client_port = *cp;
  out.ja3 = str_field(j, "JA3");
  out.ja3_md5 = str_field(j, "JA3Digest");
  out.ja3s = str_field(j, "JA3S");
  out.ja3s_md5 = str_field(j, "JA3SDigest");
  if (out.ja3_md5.empty() && out.ja3s_md5.empty()) return RecordStatus::MissingField;
  out.tlsh = text::ascii_lower(str_field(j, "TLSH"));
  out.sni = text::ascii_lower(str_field(j, "SNI"));
  out.tls_version = str_field(j, "TLSVersion");
  if (auto a = j.find("ALPN"); a != j.end() && a->is_array())
    for (const auto& x : *a)
      if (x.is_string()) out.alpn.push_back(x.get<std::string>());
  auto ts = parse_rfc3339(str_field(j, "Timestamp"));
  if (!ts) return RecordStatus::BadTimestamp;
  out.ts = *ts;
  auto certs = j.find("Certificates");
  // A list of certificates all given as Raw that was analysed before is taken from the cache.
  std::string cache_key;
  if (certs != j.end() && certs->is_array() && !certs->empty()) {
    for (const auto& c : *certs) {
      std::string raw = c.is_object() ? str_field(c, "Raw") : std::string();
      if (raw.empty()) {
        cache_key.clear();
        break;
      }
      cache_key += core::sha1_hex(raw);
    }
  }
  if (!cache_key.empty()) {
    if (const auto* cached = analysed_lists.find(cache_key)) {
      for (std::size_t i = 0; i < cached->size(); ++i) {
        std::string hash = str_field((*certs)[i], "CertHash");
        if (!hash.empty() && hash != (*cached)[i].sha1) return RecordStatus::CertificateMismatch;
      }
      out.certificates = *cached;
      return RecordStatus::Ok;
    }
  }
  std::vector<std::vector<std::uint8_t>> ders;
  std::vector<std::size_t> der_index;
  if (certs != j.end() && certs->is_array()) {
    for (const auto& c : *certs) {
      if (!c.is_object()) return RecordStatus::BadJson;
      SslCertificate sc;
      std::string hash = str_field(c, "CertHash");
      std::string raw = str_field(c, "Raw");
      if (!raw.empty()) {
        auto der = protocol::base64_decode_bytes(raw);
        if (!der) return RecordStatus::CertificateMismatch;
        auto info = parse_certificate(*der);
        if (!info || (!hash.empty() && hash != info->sha1)) return RecordStatus::CertificateMismatch;
        sc = from_info(*info);
        der_index.push_back(out.certificates.size());
        ders.push_back(std::move(info->der));
      } else {
        if (hash.size() != 40) return RecordStatus::MissingField;
        sc.sha1 = hash;
        sc.subject = str_field(c, "SubjectString");
        sc.issuer = str_field(c, "IssuerString");
        if (sc.subject.empty() && c.contains("Subject") && c["Subject"].is_object())
          sc.subject = name_from_go(c["Subject"]);
        if (sc.issuer.empty() && c.contains("Issuer") && c["Issuer"].is_object())
          sc.issuer = name_from_go(c["Issuer"]);
        sc.is_ca = c.contains("IsCA") && c["IsCA"].is_boolean() && c["IsCA"].get<bool>();
        sc.is_self_signed = !sc.subject.empty() && sc.subject == sc.issuer;
        sc.not_before = str_field(c, "NotBefore");
        sc.not_after = str_field(c, "NotAfter");
        if (auto d = c.find("DNSNames"); d != c.end() && d->is_array())
          for (const auto& x : *d)
            if (x.is_string()) sc.dns_names.push_back(x.get<std::string>());
        // The key alone can still be described (and linked) from the SubjectPublicKeyInfo.
        if (auto spki = protocol::base64_decode_bytes(str_field(c, "RawSubjectPublicKeyInfo"));
            spki && !spki->empty()) {
          sc.public_key = describe_public_key(*spki);
          if (sc.public_key) sc.spki_sha256 = sc.public_key->sha256;
        }
      }
      out.certificates.push_back(std::move(sc));
    }
  }
  analyze(out.certificates, ders, der_index);
  if (!cache_key.empty()) analysed_lists.insert(std::move(cache_key), out.certificates);
  return RecordStatus::Ok;
}

std::optional<SslCertificate> certificate_from_der(std::span<const std::uint8_t> der) {
  auto info = parse_certificate(der);
  if (!info) return std::nullopt;
  std::vector<SslCertificate> certs{from_info(*info)};
  analyze(certs, {info->der}, {0});
  return std::move(certs[0]);
}

PassiveSslStore::PassiveSslStore(core::RedisClient& redis, PassiveSslOptions options)
    : redis_(redis), options_(std::move(options)) {}

void PassiveSslStore::add(const SslSessionRecord& r) {
  pending_.push_back(r);
}
void PassiveSslStore::add_certificate(const SslCertificate& c) {
  certificates_.push_back(c);
}
void PassiveSslStore::reject(std::string_view reason) {
  rejects_.emplace_back(reason);
  auto it = rejected_by_reason_.find(reason);
  if (it == rejected_by_reason_.end()) it = rejected_by_reason_.emplace(std::string(reason), 0).first;
  ++it->second;
}

namespace {

using Commands = std::vector<std::vector<std::string>>;

// What flush() writes with: the key prefix and the SHA-1s of the loaded scripts (touch, chain,
// public key).
struct WriteContext {
  const std::string& prefix;
  const std::string (&sha)[3];
  bool store_raw_certificates;
  // On a Redis Cluster: where the public keys' certificate counts are read (index of the ZCARD in
  // the pipeline, key SHA-256), for the all-keys zset's second step. nullptr: one script per key.
  std::vector<std::pair<std::size_t, std::string>>* key_counts = nullptr;
};

// The certificate's own facts, its chain and its public key. ts "" (a certificate file): no
// observation counted.
void certificate_commands(Commands& cmds, const WriteContext& w, const SslCertificate& c,
                          const std::string& ts) {
  const std::string& p = w.prefix;
  nlohmann::json names = c.dns_names;
  const std::string increment = ts.empty() ? "0" : "1";
  std::vector<std::string> cmd{"EVALSHA",
                               w.sha[0],
                               "1",
                               keys::cert(p, c.sha1),
                               ts,
                               increment,
                               "subject",
                               c.subject,
                               "issuer",
                               c.issuer,
                               "is_ca",
                               c.is_ca ? "1" : "0",
                               "is_self_signed",
                               c.is_self_signed ? "1" : "0",
                               "dns_names",
                               names.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
  auto opt = [&](const char* f, const std::string& v) {
    if (!v.empty()) {
      cmd.push_back(f);
      cmd.push_back(v);
    }
  };
  opt("sha256", c.sha256);
  opt("not_before", c.not_before);
  opt("not_after", c.not_after);
  opt("serial", c.serial);
  opt("key_algorithm", c.key_algorithm);
  opt("key_bits", c.key_bits ? std::to_string(c.key_bits) : "");
  opt("spki_sha256", c.spki_sha256);
  opt("path", c.source_path);
  if (w.store_raw_certificates) opt("raw", c.raw_b64);
  cmds.push_back(std::move(cmd));
  if (c.verified) {
    // Rank: valid chains first, then the longer path.
    std::string rank = std::to_string((c.is_valid_chain ? 1000 : 0) + c.chain.size());
    cmds.push_back({"EVALSHA", w.sha[1], "1", keys::cert(p, c.sha1), rank, join(c.chain),
                    c.is_valid_chain ? "1" : "0", c.issuer_sha1});
  }
  if (c.public_key && !c.public_key->sha256.empty()) {
    const auto& k = *c.public_key;
    const std::string certs_key = p + "pubkey_certs:" + k.sha256;
    std::vector<std::string> kc{"EVALSHA", w.sha[2], w.key_counts ? "1" : "3", p + "pubkey:" + k.sha256};
    if (!w.key_counts) {
      kc.push_back(certs_key);
      kc.push_back(p + "all:pubkey");
    }
    kc.insert(kc.end(), {ts, increment, c.sha1, k.sha256, "type", k.type, "bits", std::to_string(k.bits)});
    for (const auto& [name, value] : k.parameters) {
      kc.push_back(name);
      kc.push_back(value);
    }
    cmds.push_back(std::move(kc));
    if (w.key_counts) {  // the script's other two steps, each in its own slot
      cmds.push_back({"ZADD", certs_key, "GT", ts.empty() ? "0" : ts, c.sha1});
      w.key_counts->emplace_back(cmds.size(), k.sha256);
      cmds.push_back({"ZCARD", certs_key});
    }
  }
}

// One session: its hash, its fingerprints and their indexes, its certificates. Counts a TLSH that
// is not a digest in `tlsh_invalid`.
void session_commands(Commands& cmds, const WriteContext& w, const SslSessionRecord& r,
                      std::uint64_t& tlsh_invalid) {
  const std::string& p = w.prefix;
  const std::string& touch = w.sha[0];
  std::string id = r.session_id();
  std::string ts = std::to_string(r.ts);
  std::string certs, alpn;
  for (const auto& c : r.certificates) certs += (certs.empty() ? "" : ",") + c.sha1;
  alpn = join(r.alpn);
  cmds.push_back({"EVALSHA",
                  touch,
                  "1",
                  p + "session:" + id,
                  ts,
                  "1",
                  "server_ip",
                  r.server_ip,
                  "server_port",
                  std::to_string(r.server_port),
                  "client_ip",
                  r.client_ip,
                  "client_port",
                  std::to_string(r.client_port),
                  "ja3",
                  r.ja3_md5,
                  "ja3s",
                  r.ja3s_md5,
                  "sni",
                  r.sni,
                  "alpn",
                  alpn,
                  "tls_version",
                  r.tls_version,
                  "certs",
                  certs,
                  "tlsh",
                  r.tlsh});
  auto index = [&](const std::string& kind, const std::string& value) {
    if (value.empty()) return;
    cmds.push_back({"ZADD", p + "idx:" + kind + ":" + value, "GT", ts, id});
  };
  if (!r.ja3_md5.empty()) {
    cmds.push_back({"EVALSHA", touch, "1", keys::ja3(p, r.ja3_md5), ts, "1", "raw", r.ja3});
    cmds.push_back({"ZADD", keys::seen(p, "ja3"), "GT", ts, r.ja3_md5});
    cmds.push_back({"ZINCRBY", p + "all:ja3", "1", r.ja3_md5});
    index("ja3", r.ja3_md5);
  }
  if (!r.ja3s_md5.empty()) {
    cmds.push_back({"EVALSHA", touch, "1", keys::ja3s(p, r.ja3s_md5), ts, "1", "raw", r.ja3s});
    cmds.push_back({"ZADD", keys::seen(p, "ja3s"), "GT", ts, r.ja3s_md5});
    cmds.push_back({"ZINCRBY", p + "all:ja3s", "1", r.ja3s_md5});
    index("ja3s", r.ja3s_md5);
    if (!r.ja3_md5.empty()) cmds.push_back({"ZINCRBY", keys::ja3s_of_ja3(p, r.ja3_md5), "1", r.ja3s_md5});
  }
  if (is_tlsh_digest(r.tlsh)) {
    cmds.push_back({"ZINCRBY", p + "all:tlsh", "1", r.tlsh});
    index("tlsh", r.tlsh);
  } else if (!r.tlsh.empty()) {
    ++tlsh_invalid;
  }
  index("sni", r.sni);
  index("ip", r.server_ip);
  index("ip", r.client_ip);
  for (const auto& c : r.certificates) {
    certificate_commands(cmds, w, c, ts);
    cmds.push_back({"ZINCRBY", p + "all:cert", "1", c.sha1});
    cmds.push_back({"ZADD", keys::seen(p, "cert"), "GT", ts, c.sha1});
    index("cert", c.sha1);
  }
}

}  // namespace

void PassiveSslStore::flush() {
  if (pending_.empty() && certificates_.empty() && rejects_.empty()) return;
  const std::string& p = options_.prefix;
  std::vector<std::vector<std::string>> cmds;
  std::string sha[3];
  const std::string_view scripts[3] = {kTouchScript, kChainScript, kPublicKeyScript};
  for (int i = 0; i < 3; ++i) {
    auto load = redis_.command({"SCRIPT", "LOAD", std::string(scripts[i])});
    if (load.is_error()) throw core::RedisError("passivessl SCRIPT LOAD: " + load.str);
    sha[i] = load.str;
    // Again in the pipeline: the scripts survive a Redis restart between the two.
    cmds.push_back({"SCRIPT", "LOAD", std::string(scripts[i])});
  }
  std::uint64_t tlsh_invalid = 0;

  std::vector<std::pair<std::size_t, std::string>> key_counts;
  const bool per_slot = redis_.endpoint().uses_cluster();
  const WriteContext w{p, sha, options_.store_raw_certificates, per_slot ? &key_counts : nullptr};
  for (const auto& r : pending_) session_commands(cmds, w, r, tlsh_invalid);
  for (const auto& c : certificates_) {
    certificate_commands(cmds, w, c, "");
    cmds.push_back({"ZINCRBY", p + "all:cert", "0", c.sha1});  // listed, no session counted
  }
  if (!pending_.empty()) cmds.push_back({"HINCRBY", p + "stats", "records", std::to_string(pending_.size())});
  if (!certificates_.empty())
    cmds.push_back({"HINCRBY", p + "stats", "certificates_imported", std::to_string(certificates_.size())});
  if (tlsh_invalid) cmds.push_back({"HINCRBY", p + "stats", "tlsh_invalid", std::to_string(tlsh_invalid)});
  for (const auto& reason : rejects_) cmds.push_back({"HINCRBY", p + "stats", "rejected:" + reason, "1"});
  auto replies = redis_.pipeline(cmds);
  for (std::size_t i = 0; i < replies.size(); ++i)
    if (replies[i].is_error())
      throw core::RedisError("passivessl write (" + cmds[i][0] + "): " + replies[i].str);
  if (!key_counts.empty()) {
    // A Redis Cluster: each key's certificate count into the all-keys zset (kPublicKeyScript).
    std::vector<std::vector<std::string>> counts;
    for (const auto& [at, key_sha] : key_counts)
      counts.push_back({"ZADD", p + "all:pubkey", "GT", std::to_string(replies.at(at).integer), key_sha});
    for (const auto& r : redis_.pipeline(counts))
      if (r.is_error()) throw core::RedisError("passivessl write (ZADD all:pubkey): " + r.str);
  }
  pending_.clear();
  certificates_.clear();
  rejects_.clear();
}

nlohmann::json PassiveSslQuery::hash_object(const std::string& key) {
  auto r = redis_.command({"HGETALL", key});
  if (r.is_error()) throw core::RedisError("HGETALL: " + r.str);
  auto v = r.as_strings();
  if (v.empty()) return nullptr;
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
    const std::string& k = v[i];
    const std::string& val = v[i + 1];
    if (k == "chain_rank") continue;  // internal
    if (k == "count" || k == "first_seen" || k == "last_seen" || k == "server_port" || k == "client_port" ||
        k == "key_bits" || k == "bits" || k == "exponent" || k == "modulus_size" || k == "bitsize") {
      long long n = 0;
      auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), n);
      j[k] = ec == std::errc() ? nlohmann::json(n) : nlohmann::json(val);
    } else if (k == "is_ca" || k == "is_self_signed" || k == "is_valid_chain") {
      j[k] = val == "1";
    } else if (k == "dns_names") {
      auto parsed = nlohmann::json::parse(val, nullptr, false);
      j[k] = parsed.is_discarded() ? nlohmann::json::array() : parsed;
    } else if (k == "certs" || k == "alpn" || k == "chain") {
      nlohmann::json arr = nlohmann::json::array();
      std::size_t pos = 0;
      while (pos < val.size()) {
        std::size_t c = val.find(',', pos);
        arr.push_back(val.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
      }
      j[k] = arr;
    } else {
      j[k] = val;
    }
  }
  return j;
}

nlohmann::json PassiveSslQuery::session(const std::string& id) {
  auto s = hash_object(prefix_ + "session:" + id);
  if (!s.is_null()) s["id"] = id;
  return s;
}

nlohmann::json PassiveSslQuery::lookup(const std::string& kind, const std::string& raw_value,
                                       std::size_t limit, std::size_t offset) {
  std::string value = raw_value;
  if (kind == "ip")
    value = packet::normalize_ip_text(value);
  else
    value = text::ascii_lower(value);
  nlohmann::json out;
  if (kind == "cert") {
    out[kind] = certificate(value, true);
  } else if (kind == "ja3" || kind == "ja3s") {
    out[kind] = hash_object(prefix_ + kind + ":" + value);
    if (!out[kind].is_null()) out[kind]["hash"] = value;
  }
  if (kind == "ja3") {
    auto r = redis_.command({"ZREVRANGE", keys::ja3s_of_ja3(prefix_, value), "0", "99", "WITHSCORES"});
    nlohmann::json servers = nlohmann::json::array();
    auto v = r.as_strings();
    for (std::size_t i = 0; i + 1 < v.size(); i += 2)
      servers.push_back({{"ja3s", v[i]}, {"sessions", std::atoll(v[i + 1].c_str())}});
    out["ja3s"] = servers;
  }
  std::string idx = prefix_ + "idx:" + kind + ":" + value;
  auto total = redis_.command({"ZCARD", idx});
  if (total.is_error()) throw core::RedisError("ZCARD: " + total.str);
  out["total"] = total.integer;
  auto ids = redis_.command({"ZREVRANGE", idx, std::to_string(offset), std::to_string(offset + limit - 1)});
  if (ids.is_error()) throw core::RedisError("ZREVRANGE: " + ids.str);
  nlohmann::json sessions = nlohmann::json::array();
  for (const auto& id : ids.as_strings()) {
    auto s = session(id);
    if (!s.is_null()) sessions.push_back(std::move(s));
  }
  out["sessions"] = sessions;
  out["truncated"] = static_cast<long long>(offset + sessions.size()) < total.integer;
  return out;
}

nlohmann::json PassiveSslQuery::certificate(const std::string& sha1, bool with_public_key) {
  auto c = hash_object(keys::cert(prefix_, sha1));
  if (c.is_null()) return c;
  c["hash"] = sha1;
  if (!with_public_key) {
    c.erase("raw");
    return c;
  }
  if (auto k = c.find("spki_sha256"); k != c.end() && k->is_string()) {
    std::string key_hash = k->get<std::string>();
    auto key = hash_object(prefix_ + "pubkey:" + key_hash);
    if (!key.is_null()) {
      key["hash"] = key_hash;
      auto n = redis_.command({"ZCARD", prefix_ + "pubkey_certs:" + key_hash});
      if (n.is_error()) throw core::RedisError("ZCARD: " + n.str);
      key["certificates"] = n.integer;  // > 1: the key is shared with other certificates
    }
    c["public_key"] = key;
  }
  return c;
}

nlohmann::json PassiveSslQuery::public_key(const std::string& raw_hash, std::size_t limit,
                                           std::size_t offset) {
  const std::string hash = text::ascii_lower(raw_hash);
  nlohmann::json out;
  out["pubkey"] = hash_object(prefix_ + "pubkey:" + hash);
  if (!out["pubkey"].is_null()) out["pubkey"]["hash"] = hash;
  const std::string set = prefix_ + "pubkey_certs:" + hash;
  auto total = redis_.command({"ZCARD", set});
  if (total.is_error()) throw core::RedisError("ZCARD: " + total.str);
  out["total"] = total.integer;
  auto ids = redis_.command({"ZREVRANGE", set, std::to_string(offset), std::to_string(offset + limit - 1)});
  if (ids.is_error()) throw core::RedisError("ZREVRANGE: " + ids.str);
  nlohmann::json certs = nlohmann::json::array();
  for (const auto& sha1 : ids.as_strings()) {
    auto c = certificate(sha1, false);
    if (!c.is_null()) certs.push_back(std::move(c));
  }
  out["certificates"] = certs;
  out["truncated"] = static_cast<long long>(offset + certs.size()) < total.integer;
  return out;
}

nlohmann::json PassiveSslQuery::similar_tlsh(const std::string& raw_tlsh, int max_distance, std::size_t limit,
                                             std::size_t offset, std::size_t max_scan) {
  const std::string tlsh = text::ascii_lower(raw_tlsh);
  struct Match {
    int distance;
    std::string tlsh;
    long long sessions;
  };
  std::vector<Match> matches;
  std::size_t scanned = 0;
  std::string cursor = "0";
  bool complete = true;
  const std::string all = prefix_ + "all:tlsh";
  do {
    auto r = redis_.command({"ZSCAN", all, cursor, "COUNT", "1000"});
    if (r.is_error()) throw core::RedisError("ZSCAN: " + r.str);
    if (r.elements.size() != 2) throw core::RedisError("ZSCAN: unexpected reply");
    cursor = r.elements[0].str;
    auto v = r.elements[1].as_strings();
    for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
      if (scanned >= max_scan) {
        complete = false;
        break;
      }
      ++scanned;
      auto d = tlsh_distance(tlsh, v[i]);
      if (d && *d <= max_distance) matches.push_back({*d, v[i], std::atoll(v[i + 1].c_str())});
    }
  } while (complete && cursor != "0");
  std::sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.tlsh < b.tlsh;
  });
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t i = offset; i < matches.size() && list.size() < limit; ++i) {
    const auto& m = matches[i];
    auto ids = redis_.command({"ZREVRANGE", prefix_ + "idx:tlsh:" + m.tlsh, "0", "9"});
    if (ids.is_error()) throw core::RedisError("ZREVRANGE: " + ids.str);
    list.push_back({{"tlsh", m.tlsh},
                    {"distance", m.distance},
                    {"sessions", m.sessions},
                    {"session_ids", ids.as_strings()}});
  }
  return {{"tlsh", tlsh},
          {"distance", max_distance},
          {"total", matches.size()},
          {"matches", list},
          {"scanned", scanned},
          {"complete", complete},
          {"truncated", offset + list.size() < matches.size()}};
}

nlohmann::json PassiveSslQuery::info() {
  auto replies = redis_.pipeline({{"ZCARD", prefix_ + "all:ja3"},
                                  {"ZCARD", prefix_ + "all:ja3s"},
                                  {"ZCARD", prefix_ + "all:cert"},
                                  {"HGETALL", prefix_ + "stats"},
                                  {"ZCARD", prefix_ + "all:pubkey"},
                                  {"ZCOUNT", prefix_ + "all:pubkey", "2", "+inf"},
                                  {"ZCARD", prefix_ + "all:tlsh"}});
  for (auto& r : replies)
    if (r.is_error()) throw core::RedisError("info: " + r.str);
  nlohmann::json stats = nlohmann::json::object();
  auto v = replies[3].as_strings();
  for (std::size_t i = 0; i + 1 < v.size(); i += 2) stats[v[i]] = std::atoll(v[i + 1].c_str());
  return {{"software", "d4-passivessl"},       {"ja3", replies[0].integer},
          {"ja3s", replies[1].integer},        {"certificates", replies[2].integer},
          {"public_keys", replies[4].integer}, {"shared_public_keys", replies[5].integer},
          {"tlsh", replies[6].integer},        {"stats", stats}};
}

void mount_passivessl_api(core::http::Router& router, const core::RedisEndpoint& storage,
                          PassiveSslApiOptions options) {
  auto pool = std::make_shared<core::RedisClientPool>(storage);
  auto opts = std::make_shared<const PassiveSslApiOptions>(std::move(options));
  router.set_middleware(core::http::bearer_token_middleware(opts->tokens));
  auto with_client = [pool](const std::function<nlohmann::json(PassiveSslQuery&)>& fn,
                            const std::string& prefix) {
    try {
      auto j = pool->with_client([&](core::RedisClient& client) {
        PassiveSslQuery q(client, prefix);
        return fn(q);
      });
      return j.is_null() ? core::http::Response::error(404, "not found") : core::http::Response::json(200, j);
    } catch (const core::RedisError& e) {
      return core::http::Response::error(503, std::string("storage unavailable: ") + e.what());
    }
  };
  // limit (default 100, at most max_limit, > 0) and offset from the query string.
  struct Page {
    std::size_t limit = 100, offset = 0;
  };
  auto number = [](core::http::Request& req, const char* name, std::size_t& out) -> bool {
    auto it = req.query.find(name);
    if (it == req.query.end()) return true;
    unsigned long long v = 0;
    auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || p != it->second.data() + it->second.size()) return false;
    out = static_cast<std::size_t>(v);
    return true;
  };
  auto page = [opts, number](core::http::Request& req) -> std::optional<Page> {
    Page pg;
    if (!number(req, "limit", pg.limit) || !number(req, "offset", pg.offset) || pg.limit == 0)
      return std::nullopt;
    pg.limit = std::min(pg.limit, opts->max_limit);
    return pg;
  };
  const auto bad_page = [] {
    return core::http::Response::error(400, "limit and offset must be non-negative integers (limit > 0)");
  };
  for (std::string kind : {"ja3", "ja3s", "cert", "sni", "ip"}) {
    router.get("/" + kind + "/{value}", [kind, opts, with_client, page, bad_page](core::http::Request& req) {
      auto pg = page(req);
      if (!pg) return bad_page();
      std::string value = req.param("value").value_or("");
      return with_client([&](PassiveSslQuery& q) { return q.lookup(kind, value, pg->limit, pg->offset); },
                         opts->prefix);
    });
  }
  router.get("/pubkey/{value}", [opts, with_client, page, bad_page](core::http::Request& req) {
    auto pg = page(req);
    if (!pg) return bad_page();
    std::string value = req.param("value").value_or("");
    return with_client([&](PassiveSslQuery& q) { return q.public_key(value, pg->limit, pg->offset); },
                       opts->prefix);
  });
  router.get("/tlsh/{value}", [opts, with_client, page, bad_page, number](core::http::Request& req) {
    auto pg = page(req);
    if (!pg) return bad_page();
    std::size_t distance = 100;
    if (!number(req, "distance", distance) || distance > static_cast<std::size_t>(opts->tlsh_max_distance))
      return core::http::Response::error(
          400, "distance must be an integer from 0 to " + std::to_string(opts->tlsh_max_distance));
    std::string value = req.param("value").value_or("");
    if (!is_tlsh_digest(value)) return core::http::Response::error(400, "not a TLSH digest (70 hex digits)");
    return with_client(
        [&](PassiveSslQuery& q) {
          return q.similar_tlsh(value, static_cast<int>(distance), pg->limit, pg->offset,
                                opts->tlsh_max_scan);
        },
        opts->prefix);
  });
  router.get("/session/{id}", [opts, with_client](core::http::Request& req) {
    std::string id = req.param("id").value_or("");
    return with_client([&](PassiveSslQuery& q) { return q.session(id); }, opts->prefix);
  });
  router.get("/info", [opts, with_client](core::http::Request&) {
    return with_client([](PassiveSslQuery& q) { return q.info(); }, opts->prefix);
  });
}

}  // namespace d4::analyzers::tls
