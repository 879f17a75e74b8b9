#include "queues/export/sinks.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace d4::queues {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

struct HostPort {
  std::string host, port;
};

HostPort split_host_port(std::string_view s) {
  HostPort hp;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      throw std::invalid_argument("bad address \"" + std::string(s) + "\" (expected [v6]:port)");
    hp.host = std::string(s.substr(1, close - 1));
    hp.port = std::string(s.substr(close + 2));
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos)
      throw std::invalid_argument("missing port in \"" + std::string(s) + "\"");
    hp.host = std::string(s.substr(0, colon));
    hp.port = std::string(s.substr(colon + 1));
  }
  if (hp.host.empty() || hp.port.empty())
    throw std::invalid_argument("bad address \"" + std::string(s) + "\"");
  return hp;
}

int connect_inet(const HostPort& hp, int socktype) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &res);
  if (rc != 0) throw SinkError("cannot resolve " + hp.host + ": " + gai_strerror(rc));
  std::string last = "no address";
  int fd = -1;
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    last = errno_text();
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) throw SinkError("cannot connect to " + hp.host + ":" + hp.port + ": " + last);
  if (socktype == SOCK_STREAM) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

int connect_unix(const std::string& path, int socktype) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw std::invalid_argument("Unix socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, socktype | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SinkError("socket: " + errno_text());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string e = errno_text();
    ::close(fd);
    throw SinkError("cannot connect to " + path + ": " + e);
  }
  return fd;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SinkError("send: " + errno_text());
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string read_whole_file(std::string_view path) {
  std::ifstream f{std::string(path), std::ios::binary};
  if (!f) throw PermanentSinkError("cannot read file " + std::string(path));
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Turns an element into the bytes to send (file contents, newline).
std::string payload(std::string_view element, const SinkOptions& o) {
  std::string out = o.file_contents ? read_whole_file(element) : std::string(element);
  if (o.newline) out += '\n';
  return out;
}

class StdoutSink : public Sink {
 public:
  explicit StdoutSink(SinkOptions o) : o_(std::move(o)) {}
  void connect() override {}
  void send(std::string_view e) override {
    auto p = payload(e, o_);
    if (std::fwrite(p.data(), 1, p.size(), stdout) != p.size()) throw SinkError("stdout write failed");
  }
  void flush() override {
    if (std::fflush(stdout) != 0) throw SinkError("stdout flush failed");
  }
  void close() override { std::fflush(stdout); }
  std::string describe() const override { return "stdout"; }

 private:
  SinkOptions o_;
};

class FileSink : public Sink {
 public:
  FileSink(std::string path, SinkOptions o) : path_(std::move(path)), o_(std::move(o)) {}
  ~FileSink() override { close(); }
  void connect() override {
    if (fd_ >= 0) return;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw SinkError("cannot open " + path_ + ": " + errno_text());
  }
  void send(std::string_view e) override {
    auto p = payload(e, o_);
    std::string_view v = p;
    while (!v.empty()) {
      ssize_t n = ::write(fd_, v.data(), v.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw SinkError("write " + path_ + ": " + errno_text());
      }
      v.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void close() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string describe() const override { return "file:" + path_; }

 private:
  std::string path_;
  SinkOptions o_;
  int fd_ = -1;
};

// TCP, Unix stream, and their datagram counterparts; optional syslog framing.
class SocketSink : public Sink {
 public:
  enum class Kind { Tcp, Udp, UnixStream, UnixDgram, SyslogUdp, SyslogTcp };
  SocketSink(Kind kind, std::string address, SinkOptions o)
      : kind_(kind), address_(std::move(address)), o_(std::move(o)) {
    if (kind_ == Kind::SyslogUdp || kind_ == Kind::SyslogTcp) o_.newline = false;
    if (kind_ != Kind::UnixStream && kind_ != Kind::UnixDgram) hp_ = split_host_port(address_);
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    hostname_ = host[0] ? host : "-";
  }
  ~SocketSink() override { close(); }
  void connect() override {
    if (fd_ >= 0) return;
    switch (kind_) {
      case Kind::Tcp:
      case Kind::SyslogTcp:
        fd_ = connect_inet(hp_, SOCK_STREAM);
        break;
      case Kind::Udp:
      case Kind::SyslogUdp:
        fd_ = connect_inet(hp_, SOCK_DGRAM);
        break;
      case Kind::UnixStream:
        fd_ = connect_unix(address_, SOCK_STREAM);
        break;
      case Kind::UnixDgram:
        fd_ = connect_unix(address_, SOCK_DGRAM);
        break;
    }
  }
  void send(std::string_view e) override {
    std::string p = payload(e, o_);
    if (kind_ == Kind::SyslogUdp || kind_ == Kind::SyslogTcp) {
      auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
      p = format_rfc5424(p, o_, hostname_, static_cast<long>(getpid()),
                         fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", now));
      if (kind_ == Kind::SyslogTcp) p = std::to_string(p.size()) + " " + p;  // RFC 6587 octet counting
    }
    bool datagram = kind_ == Kind::Udp || kind_ == Kind::SyslogUdp || kind_ == Kind::UnixDgram;
    if (!datagram) {
      send_all(fd_, p);
      return;
    }
    ssize_t n = ::send(fd_, p.data(), p.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EMSGSIZE)
        throw PermanentSinkError(fmt::format("element of {} bytes exceeds a datagram", p.size()));
      throw SinkError("send: " + errno_text());
    }
  }
  void close() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string describe() const override { return address_; }

 private:
  Kind kind_;
  std::string address_;
  HostPort hp_;
  SinkOptions o_;
  std::string hostname_;
  int fd_ = -1;
};

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

std::string format_rfc5424(std::string_view msg, const SinkOptions& o, std::string_view hostname, long pid,
                           std::string_view timestamp) {
  int pri = o.syslog_facility * 8 + o.syslog_severity;
  return fmt::format("<{}>1 {} {} {} {} {} - {}", pri, timestamp, hostname, o.syslog_app, pid, o.syslog_msgid,
                     msg);
}

std::unique_ptr<Sink> make_sink(const std::string& destination, const SinkOptions& options) {
  auto colon = destination.find(':');
  std::string scheme = destination.substr(0, colon);
  std::string rest = colon == std::string::npos ? std::string() : destination.substr(colon + 1);
  using K = SocketSink::Kind;
  if (destination == "stdout" || destination == "-") return std::make_unique<StdoutSink>(options);
  if (rest.empty()) throw std::invalid_argument("destination \"" + destination + "\" needs an address");
  if (scheme == "file") return std::make_unique<FileSink>(rest, options);
  if (scheme == "tcp") return std::make_unique<SocketSink>(K::Tcp, rest, options);
  if (scheme == "udp") return std::make_unique<SocketSink>(K::Udp, rest, options);
  if (scheme == "unix") return std::make_unique<SocketSink>(K::UnixStream, rest, options);
  if (scheme == "unixgram") return std::make_unique<SocketSink>(K::UnixDgram, rest, options);
  if (scheme == "syslog-udp") return std::make_unique<SocketSink>(K::SyslogUdp, rest, options);
  if (scheme == "syslog-tcp") return std::make_unique<SocketSink>(K::SyslogTcp, rest, options);
  if (scheme == "tls") return std::make_unique<TlsSink>(rest, options);
  throw std::invalid_argument("unknown destination \"" + destination + "\"");
}

}  // namespace d4::queues
