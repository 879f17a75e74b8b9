#include "client/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace d4::client {

void configure_socket(int fd, const SocketOptions& o) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (o.keepalive.count() > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    int idle = std::max(1, static_cast<int>(o.keepalive.count() / 1000));
    int intvl = std::max(1, idle / 3);
    int cnt = 3;
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  }
  if (o.user_timeout.count() > 0) {
    auto ms = static_cast<unsigned int>(o.user_timeout.count());
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
  }
}

long long peer_acked_bytes(int fd, std::uint64_t written) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -1;
  if (len >= offsetof(tcp_info, tcpi_bytes_acked) + sizeof ti.tcpi_bytes_acked) {
    // Counts the SYN as one byte. Unlike SIOCOUTQ it is not affected by a reset purging the
    // send queue.
    std::uint64_t acked = ti.tcpi_bytes_acked > 0 ? ti.tcpi_bytes_acked - 1 : 0;
    return static_cast<long long>(std::min<std::uint64_t>(acked, written));
  }
  // Older kernels: written minus what is still queued, only while the queue is meaningful.
  constexpr std::uint8_t kEstablished = 1, kCloseWait = 8;  // TCP_ESTABLISHED, TCP_CLOSE_WAIT
  std::uint8_t state = ti.tcpi_state;
  if (len == sizeof(std::uint32_t)) {
    // No kernel answers with 4 bytes: this is qemu-user, which handles every TCP option as an
    // int and converts it to the guest's byte order. The value is the host's first four bytes of
    // tcp_info read as a (little-endian) host integer, whose low byte is the state: on a
    // big-endian guest that byte is not the first one.
    std::uint32_t v = 0;
    std::memcpy(&v, &ti, sizeof v);
    state = static_cast<std::uint8_t>(v & 0xff);
  }
  if (state != kEstablished && state != kCloseWait) return -1;
  int queued = 0;
  if (::ioctl(fd, SIOCOUTQ, &queued) != 0 || queued < 0) return -1;
  auto q = static_cast<std::uint64_t>(queued);
  return static_cast<long long>(written > q ? written - q : 0);
}

}  // namespace d4::client
