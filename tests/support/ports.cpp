#include "support/ports.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

namespace d4::test {
namespace {

// The kernel's ephemeral range ("32768 60999" by default).
std::pair<int, int> ephemeral_range() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 32768, hi = 60999;
  if (!(f >> lo >> hi)) return {32768, 60999};
  return {lo, hi};
}

// True if `port` can be bound now on the loopback address of `family` (an absent IPv6 stack counts
// as free: nothing can listen there either).
bool bindable(int family, int port) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return family == AF_INET6;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(static_cast<std::uint16_t>(port));
    rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (rc != 0 && errno == EADDRNOTAVAIL) rc = 0;  // no ::1 on this machine
  }
  close(fd);
  return rc == 0;
}

std::filesystem::path lock_dir() {
  auto d = std::filesystem::temp_directory_path() / "d4-test-ports";
  std::error_code ec;
  if (std::filesystem::create_directory(d, ec))
    std::filesystem::permissions(d, std::filesystem::perms::all | std::filesystem::perms::sticky_bit, ec);
  return d;
}

}  // namespace

int free_port() {
  static std::mutex mutex;
  static std::set<int> mine;  // the lock fds stay open (and locked) until the process exits
  std::lock_guard<std::mutex> lock(mutex);
  auto [eph_lo, eph_hi] = ephemeral_range();
  // Below the ephemeral range when there is room for it, else above it.
  int lo = 20000, hi = eph_lo - 1;
  if (hi - lo < 1000) {
    lo = eph_hi + 1;
    hi = 65535;
  }
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(lo, hi);
  auto dir = lock_dir();
  for (int attempt = 0; attempt < 2000; ++attempt) {
    int port = pick(rng);
    if (mine.count(port)) continue;
    auto path = dir / std::to_string(port);
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {  // another test process holds it
      close(fd);
      continue;
    }
    if (!bindable(AF_INET, port) || !bindable(AF_INET6, port)) {  // something outside the tests
      close(fd);
      continue;
    }
    mine.insert(port);
    return port;
  }
  throw std::runtime_error("no free reserved test port");
}

bool port_bound(int port, Transport transport) {
  // Lines of /proc/net/{tcp,udp}{,6}: "sl local_address rem_address st ...", the local address as
  // hex "ADDR:PORT"; state 0A is TCP_LISTEN, 07 an unconnected UDP socket.
  const char* want_state = transport == Transport::tcp ? "0A" : "07";
  const char* base = transport == Transport::tcp ? "/proc/net/tcp" : "/proc/net/udp";
  char hex_port[8];
  std::snprintf(hex_port, sizeof hex_port, "%04X", static_cast<unsigned>(port));
  for (std::string file : {std::string(base), std::string(base) + "6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      auto colon = local.rfind(':');
      if (colon != std::string::npos && local.substr(colon + 1) == hex_port && state == want_state)
        return true;
    }
  }
  return false;
}

}  // namespace d4::test
