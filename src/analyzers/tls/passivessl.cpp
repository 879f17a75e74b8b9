#include "analyzers/tls/passivessl.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <ctime>

#include "analyzers/common/encoding.hpp"
#include "analyzers/packet/ip_address.hpp"
#include "analyzers/tls/certificate.hpp"

namespace d4::analyzers::tls {
namespace {

// Counts an observation in a hash and keeps first/last seen as min/max; ARGV: ts, increment,
// then field/value pairs to set.
constexpr std::string_view kTouchScript = R"lua(
local h = KEYS[1]
redis.call('HINCRBY', h, 'count', ARGV[2])
local f = tonumber(redis.call('HGET', h, 'first_seen') or '')
if not f or f > tonumber(ARGV[1]) then redis.call('HSET', h, 'first_seen', ARGV[1]) end
local l = tonumber(redis.call('HGET', h, 'last_seen') or '')
if not l or l < tonumber(ARGV[1]) then redis.call('HSET', h, 'last_seen', ARGV[1]) end
for i = 3, #ARGV, 2 do redis.call('HSET', h, ARGV[i], ARGV[i + 1]) end
return 1
)lua";

std::string sha1_hex(std::string_view s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_sha1(), nullptr);
  std::string out;
  append_hex(out, {d, n});
  return out;
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
  return sha1_hex(key).substr(0, 20);
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
  out.tlsh = str_field(j, "TLSH");
  out.sni = str_field(j, "SNI");
  for (char& c : out.sni) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  out.tls_version = str_field(j, "TLSVersion");
  if (auto a = j.find("ALPN"); a != j.end() && a->is_array())
    for (const auto& x : *a)
      if (x.is_string()) out.alpn.push_back(x.get<std::string>());
  auto ts = parse_rfc3339(str_field(j, "Timestamp"));
  if (!ts) return RecordStatus::BadTimestamp;
  out.ts = *ts;
  auto certs = j.find("Certificates");
  if (certs != j.end() && certs->is_array()) {
    for (const auto& c : *certs) {
      if (!c.is_object()) return RecordStatus::BadJson;
      SslCertificate sc;
      std::string hash = str_field(c, "CertHash");
      std::string raw = str_field(c, "Raw");
      if (!raw.empty()) {
        auto der = base64_decode(raw);
        if (!der) return RecordStatus::CertificateMismatch;
        auto info = parse_certificate(*der);
        if (!info || (!hash.empty() && hash != info->sha1)) return RecordStatus::CertificateMismatch;
        sc.sha1 = info->sha1;
        sc.sha256 = info->sha256;
        sc.subject = info->subject;
        sc.issuer = info->issuer;
        sc.not_before = info->not_before;
        sc.not_after = info->not_after;
        sc.serial = info->serial_hex;
        sc.key_algorithm = info->public_key_algorithm;
        sc.key_bits = info->public_key_bits;
        sc.spki_sha256 = info->spki_sha256;
        sc.is_ca = info->is_ca;
        sc.self_signed = info->self_issued;
        sc.dns_names = info->dns_names;
        sc.raw_b64 = std::move(raw);
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
        sc.self_signed = !sc.subject.empty() && sc.subject == sc.issuer;
        sc.not_before = str_field(c, "NotBefore");
        sc.not_after = str_field(c, "NotAfter");
        if (auto d = c.find("DNSNames"); d != c.end() && d->is_array())
          for (const auto& x : *d)
            if (x.is_string()) sc.dns_names.push_back(x.get<std::string>());
      }
      out.certificates.push_back(std::move(sc));
    }
  }
  return RecordStatus::Ok;
}

PassiveSslStore::PassiveSslStore(core::RedisClient& redis, PassiveSslOptions options)
    : redis_(redis), options_(std::move(options)) {}

void PassiveSslStore::add(const SslSessionRecord& r) {
  pending_.push_back(r);
}
void PassiveSslStore::reject(std::string_view reason) {
  rejects_.emplace_back(reason);
}

void PassiveSslStore::flush() {
  if (pending_.empty() && rejects_.empty()) return;
  const std::string& p = options_.prefix;
  std::vector<std::vector<std::string>> cmds;
  auto load = redis_.command({"SCRIPT", "LOAD", kTouchScript});
  if (load.is_error()) throw core::RedisError("passivessl SCRIPT LOAD: " + load.str);
  const std::string sha = load.str;
  cmds.push_back(
      {"SCRIPT", "LOAD", std::string(kTouchScript)});  // again in the pipeline: survives a restart in between
  for (const auto& r : pending_) {
    std::string id = r.session_id();
    std::string ts = std::to_string(r.ts);
    std::string certs, alpn;
    for (const auto& c : r.certificates) certs += (certs.empty() ? "" : ",") + c.sha1;
    for (const auto& a : r.alpn) alpn += (alpn.empty() ? "" : ",") + a;
    cmds.push_back({"EVALSHA",
                    sha,
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
      cmds.push_back({"EVALSHA", sha, "1", p + "ja3:" + r.ja3_md5, ts, "1", "raw", r.ja3});
      cmds.push_back({"ZINCRBY", p + "all:ja3", "1", r.ja3_md5});
      index("ja3", r.ja3_md5);
    }
    if (!r.ja3s_md5.empty()) {
      cmds.push_back({"EVALSHA", sha, "1", p + "ja3s:" + r.ja3s_md5, ts, "1", "raw", r.ja3s});
      cmds.push_back({"ZINCRBY", p + "all:ja3s", "1", r.ja3s_md5});
      index("ja3s", r.ja3s_md5);
      if (!r.ja3_md5.empty()) cmds.push_back({"ZINCRBY", p + "ja3s_of_ja3:" + r.ja3_md5, "1", r.ja3s_md5});
    }
    index("sni", r.sni);
    index("ip", r.server_ip);
    index("ip", r.client_ip);
    for (std::size_t i = 0; i < r.certificates.size(); ++i) {
      const auto& c = r.certificates[i];
      nlohmann::json names = c.dns_names;
      std::vector<std::string> cmd{"EVALSHA",
                                   sha,
                                   "1",
                                   p + "cert:" + c.sha1,
                                   ts,
                                   "1",
                                   "subject",
                                   c.subject,
                                   "issuer",
                                   c.issuer,
                                   "is_ca",
                                   c.is_ca ? "1" : "0",
                                   "self_signed",
                                   c.self_signed ? "1" : "0",
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
      if (options_.store_raw_certificates) opt("raw", c.raw_b64);
      // The next certificate of the chain issued this one when its subject is our issuer.
      if (i + 1 < r.certificates.size() && !c.issuer.empty() && r.certificates[i + 1].subject == c.issuer)
        opt("issuer_sha1", r.certificates[i + 1].sha1);
      cmds.push_back(std::move(cmd));
      cmds.push_back({"ZINCRBY", p + "all:cert", "1", c.sha1});
      index("cert", c.sha1);
    }
  }
  if (!pending_.empty()) cmds.push_back({"HINCRBY", p + "stats", "records", std::to_string(pending_.size())});
  for (const auto& reason : rejects_) cmds.push_back({"HINCRBY", p + "stats", "rejected:" + reason, "1"});
  auto replies = redis_.pipeline(cmds);
  for (std::size_t i = 0; i < replies.size(); ++i)
    if (replies[i].is_error())
      throw core::RedisError("passivessl write (" + cmds[i][0] + "): " + replies[i].str);
  pending_.clear();
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
    if (k == "count" || k == "first_seen" || k == "last_seen" || k == "server_port" || k == "client_port" ||
        k == "key_bits") {
      long long n = 0;
      auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), n);
      j[k] = ec == std::errc() ? nlohmann::json(n) : nlohmann::json(val);
    } else if (k == "is_ca" || k == "self_signed") {
      j[k] = val == "1";
    } else if (k == "dns_names") {
      auto parsed = nlohmann::json::parse(val, nullptr, false);
      j[k] = parsed.is_discarded() ? nlohmann::json::array() : parsed;
    } else if (k == "certs" || k == "alpn") {
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
    for (char& c : value) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  nlohmann::json out;
  if (kind == "ja3" || kind == "ja3s" || kind == "cert") {
    out[kind] = hash_object(prefix_ + kind + ":" + value);
    if (!out[kind].is_null()) out[kind]["hash"] = value;
  }
  if (kind == "ja3") {
    auto r = redis_.command({"ZREVRANGE", prefix_ + "ja3s_of_ja3:" + value, "0", "99", "WITHSCORES"});
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

nlohmann::json PassiveSslQuery::info() {
  auto replies = redis_.pipeline({{"ZCARD", prefix_ + "all:ja3"},
                                  {"ZCARD", prefix_ + "all:ja3s"},
                                  {"ZCARD", prefix_ + "all:cert"},
                                  {"HGETALL", prefix_ + "stats"}});
  for (auto& r : replies)
    if (r.is_error()) throw core::RedisError("info: " + r.str);
  nlohmann::json stats = nlohmann::json::object();
  auto v = replies[3].as_strings();
  for (std::size_t i = 0; i + 1 < v.size(); i += 2) stats[v[i]] = std::atoll(v[i + 1].c_str());
  return {{"software", "d4-passivessl"},
          {"ja3", replies[0].integer},
          {"ja3s", replies[1].integer},
          {"certificates", replies[2].integer},
          {"stats", stats}};
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
  for (std::string kind : {"ja3", "ja3s", "cert", "sni", "ip"}) {
    router.get("/" + kind + "/{value}", [kind, opts, with_client](core::http::Request& req) {
      std::size_t limit = 100, offset = 0;
      auto num = [&](const char* name, std::size_t& out) -> bool {
        auto it = req.query.find(name);
        if (it == req.query.end()) return true;
        unsigned long long v = 0;
        auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
        if (ec != std::errc() || p != it->second.data() + it->second.size()) return false;
        out = static_cast<std::size_t>(v);
        return true;
      };
      if (!num("limit", limit) || !num("offset", offset) || limit == 0)
        return core::http::Response::error(400, "limit and offset must be non-negative integers (limit > 0)");
      limit = std::min(limit, opts->max_limit);
      std::string value = req.param("value").value_or("");
      return with_client([&](PassiveSslQuery& q) { return q.lookup(kind, value, limit, offset); },
                         opts->prefix);
    });
  }
  router.get("/session/{id}", [opts, with_client](core::http::Request& req) {
    std::string id = req.param("id").value_or("");
    return with_client([&](PassiveSslQuery& q) { return q.session(id); }, opts->prefix);
  });
  router.get("/info", [opts, with_client](core::http::Request&) {
    return with_client([](PassiveSslQuery& q) { return q.info(); }, opts->prefix);
  });
}

}  // namespace d4::analyzers::tls
