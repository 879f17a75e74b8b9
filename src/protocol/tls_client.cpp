#include "protocol/tls_client.hpp"

#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace d4::protocol {
namespace {

std::string tls_client_openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out;
}

bool tls_client_is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

ssl_ctx_st* new_tls_client_context(const TlsClientSettings& tls) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) throw std::runtime_error("TLS: cannot create a context: " + tls_client_openssl_errors());
  auto fail = [&](const std::string& what) {
    std::string detail = tls_client_openssl_errors();
    SSL_CTX_free(ctx);
    throw std::runtime_error("TLS: " + what + (detail.empty() ? "" : ": " + detail));
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  int ok = tls.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                               : SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr);
  if (ok != 1)
    fail(tls.ca_file.empty() ? "cannot load the system's CA certificates"
                             : "cannot load CA file " + tls.ca_file);
  if (!tls.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1)
      fail("cannot load client certificate " + tls.cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      fail("cannot load client key " + tls.key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
      fail("client key " + tls.key_file + " does not match certificate " + tls.cert_file);
  }
  return ctx;
}

void prepare_tls_client(SSL* ssl, const TlsClientSettings& tls, const std::string& host) {
  const std::string& name = tls.server_name.empty() ? host : tls.server_name;
  if (tls_client_is_ip_literal(name)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
  } else {
    // SSL_set_tlsext_host_name() is a macro with a C cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(name.c_str()));
    SSL_set1_host(ssl, name.c_str());
  }
}

std::string tls_client_failure(SSL* ssl, const TlsClientSettings& tls, std::string detail, bool handshake) {
  long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  std::string queue = tls_client_openssl_errors();
  if (detail.empty()) detail = queue.empty() ? "connection closed during the TLS handshake" : queue;
  if (verify != X509_V_OK) {
    std::string why =
        "TLS: the server's certificate was refused: " + std::string(X509_verify_cert_error_string(verify));
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
      return why + " (it does not name the host; set sni= to a name it carries)";
    return why + (tls.ca_file.empty() ? " (no ca= given: checked against the system's CA certificates)"
                                      : " (is " + tls.ca_file + " the CA that signed it?)");
  }
  // TLS 1.3: a server that demands a client certificate says so with an alert after the client
  // finished its handshake, so this shows on the first read; often only as a reset connection
  // (the server closes with our first command unread).
  bool refused = detail.find("certificate required") != std::string::npos ||
                 detail.find("handshake failure") != std::string::npos;
  if (refused && tls.cert_file.empty())
    return "TLS: the server refused the connection (" + detail +
           "): it requires a client certificate (set cert= and key=)";
  if (handshake && tls.cert_file.empty())
    return "TLS: the server closed the connection during the handshake (" + detail +
           "); if it requires client certificates (Redis: tls-auth-clients), set cert= and key=";
  return "TLS: " + detail;
}

}  // namespace d4::protocol
