// tcp:, udp:, unix:, unixgram:, syslog-udp:, syslog-tcp: sockets, with RFC 5424 framing for syslog.
#include "queues/export/sink_io.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace d4::queues {
namespace {

using namespace sink_io;

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
      count_sent(p.size());
      return;
    }
    ssize_t n = ::send(fd_, p.data(), p.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EMSGSIZE)
        throw PermanentSinkError(fmt::format("element of {} bytes exceeds a datagram", p.size()));
      throw SinkError("send: " + errno_text());
    }
    count_sent(static_cast<std::size_t>(n));
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

}  // namespace

std::unique_ptr<Sink> sink_socket(std::string_view scheme, const std::string& address,
                                  const SinkOptions& options) {
  using K = SocketSink::Kind;
  K kind = scheme == "tcp"          ? K::Tcp
           : scheme == "udp"        ? K::Udp
           : scheme == "unix"       ? K::UnixStream
           : scheme == "unixgram"   ? K::UnixDgram
           : scheme == "syslog-udp" ? K::SyslogUdp
                                    : K::SyslogTcp;
  return std::make_unique<SocketSink>(kind, address, options);
}

std::string format_rfc5424(std::string_view msg, const SinkOptions& o, std::string_view hostname, long pid,
                           std::string_view timestamp) {
  int pri = o.syslog_facility * 8 + o.syslog_severity;
  return fmt::format("<{}>1 {} {} {} {} {} - {}", pri, timestamp, hostname, o.syslog_app, pid, o.syslog_msgid,
                     msg);
}

}  // namespace d4::queues
