#pragma once
// TLS for sensor connections, on OpenSSL directly (not asio::ssl::stream, whose two 17 KB record
// buffers per connection would cost 340 MB for 10,000 idle sensors). OpenSSL reads and writes the
// socket itself; SSL_MODE_RELEASE_BUFFERS frees its buffers while a connection is idle.
#include <filesystem>
#include <memory>
#include <string>

struct ssl_ctx_st;

namespace d4::server {

// TLS 1.2 suites offered by default: forward-secret AEAD only (no CBC, no SHA-1 MAC, no static
// RSA key exchange). TLS 1.3 suites are all AEAD and keep OpenSSL's defaults.
inline constexpr const char* kDefaultTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Whether OpenSSL accepts `ciphers` as a TLS 1.2 cipher list (at least one known suite).
bool valid_tls12_cipher_list(const std::string& ciphers);

struct TlsOptions {
  std::filesystem::path cert_file;                   // PEM certificate chain
  std::filesystem::path key_file;                    // PEM private key
  std::filesystem::path client_ca_file;              // set: request and verify client certificates
  bool require_client_cert = false;                  // with client_ca_file: refuse clients without one
  std::string min_version = "1.2";                   // "1.2" or "1.3"
  std::string tls12_ciphers = kDefaultTls12Ciphers;  // OpenSSL cipher list; TLS 1.3 suites unchanged
};

using TlsContext = std::shared_ptr<ssl_ctx_st>;

// Throws std::runtime_error with OpenSSL's reason on any problem (missing file, key mismatch).
TlsContext make_tls_context(const TlsOptions& options);

// Writes a self-signed certificate (EC P-256, SAN localhost/127.0.0.1/::1 plus `hostname`) and
// its key (mode 0600) as <dir>/server.crt and <dir>/server.key. Throws on failure.
void generate_self_signed_certificate(const std::filesystem::path& dir, const std::string& hostname,
                                      int valid_days = 825);

// The last OpenSSL error of this thread as text (and clears the queue).
std::string openssl_error_text();

}  // namespace d4::server
