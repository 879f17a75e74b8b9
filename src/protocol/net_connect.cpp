#include "protocol/net_connect.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace d4::protocol::net {
namespace {

// Copies instead of casting: sockaddr has a lower alignment than sockaddr_in/_in6, which
// strict-alignment CPUs (32-bit ARM, MIPS) care about.
std::string address_text(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 s6{};
    std::memcpy(&s6, sa, sizeof s6);
    inet_ntop(AF_INET6, &s6.sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(s6.sin6_port));
  }
  sockaddr_in s4{};
  std::memcpy(&s4, sa, sizeof s4);
  inet_ntop(AF_INET, &s4.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(s4.sin_port));
}

// Waits until a non-blocking connect on `fd` is done: 0 when connected, else the errno value.
int finish_connect(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLOUT, 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (n < 0 && errno == EINTR);
  if (n == 0) return ETIMEDOUT;
  if (n < 0) return errno;
  return connect_result(fd);
}

}  // namespace

std::optional<HostPort> split_host_port(std::string_view text, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<HostPort> {
    if (error) *error = why;
    return std::nullopt;
  };
  HostPort hp;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']'");
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("missing port");
    hp.host = std::string(text.substr(1, close - 1));
    hp.port = std::string(text.substr(close + 2));
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("missing port");
    hp.host = std::string(text.substr(0, colon));
    hp.port = std::string(text.substr(colon + 1));
    if (hp.host.find(':') != std::string::npos) return fail("IPv6 addresses must be written in brackets");
  }
  if (hp.port.empty()) return fail("missing port");
  return hp;
}

std::vector<SocketAddress> resolve(const std::string& host, const std::string& port, int socktype,
                                   std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc == EAI_BADFLAGS || (rc != 0 && rc != EAI_SYSTEM)) {
    // AI_ADDRCONFIG hides loopback-only setups on some systems: retry without it.
    hints.ai_flags = 0;
    rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  }
  std::vector<SocketAddress> out;
  if (rc != 0) {
    if (error)
      *error = "cannot resolve " + host + ": " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
    return out;
  }
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress a;
    std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    a.socktype = ai->ai_socktype;
    a.protocol = ai->ai_protocol;
    a.text = address_text(ai->ai_addr);
    bool dup = std::any_of(out.begin(), out.end(), [&](const SocketAddress& b) { return b.text == a.text; });
    if (!dup) out.push_back(a);
  }
  ::freeaddrinfo(res);
  if (out.empty() && error) *error = "no address for " + host;
  return out;
}

int start_connect(const SocketAddress& a, std::string* error) {
  int fd = ::socket(a.addr.ss_family, a.socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a.protocol);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len);
  if (rc != 0 && errno != EINPROGRESS) {
    if (error) *error = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

int connect_result(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

int connect_any(const std::vector<SocketAddress>& addresses, std::chrono::milliseconds timeout,
                std::string* error) {
  std::string errors;
  for (const auto& a : addresses) {
    std::string why;
    int fd = start_connect(a, &why);
    if (fd >= 0) {
      int e = finish_connect(fd, timeout.count() > 0 ? timeout : std::chrono::milliseconds(-1));
      if (e == 0 && ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0) return fd;
      why = std::strerror(e != 0 ? e : errno);
      ::close(fd);
    }
    errors += (errors.empty() ? "" : "; ") + a.text + ": " + why;
  }
  if (error) *error = addresses.empty() ? "no address" : errors;
  return -1;
}

int connect_to(const std::string& host, const std::string& port, int socktype,
               std::chrono::milliseconds timeout, std::string* error) {
  auto addresses = resolve(host, port, socktype, error);
  if (addresses.empty()) return -1;
  return connect_any(addresses, timeout, error);
}

}  // namespace d4::protocol::net
