// tls:HOST:PORT: TLS over TCP, certificate and host name verified unless told otherwise.
#include "queues/export/sink_io.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace d4::queues {
namespace {

using namespace sink_io;

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

class TlsSink : public Sink {
 public:
  TlsSink(std::string address, SinkOptions o)
      : address_(std::move(address)), hp_(split_host_port(address_)), o_(std::move(o)) {}
  ~TlsSink() override {
    close();
    if (ctx_) SSL_CTX_free(ctx_);
  }
  void connect() override {
    if (ssl_) return;
    if (!ctx_) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      if (!ctx_) throw SinkError("SSL_CTX_new: " + ssl_error_text());
      SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
      if (!o_.insecure) {
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        int ok = o_.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_)
                                    : SSL_CTX_load_verify_locations(ctx_, o_.ca_file.c_str(), nullptr);
        if (ok != 1)
          throw std::invalid_argument("cannot load CA file " + o_.ca_file + ": " + ssl_error_text());
      }
    }
    fd_ = connect_inet(hp_, SOCK_STREAM);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    std::string name = o_.server_name.empty() ? hp_.host : o_.server_name;
    in6_addr a6{};
    in_addr a4{};
    bool is_ip = inet_pton(AF_INET, name.c_str(), &a4) == 1 || inet_pton(AF_INET6, name.c_str(), &a6) == 1;
    // SSL_set_tlsext_host_name is a macro with a C cast; call the control function directly.
    if (!is_ip) SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, name.data());
    if (!o_.insecure) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
      if (is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      else
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    }
    if (SSL_connect(ssl_) != 1) {
      std::string why = ssl_error_text();
      long v = SSL_get_verify_result(ssl_);
      if (v != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(v) + ")";
      close();
      throw SinkError("TLS handshake with " + address_ + " failed: " + why);
    }
  }
  void send(std::string_view e) override {
    std::string p = payload(e, o_);
    std::size_t off = 0;
    while (off < p.size()) {
      std::size_t written = 0;
      if (SSL_write_ex(ssl_, p.data() + off, p.size() - off, &written) != 1)
        throw SinkError("TLS write: " + ssl_error_text());
      off += written;
    }
    count_sent(p.size());
  }
  void close() override {
    if (ssl_) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string describe() const override { return "tls:" + address_; }

 private:
  std::string address_;
  HostPort hp_;
  SinkOptions o_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

}  // namespace

std::unique_ptr<Sink> sink_tls(std::string_view, const std::string& address, const SinkOptions& options) {
  return std::make_unique<TlsSink>(address, options);
}

}  // namespace d4::queues
