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
#include <cstring>
#include <fstream>
#include <iterator>

#include "protocol/net_connect.hpp"

namespace d4::queues::sink_io {
namespace {

std::string read_whole_file(std::string_view path) {
  std::ifstream f{std::string(path), std::ios::binary};
  if (!f) throw PermanentSinkError("cannot read file " + std::string(path));
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

std::string errno_text() {
  return std::strerror(errno);
}

HostPort split_host_port(std::string_view s) {
  std::string why;
  auto hp = protocol::net::split_host_port(s, &why);
  if (!hp) throw std::invalid_argument("bad address \"" + std::string(s) + "\": " + why);
  if (hp->host.empty()) throw std::invalid_argument("bad address \"" + std::string(s) + "\": empty host");
  return *hp;
}

int connect_inet(const HostPort& hp, int socktype) {
  std::string error;
  auto addresses = protocol::net::resolve(hp.host, hp.port, socktype, &error);
  if (addresses.empty()) throw SinkError(error);
  int fd = protocol::net::connect_any(addresses, std::chrono::milliseconds(0), &error);
  if (fd < 0) throw SinkError("cannot connect to " + hp.host + ":" + hp.port + ": " + error);
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

std::string payload(std::string_view element, const SinkOptions& o) {
  std::string out = o.file_contents ? read_whole_file(element) : std::string(element);
  if (o.newline) out += '\n';
  return out;
}

}  // namespace d4::queues::sink_io
