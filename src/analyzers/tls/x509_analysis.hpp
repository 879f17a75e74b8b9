#pragma once
// What passive SSL learns beyond one certificate's fields: the public key's parameters (to see
// one key reused by several certificates) and how the certificates a server sent chain together,
// checked with OpenSSL (issuer name and key identifiers with X509_check_issued, then the signature
// verified with the candidate issuer's public key) rather than by comparing name strings.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace d4::analyzers::tls {

struct PublicKeyDetails {
  std::string sha256;  // lower-case hex SHA-256 of the DER SubjectPublicKeyInfo
  std::string type;    // RSA, RSA-PSS, DSA, EC, ED25519, ED448, X25519, X448, or OpenSSL's name
  int bits = 0;
  // Type-specific parameters with the reference schema's names, big integers in decimal:
  // RSA modulus, exponent, modulus_size (bytes); DSA P, Q, G, Y; EC X, Y, curve_name, bitsize
  // and the curve's P, N (order), B, Gx, Gy. Empty for other key types.
  std::vector<std::pair<std::string, std::string>> parameters;
};

// From a DER SubjectPublicKeyInfo; nullopt if OpenSSL cannot decode it.
std::optional<PublicKeyDetails> describe_public_key(std::span<const std::uint8_t> spki_der);

struct ChainEntry {
  std::string sha1;
  bool is_ca = false;
  bool is_self_signed = false;        // issued by itself and its signature verifies with its own key
  std::optional<std::size_t> issuer;  // index (in the input) of the certificate that signed it
  // SHA-1s from the top of the verified path down to this certificate (itself last).
  std::vector<std::string> chain;
  // Every link of the path is verified, and the path ends at a self-signed certificate or at a
  // certificate whose issuer was not sent; false when a certificate named as issuer was sent but
  // does not verify (wrong key, or a self-issued certificate whose signature fails), or on a loop.
  bool is_valid_chain = false;
  std::optional<PublicKeyDetails> public_key;
};

// One entry per input DER, in input order (certificates OpenSSL cannot decode give an entry with
// an empty sha1). The input order does not matter for the chains.
std::vector<ChainEntry> analyze_certificates(const std::vector<std::span<const std::uint8_t>>& ders);

}  // namespace d4::analyzers::tls
