#pragma once
// TLS client set-up with OpenSSL, one copy for the Redis clients: the blocking and asynchronous
// ones of the core library and the sensor client's d4server source (rediss:// endpoints). The
// server's certificate is always verified (against the CA file, or the system's trust store) and
// must name the expected host; a client certificate is presented when one is given. Failures are
// explained in words an operator can act on (which file, which check).
#include <string>

struct ssl_st;
struct ssl_ctx_st;

namespace d4::protocol {

struct TlsClientSettings {
  std::string ca_file;    // empty: the system's trust store
  std::string cert_file;  // client certificate (e.g. Redis's tls-auth-clients), with key_file
  std::string key_file;
  std::string server_name;  // SNI and the name the certificate must carry; empty: the host
  friend bool operator==(const TlsClientSettings&, const TlsClientSettings&) = default;
};

// A new client SSL_CTX (the caller frees it); throws std::runtime_error naming the file that
// cannot be loaded (CA, certificate, key) or a key that does not match its certificate.
ssl_ctx_st* new_tls_client_context(const TlsClientSettings& tls);

// Sets SNI and the name the server's certificate must carry on `ssl`: tls.server_name, else `host`
// (a literal IP address is matched against the certificate's IP addresses, and sent without SNI).
void prepare_tls_client(ssl_st* ssl, const TlsClientSettings& tls, const std::string& host);

// Why a TLS connection on `ssl` (may be null) failed: the certificate check that refused the
// server (with a hint at ca= or sni=), or `detail` (the I/O error's text; empty: OpenSSL's error
// queue) with a hint when the server demands a client certificate. `handshake`: the failure came
// before the first reply, when a server that requires client certificates closes the connection.
// Empties OpenSSL's error queue.
std::string tls_client_failure(ssl_st* ssl, const TlsClientSettings& tls, std::string detail, bool handshake);

}  // namespace d4::protocol
