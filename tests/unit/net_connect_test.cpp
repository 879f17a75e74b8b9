// protocol/net_connect.hpp on loopback: resolution, a blocking connect to a listener, the error
// naming every address when nothing listens, and the non-blocking start used by poll loops.
#include "protocol/net_connect.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>

namespace {

// A loopback TCP socket bound to a port the kernel chose; listening or not.
struct LoopbackSocket {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::string port;
  explicit LoopbackSocket(bool listening) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = std::to_string(ntohs(a.sin_port));
    if (listening) {
      EXPECT_EQ(::listen(fd, 4), 0);
    }
  }
  ~LoopbackSocket() { ::close(fd); }
};

}  // namespace

TEST(NetConnect, ResolvesNumericAddressesWithTheirText) {
  std::string error;
  auto v4 = d4::protocol::net::resolve("127.0.0.1", "4443", SOCK_STREAM, &error);
  ASSERT_EQ(v4.size(), 1u) << error;
  EXPECT_EQ(v4[0].text, "127.0.0.1:4443");
  auto none = d4::protocol::net::resolve("no-such-host.invalid", "1", SOCK_STREAM, &error);
  EXPECT_TRUE(none.empty());
  EXPECT_NE(error.find("cannot resolve no-such-host.invalid"), std::string::npos) << error;
}

TEST(NetConnect, ConnectsToAListenerAndReturnsABlockingSocket) {
  LoopbackSocket listener(true);
  std::string error;
  int fd =
      d4::protocol::net::connect_to("127.0.0.1", listener.port, SOCK_STREAM, std::chrono::seconds(5), &error);
  ASSERT_GE(fd, 0) << error;
  EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  ::close(fd);
}

TEST(NetConnect, NamesTheAddressThatRefused) {
  LoopbackSocket closed(false);  // bound, not listening: connections are refused
  std::string error;
  int fd =
      d4::protocol::net::connect_to("127.0.0.1", closed.port, SOCK_STREAM, std::chrono::seconds(5), &error);
  EXPECT_EQ(fd, -1);
  EXPECT_NE(error.find("127.0.0.1:" + closed.port + ": " + std::strerror(ECONNREFUSED)), std::string::npos)
      << error;
}

TEST(NetConnect, StartConnectIsNonBlockingAndReportsItsResult) {
  LoopbackSocket listener(true);
  std::string error;
  auto addresses = d4::protocol::net::resolve("127.0.0.1", listener.port, SOCK_STREAM, &error);
  ASSERT_EQ(addresses.size(), 1u);
  int fd = d4::protocol::net::start_connect(addresses[0], &error);
  ASSERT_GE(fd, 0) << error;
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  pollfd p{fd, POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_EQ(d4::protocol::net::connect_result(fd), 0);
  ::close(fd);
}
