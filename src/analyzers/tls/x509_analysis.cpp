#include "analyzers/tls/x509_analysis.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "core/digest.hpp"
#include "protocol/encoding.hpp"

namespace d4::analyzers::tls {
namespace {

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct GroupFree {
  void operator()(EC_GROUP* g) const { EC_GROUP_free(g); }
};
struct PointFree {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};

std::string decimal(const BIGNUM* bn) {
  if (!bn) return {};
  char* s = BN_bn2dec(bn);
  if (!s) return {};
  std::string out(s);
  OPENSSL_free(s);
  return out;
}

Bn bn_param(const EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return Bn(bn);
}

void ec_parameters(const EVP_PKEY* key, PublicKeyDetails& out) {
  auto& p = out.parameters;
  auto add = [&](const char* name, std::string value) {
    if (!value.empty()) p.emplace_back(name, std::move(value));
  };
  add("X", decimal(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X).get()));
  add("Y", decimal(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y).get()));
  char group_name[80] = {0};
  std::size_t len = 0;
  int nid = NID_undef;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group_name, sizeof group_name, &len) ==
      1) {
    add("curve_name", group_name);
    nid = OBJ_txt2nid(group_name);
    if (nid == NID_undef) nid = EC_curve_nist2nid(group_name);
  } else {
    ERR_clear_error();
  }
  add("bitsize", std::to_string(out.bits));
  // The curve itself: from its name (certificates use named curves), else from explicit parameters.
  std::unique_ptr<EC_GROUP, GroupFree> group(nid != NID_undef ? EC_GROUP_new_by_curve_name(nid) : nullptr);
  if (group) {
    Bn prime(BN_new()), a(BN_new()), b(BN_new()), gx(BN_new()), gy(BN_new());
    if (EC_GROUP_get_curve(group.get(), prime.get(), a.get(), b.get(), nullptr) == 1) {
      add("P", decimal(prime.get()));
      add("N", decimal(EC_GROUP_get0_order(group.get())));
      add("B", decimal(b.get()));
    }
    const EC_POINT* g = EC_GROUP_get0_generator(group.get());
    if (g && EC_POINT_get_affine_coordinates(group.get(), g, gx.get(), gy.get(), nullptr) == 1) {
      add("Gx", decimal(gx.get()));
      add("Gy", decimal(gy.get()));
    }
  } else {
    add("P", decimal(bn_param(key, OSSL_PKEY_PARAM_EC_P).get()));
    add("N", decimal(bn_param(key, OSSL_PKEY_PARAM_EC_ORDER).get()));
    add("B", decimal(bn_param(key, OSSL_PKEY_PARAM_EC_B).get()));
  }
  ERR_clear_error();
}

PublicKeyDetails describe(EVP_PKEY* key, std::span<const std::uint8_t> spki_der) {
  PublicKeyDetails out;
  out.sha256 = core::sha256_hex(spki_der);
  out.bits = EVP_PKEY_get_bits(key);
  auto add = [&](const char* name, std::string value) {
    if (!value.empty()) out.parameters.emplace_back(name, std::move(value));
  };
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS: {
      out.type = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "RSA" : "RSA-PSS";
      Bn n = bn_param(key, OSSL_PKEY_PARAM_RSA_N);
      add("modulus", decimal(n.get()));
      add("exponent", decimal(bn_param(key, OSSL_PKEY_PARAM_RSA_E).get()));
      if (n) add("modulus_size", std::to_string(BN_num_bytes(n.get())));
      break;
    }
    case EVP_PKEY_DSA:
      out.type = "DSA";
      add("P", decimal(bn_param(key, OSSL_PKEY_PARAM_FFC_P).get()));
      add("Q", decimal(bn_param(key, OSSL_PKEY_PARAM_FFC_Q).get()));
      add("G", decimal(bn_param(key, OSSL_PKEY_PARAM_FFC_G).get()));
      add("Y", decimal(bn_param(key, OSSL_PKEY_PARAM_PUB_KEY).get()));
      break;
    case EVP_PKEY_EC:
      out.type = "EC";
      ec_parameters(key, out);
      break;
    case EVP_PKEY_ED25519:
      out.type = "ED25519";
      break;
    case EVP_PKEY_ED448:
      out.type = "ED448";
      break;
    case EVP_PKEY_X25519:
      out.type = "X25519";
      break;
    case EVP_PKEY_X448:
      out.type = "X448";
      break;
    default: {
      // Any other algorithm (GOST, SM2, post-quantum...): recorded by name, without parameters.
      const char* name = EVP_PKEY_get0_type_name(key);
      out.type = name ? name : "unknown";
      break;
    }
  }
  ERR_clear_error();
  return out;
}

}  // namespace

std::optional<PublicKeyDetails> describe_public_key(std::span<const std::uint8_t> spki_der) {
  const unsigned char* p = spki_der.data();
  std::unique_ptr<EVP_PKEY, PkeyFree> key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (!key) {
    ERR_clear_error();
    return std::nullopt;
  }
  return describe(key.get(), spki_der);
}

std::vector<ChainEntry> analyze_certificates(const std::vector<std::span<const std::uint8_t>>& ders) {
  const std::size_t n = ders.size();
  std::vector<std::unique_ptr<X509, X509Free>> certs(n);
  std::vector<ChainEntry> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char* p = ders[i].data();
    certs[i].reset(d2i_X509(nullptr, &p, static_cast<long>(ders[i].size())));
    if (!certs[i]) {
      ERR_clear_error();
      continue;
    }
    X509* x = certs[i].get();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    X509_digest(x, EVP_sha1(), md, &md_len);
    protocol::append_hex(out[i].sha1, {md, md_len});
    out[i].is_ca = X509_check_ca(x) > 0;
    EVP_PKEY* key = X509_get0_pubkey(x);
    out[i].is_self_signed = key && X509_check_issued(x, x) == X509_V_OK && X509_verify(x, key) == 1;
    if (key) {
      unsigned char* spki = nullptr;
      int len = i2d_PUBKEY(key, &spki);
      if (len > 0) {
        out[i].public_key = describe(key, {spki, static_cast<std::size_t>(len)});
        OPENSSL_free(spki);
      }
    }
    ERR_clear_error();
  }
  // The issuer of each certificate: another certificate of the list that passes the name and key
  // identifier checks and whose key verifies the signature (the first such one in list order).
  std::vector<bool> claimed_issuer_sent(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    if (!certs[i] || out[i].is_self_signed) continue;
    const X509_NAME* wanted = X509_get_issuer_name(certs[i].get());
    for (std::size_t j = 0; j < n; ++j) {
      if (!certs[j]) continue;
      if (X509_NAME_cmp(wanted, X509_get_subject_name(certs[j].get())) == 0) claimed_issuer_sent[i] = true;
      if (j == i || out[j].sha1 == out[i].sha1 || out[i].issuer) continue;
      EVP_PKEY* key = X509_get0_pubkey(certs[j].get());
      if (key && X509_check_issued(certs[j].get(), certs[i].get()) == X509_V_OK &&
          X509_verify(certs[i].get(), key) == 1)
        out[i].issuer = j;
    }
    ERR_clear_error();
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!certs[i]) continue;
    std::vector<std::size_t> path{i};
    bool valid = true;
    std::size_t cur = i;
    while (!out[cur].is_self_signed) {
      if (!out[cur].issuer) {
        valid = !claimed_issuer_sent[cur];
        break;
      }
      std::size_t next = *out[cur].issuer;
      if (std::find(path.begin(), path.end(), next) != path.end()) {  // a loop of cross-signatures
        valid = false;
        break;
      }
      path.push_back(next);
      cur = next;
    }
    out[i].is_valid_chain = valid;
    for (auto it = path.rbegin(); it != path.rend(); ++it) out[i].chain.push_back(out[*it].sha1);
  }
  return out;
}

}  // namespace d4::analyzers::tls
