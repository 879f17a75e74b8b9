#pragma once
// Test certificates made with OpenSSL in the test itself: keys of several types, names with any
// attributes, certificates signed by any key (to build chains, wrong issuers, shared keys).
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/digest.hpp"

namespace d4::test::an {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Key = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline Key make_ec_key(const char* curve = "P-256") {
  Key k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  if (!k) throw std::runtime_error("EC keygen");
  return k;
}
inline Key make_rsa_key(std::size_t bits = 2048) {
  Key k(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  if (!k) throw std::runtime_error("RSA keygen");
  return k;
}
inline Key make_ed25519_key() {
  Key k(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!k) throw std::runtime_error("Ed25519 keygen");
  return k;
}
inline Key make_dsa_key() {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> pctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "DSA", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* params = nullptr;
  if (!pctx || EVP_PKEY_paramgen_init(pctx.get()) != 1 ||
      EVP_PKEY_CTX_set_dsa_paramgen_bits(pctx.get(), 1024) != 1 ||
      EVP_PKEY_paramgen(pctx.get(), &params) != 1)
    throw std::runtime_error("DSA paramgen");
  Key p(params);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> kctx(EVP_PKEY_CTX_new(p.get(), nullptr),
                                                                   EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  if (!kctx || EVP_PKEY_keygen_init(kctx.get()) != 1 || EVP_PKEY_keygen(kctx.get(), &key) != 1)
    throw std::runtime_error("DSA keygen");
  return Key(key);
}

using Name = std::vector<std::pair<std::string, std::string>>;  // (short name or OID, UTF-8 value)

struct CertSpec {
  Name subject;
  Name issuer;  // empty: same as subject
  bool ca = false;
  long serial = 1;
  bool key_identifiers = false;  // subject/authority key identifier extensions
};

// DER certificate for subject_key, signed by signing_key (SHA-256; Ed25519 keys sign without digest).
inline std::vector<std::uint8_t> make_certificate(const CertSpec& spec, EVP_PKEY* subject_key,
                                                  EVP_PKEY* signing_key,
                                                  EVP_PKEY* issuer_key_for_aki = nullptr) {
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), spec.serial);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400L * 365);
  auto fill = [](X509_NAME* n, const Name& entries) {
    for (const auto& [field, value] : entries)
      if (X509_NAME_add_entry_by_txt(n, field.c_str(), MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.data()),
                                     static_cast<int>(value.size()), -1, 0) != 1)
        throw std::runtime_error("bad name attribute " + field);
  };
  fill(X509_get_subject_name(x.get()), spec.subject);
  fill(X509_get_issuer_name(x.get()), spec.issuer.empty() ? spec.subject : spec.issuer);
  X509_set_pubkey(x.get(), subject_key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const char* value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!e) throw std::runtime_error("extension");
    X509_add_ext(x.get(), e, -1);
    X509_EXTENSION_free(e);
  };
  add_ext(NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (spec.ca) add_ext(NID_key_usage, "critical,keyCertSign,cRLSign");
  if (spec.key_identifiers) {
    add_ext(NID_subject_key_identifier, "hash");
    if (issuer_key_for_aki) {
      // The authority key identifier is the issuer's subject key identifier: a throwaway
      // certificate of the issuer key gives it.
      std::unique_ptr<X509, decltype(&X509_free)> issuer(X509_new(), X509_free);
      X509_set_pubkey(issuer.get(), issuer_key_for_aki);
      X509V3_CTX ictx;
      X509V3_set_ctx_nodb(&ictx);
      X509V3_set_ctx(&ictx, issuer.get(), issuer.get(), nullptr, nullptr, 0);
      X509_EXTENSION* ski = X509V3_EXT_conf_nid(nullptr, &ictx, NID_subject_key_identifier, "hash");
      X509_add_ext(issuer.get(), ski, -1);
      X509_EXTENSION_free(ski);
      X509V3_set_ctx(&ctx, issuer.get(), x.get(), nullptr, nullptr, 0);
      add_ext(NID_authority_key_identifier, "keyid:always");
    }
  }
  const EVP_MD* md = EVP_PKEY_get_base_id(signing_key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_sign(x.get(), signing_key, md) <= 0) throw std::runtime_error("X509_sign");
  unsigned char* der = nullptr;
  int len = i2d_X509(x.get(), &der);
  std::vector<std::uint8_t> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

inline std::string sha1_hex_of(const std::vector<std::uint8_t>& data) {
  return d4::core::sha1_hex(std::span<const std::uint8_t>(data));
}

}  // namespace d4::test::an
