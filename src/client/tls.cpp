#include "client/tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace d4::client {
namespace {

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

TlsContext::TlsContext(const Settings& s) : verify_(s.verify), server_name_(s.server_name) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) throw UsageError("TLS: cannot create a context: " + openssl_errors());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
  if (verify_) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!s.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx_, s.ca_file.c_str(), nullptr) != 1) {
        std::string e = openssl_errors();
        SSL_CTX_free(ctx_);
        throw UsageError("TLS: cannot load CA file " + s.ca_file + ": " + e);
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx_) != 1) {
      std::string e = openssl_errors();
      SSL_CTX_free(ctx_);
      throw UsageError("TLS: cannot load the system CA store: " + e);
    }
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  }
  if (!s.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx_, s.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, s.cert_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx_) != 1) {
      std::string e = openssl_errors();
      SSL_CTX_free(ctx_);
      throw UsageError("TLS: cannot load client certificate " + s.cert_file + " / key " + s.cert_key_file +
                       ": " + e);
    }
  }
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

TlsSession::TlsSession(const TlsContext& ctx) {
  ssl_ = SSL_new(ctx.get());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);  // ssl_ owns both
  SSL_set_connect_state(ssl_);
  const std::string& name = ctx.server_name();
  if (!name.empty()) {
    if (is_ip(name)) {
      if (ctx.verify()) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
    } else {
      // SSL_set_tlsext_host_name() without its C cast.
      SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(name.c_str()));
      if (ctx.verify()) SSL_set1_host(ssl_, name.c_str());
    }
  }
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

std::string TlsSession::collect_error(const char* what, int rc) {
  int e = SSL_get_error(ssl_, rc);
  std::string msg = what;
  long vr = SSL_get_verify_result(ssl_);
  if (vr != X509_V_OK) {
    msg += ": certificate verification failed: ";
    msg += X509_verify_cert_error_string(vr);
  }
  std::string q = openssl_errors();
  if (!q.empty())
    msg += ": " + q;
  else if (e == SSL_ERROR_ZERO_RETURN)
    msg += ": closed by the peer";
  else if (e == SSL_ERROR_SYSCALL)
    msg += ": unexpected end of stream";
  return msg;
}

TlsSession::Status TlsSession::handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return Status::Done;
  int e = SSL_get_error(ssl_, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Status::Again;
  error_ = collect_error("TLS handshake failed", rc);
  return Status::Failed;
}

void TlsSession::feed(const std::uint8_t* data, std::size_t n) {
  BIO_write(rbio_, data, static_cast<int>(n));
}

bool TlsSession::write(const std::uint8_t* data, std::size_t n) {
  ERR_clear_error();
  while (n > 0) {
    std::size_t written = 0;
    int rc = SSL_write_ex(ssl_, data, n, &written);
    if (rc != 1) {
      error_ = collect_error("TLS write failed", rc);
      return false;
    }
    data += written;
    n -= written;
  }
  return true;
}

std::size_t TlsSession::drain(std::vector<std::uint8_t>& out) {
  std::size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return 0;
  std::size_t at = out.size();
  out.resize(at + pending);
  int n = BIO_read(wbio_, out.data() + at, static_cast<int>(pending));
  if (n <= 0) {
    out.resize(at);
    return 0;
  }
  out.resize(at + static_cast<std::size_t>(n));
  return static_cast<std::size_t>(n);
}

bool TlsSession::discard_input() {
  std::uint8_t buf[16384];
  for (;;) {
    ERR_clear_error();
    std::size_t got = 0;
    int rc = SSL_read_ex(ssl_, buf, sizeof buf, &got);
    if (rc == 1) continue;  // one-way protocol: whatever the server says is ignored
    int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
    if (e == SSL_ERROR_ZERO_RETURN) {
      error_ = "the server closed the TLS session";
      return false;
    }
    error_ = collect_error("TLS error", rc);
    return false;
  }
}

void TlsSession::close_notify() {
  ERR_clear_error();
  SSL_shutdown(ssl_);
}

bool TlsSession::peer_closed_cleanly() const {
  return (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0;
}

std::string TlsSession::describe() const {
  const char* v = SSL_get_version(ssl_);
  const char* c = SSL_get_cipher_name(ssl_);
  return std::string(v ? v : "?") + " " + (c ? c : "?");
}

}  // namespace d4::client
