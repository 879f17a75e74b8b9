#include "server/tls.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>

namespace d4::server {

std::string openssl_error_text() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

bool valid_tls12_cipher_list(const std::string& ciphers) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  bool ok = ctx && SSL_CTX_set_cipher_list(ctx.get(), ciphers.c_str()) == 1;
  ERR_clear_error();
  return ok;
}

TlsContext make_tls_context(const TlsOptions& o) {
  ERR_clear_error();
  TlsContext ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw std::runtime_error("TLS: " + openssl_error_text());
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, o.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(c, o.tls12_ciphers.c_str()) != 1)
    throw std::runtime_error("TLS cipher list \"" + o.tls12_ciphers + "\": " + openssl_error_text());
  // Idle connections give their read/write buffers back; sensors only ever send.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  // Many sensor clients (socat, the C client) close without close_notify: treat that as EOF.
  SSL_CTX_set_options(
      c, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(c, o.cert_file.c_str()) != 1)
    throw std::runtime_error("TLS certificate " + o.cert_file.string() + ": " + openssl_error_text());
  if (SSL_CTX_use_PrivateKey_file(c, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error("TLS private key " + o.key_file.string() + ": " + openssl_error_text());
  if (SSL_CTX_check_private_key(c) != 1)
    throw std::runtime_error("TLS private key " + o.key_file.string() + " does not match the certificate");
  if (!o.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c, o.client_ca_file.c_str(), nullptr) != 1)
      throw std::runtime_error("TLS client CA " + o.client_ca_file.string() + ": " + openssl_error_text());
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(c, names);
    int mode = SSL_VERIFY_PEER;
    if (o.require_client_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(c, mode, nullptr);
  }
  // No server-side session cache (an entry per sensor would cost memory for nothing): resumption
  // still works through stateless session tickets.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  static const unsigned char kSessionContext[] = "d4-server";
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof kSessionContext - 1);
  return ctx;
}

void generate_self_signed_certificate(const std::filesystem::path& dir, const std::string& hostname,
                                      int valid_days) {
  std::filesystem::create_directories(dir);
  auto fail = [](const std::string& what) { throw std::runtime_error(what + ": " + openssl_error_text()); };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) fail("key generation");
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!cert) fail("certificate");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_new(), BN_free);
  if (RAND_bytes(serial, sizeof serial) != 1) fail("serial");
  serial[0] &= 0x7F;
  BN_bin2bn(serial, sizeof serial, bn.get());
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(valid_days) * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn = hostname.empty() ? "d4-server" : hostname;
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("D4"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  if (!hostname.empty() && hostname != "localhost") san += ",DNS:" + hostname;
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san},
                            std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")},
                            std::pair{NID_ext_key_usage, std::string("serverAuth")}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    if (!ext) fail("certificate extension");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail("signing");

  auto key_path = dir / "server.key";
  auto crt_path = dir / "server.crt";
  mode_t old = umask(077);
  FILE* kf = std::fopen(key_path.c_str(), "wb");
  umask(old);
  if (!kf) throw std::runtime_error("cannot write " + key_path.string());
  bool ok = PEM_write_PrivateKey(kf, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(kf);
  if (!ok) fail("writing " + key_path.string());
  FILE* cf = std::fopen(crt_path.c_str(), "wb");
  if (!cf) throw std::runtime_error("cannot write " + crt_path.string());
  ok = PEM_write_X509(cf, cert.get()) == 1;
  std::fclose(cf);
  if (!ok) fail("writing " + crt_path.string());
}

}  // namespace d4::server
