#pragma once
// X.509 certificate facts for passive SSL, decoded with OpenSSL (d2i_X509): SHA-1 (the CertHash
// of ja3-jl) and SHA-256 fingerprints, subject and issuer (RFC 2253 text and Go-style
// components), validity, subject alternative names, CA flag, key and signature algorithms.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace d4::analyzers::tls {

struct NameAttribute {
  std::vector<int> oid;    // e.g. {2, 5, 4, 3}
  std::string short_name;  // CN, O, OU, C, L, ST...
  std::string value;       // UTF-8
};

struct CertificateInfo {
  std::vector<std::uint8_t> der;
  std::string sha1, sha256;     // lower-case hex
  std::string subject, issuer;  // RFC 2253 (most specific first, as Go's pkix.Name.String())
  std::vector<NameAttribute> subject_attributes, issuer_attributes;  // in certificate order
  std::string not_before, not_after;                                 // RFC 3339, UTC ("2019-01-18T08:37:26Z")
  std::int64_t not_before_epoch = 0, not_after_epoch = 0;
  std::vector<std::string> dns_names, email_addresses, ip_addresses, uris;
  bool basic_constraints_valid = false;
  bool is_ca = false;
  bool self_issued = false;  // subject == issuer
  long version = 0;          // 1..3
  std::string serial_hex;
  std::string signature_algorithm;   // e.g. sha256WithRSAEncryption
  std::string public_key_algorithm;  // rsaEncryption, id-ecPublicKey, ED25519...
  int public_key_bits = 0;
  std::vector<std::uint8_t> spki_der;  // SubjectPublicKeyInfo
  std::string spki_sha256;
};

// Parses one DER certificate; nullopt (with a reason in *error) if OpenSSL rejects it.
std::optional<CertificateInfo> parse_certificate(std::span<const std::uint8_t> der,
                                                 std::string* error = nullptr);

// The ja3-jl "Certificates" element: CertHash, Raw, RawSubjectPublicKeyInfo, Subject/Issuer objects
// shaped like Go's pkix.Name (Country, Organization, OrganizationalUnit, Locality, Province,
// StreetAddress, PostalCode, SerialNumber, CommonName, Names), NotBefore, NotAfter, IsCA,
// BasicConstraintsValid, Version, DNSNames, EmailAddresses, IPAddresses, URIs, plus our own keys
// (SHA256, SubjectString, IssuerString, SerialNumberHex, SignatureAlgorithmName,
// PublicKeyAlgorithmName, PublicKeyBits).
nlohmann::ordered_json certificate_json(const CertificateInfo& c);

// Replaces invalid UTF-8 sequences by U+FFFD, so that names taken from certificates can always be
// written as JSON.
std::string utf8_sanitize(std::string_view s);

}  // namespace d4::analyzers::tls
