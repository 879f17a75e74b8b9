#include "stack/self_signed.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace d4::stack {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

File open_private(const std::filesystem::path& p, bool secret) {
  mode_t old = umask(secret ? 0077 : 0022);
  FILE* f = std::fopen(p.c_str(), "wb");
  umask(old);
  if (!f) throw std::runtime_error("cannot write " + p.string());
  return File(f);
}

void check(int ok, const char* what) {
  if (ok != 1) throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

}  // namespace

void write_self_signed_certificate(const CertificateRequest& request, const std::filesystem::path& cert_file,
                                   const std::filesystem::path& key_file) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                                                          &EVP_PKEY_free);
  if (!key) throw std::runtime_error("OpenSSL: key generation failed");
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  check(X509_set_version(cert.get(), 2), "X509_set_version");
  // A random 128-bit serial number.
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), &BN_free);
  check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "BN_rand");
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * request.days);
  check(X509_set_pubkey(cert.get(), key.get()), "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("D4"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(request.common_name.c_str()), -1, -1, 0);
  check(X509_set_issuer_name(cert.get(), name), "X509_set_issuer_name");
  std::string san;
  for (const auto& d : request.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : request.ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw std::runtime_error("OpenSSL: bad extension " + value);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  };
  if (!san.empty()) add_ext(NID_subject_alt_name, san);
  add_ext(NID_basic_constraints, "critical,CA:FALSE");
  add_ext(NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(NID_ext_key_usage, "serverAuth");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0)
    throw std::runtime_error("OpenSSL: X509_sign failed");

  {
    File f = open_private(key_file, true);
    check(PEM_write_PrivateKey(f.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
          "PEM_write_PrivateKey");
  }
  File f = open_private(cert_file, false);
  check(PEM_write_X509(f.get(), cert.get()), "PEM_write_X509");
}

std::string certificate_fingerprint(const std::filesystem::path& cert_file) {
  FILE* f = std::fopen(cert_file.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot read " + cert_file.string());
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!cert) throw std::runtime_error("not a PEM certificate: " + cert_file.string());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  X509_free(cert);
  std::string out;
  char buf[4];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02X", md[i]);
    if (i) out += ':';
    out += buf;
  }
  return out;
}

}  // namespace d4::stack
