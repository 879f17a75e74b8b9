#pragma once
// Passive SSL: stores the TLS sessions of ja3-jl records (from d4-tls-fingerprint or the reference
// Go sensor, delivered through the D4 server's `analyzer:ja3-jl:<queue>` list as JSON file paths)
// in Redis, deduplicated, and answers queries by JA3, JA3S, certificate, SNI and IP over HTTP.
// The reference analyzer wrote to a PostgreSQL schema; this implementation keeps the same facts
// in Redis (all keys prefixed, default "pssl:"):
//
//   pssl:session:<id>        hash  server_ip, server_port, client_ip, client_port (last), ja3, ja3s,
//                                  sni, alpn, tls_version, certs (SHA-1s, leaf first), tlsh,
//                                  count, first_seen, last_seen
//        <id> = first 20 hex digits of SHA-1(server ip|server port|client ip|ja3|ja3s|sni|certs):
//        the same client meeting the same server the same way is one session (client port excluded)
//   pssl:ja3:<md5>, pssl:ja3s:<md5>  hash  raw, count, first_seen, last_seen
//   pssl:cert:<sha1>         hash  sha256, subject, issuer, not_before, not_after, is_ca,
//                                  is_self_signed, dns_names (JSON), serial, key_algorithm, key_bits,
//                                  spki_sha256 (the public key), chain (SHA-1s, top first, itself
//                                  last), is_valid_chain, issuer_sha1, chain_rank, raw (base64 DER),
//                                  path (file it was imported from), count, first_seen, last_seen
//   pssl:pubkey:<sha256>     hash  type, bits, type parameters (see x509_analysis.hpp), count,
//                                  first_seen, last_seen; <sha256> = SHA-256 of the DER SPKI
//   pssl:pubkey_certs:<sha256> zset  certificate SHA-1 -> last seen (certificates using the key)
//   pssl:all:pubkey          zset  key -> number of certificates using it (>= 2: key reuse)
//   pssl:idx:{ja3,ja3s,cert,sni,ip,tlsh}:<value>  zset  session id -> last seen
//   pssl:ja3s_of_ja3:<md5>   zset  server fingerprints answering a client fingerprint -> sessions
//   pssl:all:{ja3,ja3s,cert,tlsh} zset  value -> sessions seen
//   pssl:seen:{ja3,ja3s,cert}  zset  value -> last seen in a session (epoch seconds): what was seen
//                                  since a time without a scan of everything (the MISP feed's periods)
//   pssl:stats               hash  records, certificates_imported, tlsh_invalid, rejected:<reason>...
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analyzers/tls/x509_analysis.hpp"
#include "core/http_server.hpp"
#include "core/redis_client.hpp"

namespace d4::analyzers::tls {

// Where the store writes what it keeps (the names above, after the prefix); shared with the
// readers (the query API, the MISP feed exporter).
namespace keys {
inline std::string cert(std::string_view prefix, std::string_view sha1) {
  return std::string(prefix) + "cert:" + std::string(sha1);
}
inline std::string ja3(std::string_view prefix, std::string_view md5) {
  return std::string(prefix) + "ja3:" + std::string(md5);
}
inline std::string ja3s(std::string_view prefix, std::string_view md5) {
  return std::string(prefix) + "ja3s:" + std::string(md5);
}
inline std::string ja3s_of_ja3(std::string_view prefix, std::string_view ja3_md5) {
  return std::string(prefix) + "ja3s_of_ja3:" + std::string(ja3_md5);
}
// kind: "ja3", "ja3s" or "cert".
inline std::string seen(std::string_view prefix, std::string_view kind) {
  return std::string(prefix) + "seen:" + std::string(kind);
}
inline constexpr std::string_view kDefaultPrefix = "pssl:";
inline constexpr std::string_view kDefaultStorage = "127.0.0.1:6400/0";
}  // namespace keys

struct SslCertificate {
  std::string sha1, sha256, subject, issuer, not_before, not_after, serial, key_algorithm, spki_sha256;
  int key_bits = 0;
  bool is_ca = false;
  // Verified self-signature when decoded from DER; by name only (subject == issuer) otherwise.
  bool is_self_signed = false;
  std::vector<std::string> dns_names;
  std::string raw_b64;
  // Decoded from DER: the chain fields below were checked cryptographically (x509_analysis.hpp)
  // among the certificates of the same record.
  bool verified = false;
  std::vector<std::string> chain;
  bool is_valid_chain = false;
  std::string issuer_sha1;
  std::optional<PublicKeyDetails> public_key;
  std::string source_path;  // certificate files: where it was read from
};

struct SslSessionRecord {
  std::string server_ip, client_ip;
  std::uint16_t server_port = 0, client_port = 0;
  std::int64_t ts = 0;  // epoch seconds
  std::string ja3, ja3_md5, ja3s, ja3s_md5, tlsh, sni, tls_version;
  std::vector<std::string> alpn;
  std::vector<SslCertificate> certificates;
  std::string session_id() const;
};

enum class RecordStatus { Ok, Empty, BadJson, MissingField, BadTimestamp, CertificateMismatch };
std::string_view to_string(RecordStatus s);

// Parses one ja3-jl line. Certificates with a Raw DER are decoded again (authoritative); a
// CertHash that differs from SHA-1(Raw) rejects the record.
RecordStatus parse_ja3jl(std::string_view line, SslSessionRecord& out);

// One certificate from its DER (a certificate file rather than a session); nullopt if OpenSSL
// cannot decode it.
std::optional<SslCertificate> certificate_from_der(std::span<const std::uint8_t> der);

// RFC 3339 (with optional fraction and offset) to epoch seconds.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

struct PassiveSslOptions {
  std::string prefix{keys::kDefaultPrefix};
  bool store_raw_certificates = true;
};

class PassiveSslStore {
 public:
  PassiveSslStore(core::RedisClient& redis, PassiveSslOptions options = {});
  // Queues a record; written by flush() (throws core::RedisError, pending records kept).
  void add(const SslSessionRecord& r);
  // Queues a certificate read from a file (no session: counters and first/last seen untouched).
  void add_certificate(const SslCertificate& c);
  void reject(std::string_view reason);
  // Every reject() since start, by reason (the inputs' own names: a bounded set).
  const std::map<std::string, std::uint64_t, std::less<>>& rejected_by_reason() const {
    return rejected_by_reason_;
  }
  void flush();
  // Drops everything pending (a queue batch about to be delivered again after a failed write).
  void discard() {
    pending_.clear();
    certificates_.clear();
    rejects_.clear();
  }
  std::size_t pending() const { return pending_.size() + certificates_.size() + rejects_.size(); }

 private:
  core::RedisClient& redis_;
  PassiveSslOptions options_;
  std::vector<SslSessionRecord> pending_;
  std::vector<SslCertificate> certificates_;
  std::vector<std::string> rejects_;
  std::map<std::string, std::uint64_t, std::less<>> rejected_by_reason_;
};

class PassiveSslQuery {
 public:
  PassiveSslQuery(core::RedisClient& redis, std::string prefix = "pssl:")
      : redis_(redis), prefix_(std::move(prefix)) {}
  // kind: ja3, ja3s, cert, sni, ip. Returns {"<kind>": details or null, "total": N, "sessions": [...]}.
  nlohmann::json lookup(const std::string& kind, const std::string& value, std::size_t limit,
                        std::size_t offset);
  nlohmann::json session(const std::string& id);
  // The certificates using a public key (SHA-256 of its SPKI): {"pubkey": details or null,
  // "total": N, "certificates": [...], "truncated": bool}.
  nlohmann::json public_key(const std::string& sha256, std::size_t limit, std::size_t offset);
  // Session TLSH digests within max_distance of tlsh, closest first: {"tlsh", "distance",
  // "total", "matches": [{"tlsh", "distance", "sessions", "session_ids"}], "scanned", "complete",
  // "truncated"}. At most max_scan stored digests are compared ("complete": false beyond).
  nlohmann::json similar_tlsh(const std::string& tlsh, int max_distance, std::size_t limit,
                              std::size_t offset, std::size_t max_scan);
  nlohmann::json info();

 private:
  nlohmann::json hash_object(const std::string& key);
  nlohmann::json certificate(const std::string& sha1, bool with_public_key);
  core::RedisClient& redis_;
  std::string prefix_;
};

struct PassiveSslApiOptions {
  std::vector<std::string> tokens;
  std::string prefix = "pssl:";
  std::size_t max_limit = 10000;
  std::size_t tlsh_max_scan = 1000000;  // stored digests compared per /tlsh query at most
  int tlsh_max_distance = 1000;
};

// GET /ja3/<md5>, /ja3s/<md5>, /cert/<sha1>, /sni/<name>, /ip/<ip>, /session/<id>,
// /pubkey/<sha256>, /tlsh/<digest>?distance=N, /info.
void mount_passivessl_api(core::http::Router& router, const core::RedisEndpoint& storage,
                          PassiveSslApiOptions options);

}  // namespace d4::analyzers::tls
