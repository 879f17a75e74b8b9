// d4-hostile-bench: peers that never authenticate, for bench/hostile.sh.
//
//   d4-hostile-bench partial --port P [--connections 1000] [--declare 1000000] [--send 100]
//                            [--hold S] [--reconnect]
//     Opens N TLS connections that each send a header declaring --declare payload bytes and then
//     --send bytes of it, and holds them (S seconds, or until SIGINT/SIGTERM). With --reconnect a
//     connection the server closes (unidentified_timeout, budgets) is opened again, so that N
//     such connections run all the time. Prints "holding N connections" once they are open.
//
//   d4-hostile-bench failing --port P [--networks 10000] [--first 0] [--threads 8] [--plain]
//     One connection from each of N source addresses 127.<1+n/256>.<n%256>.1 (n = first ..
//     first+N-1: a distinct /24 each, loopback only), each sending a packet with a wrong HMAC,
//     then waiting until the server closes it. Prints the time taken.
#include <poll.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "bench_net.hpp"
#include "core/cli.hpp"
#include "core/stop_signal.hpp"
#include "protocol/encoder.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using d4::bench::Conn;

void raise_fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

std::vector<std::uint8_t> packet(std::string_view key, std::size_t payload_size) {
  d4::protocol::PacketEncoder enc(1, 1, d4::protocol::Uuid::generate_v4(), key);
  std::vector<std::uint8_t> payload(payload_size, 'h'), out;
  enc.append_packet(out, payload, d4::protocol::unix_seconds());
  return out;
}

struct PartialOptions {
  std::string host = "127.0.0.1";
  int port = 0, connections = 1000, hold = 600;
  std::size_t declare = 1'000'000, send = 100;
  bool reconnect = false;
};

// One held connection: the header and the first `send` payload bytes of a `declare`-byte packet.
Conn open_partial(SSL_CTX* ctx, const PartialOptions& o, const std::vector<std::uint8_t>& pk) {
  Conn c = d4::bench::open_conn(ctx, o.host, o.port);
  if (c.fd < 0) return c;
  if (!d4::bench::write_all(c, pk.data(), d4::protocol::kHeaderSize + o.send)) d4::bench::close_conn(c);
  return c;
}

// True once the server closed the connection (EOF or error); session tickets are read and dropped.
bool server_closed(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return true;
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }
}

int cmd_partial(const PartialOptions& o) {
  raise_fd_limit();
  SSL_CTX* ctx = d4::bench::client_tls_context();
  auto pk = packet("not the key", o.declare);
  std::vector<Conn> conns;
  for (int i = 0; i < o.connections && !d4::core::stop_requested(); ++i) {
    conns.push_back(open_partial(ctx, o, pk));
    if (conns.back().fd < 0) std::fprintf(stderr, "connection %d failed\n", i);
  }
  std::printf("holding %zu connections (%zu of %zu declared bytes sent each)\n", conns.size(), o.send,
              o.declare);
  std::fflush(stdout);
  auto until = Clock::now() + std::chrono::seconds(o.hold);
  std::uint64_t reopened = 0;
  while (Clock::now() < until && !d4::core::stop_requested()) {
    if (!o.reconnect) {
      d4::core::sleep_unless_stopped(std::chrono::milliseconds(200));
      continue;
    }
    std::vector<pollfd> fds;
    for (const auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 200);
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (conns[i].fd >= 0 && !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (conns[i].fd >= 0 && !server_closed(conns[i].fd)) continue;
      d4::bench::close_conn(conns[i]);
      conns[i] = open_partial(ctx, o, pk);
      ++reopened;
    }
  }
  for (auto& c : conns) d4::bench::close_conn(c);
  std::printf("closed; %llu connections were reopened after the server closed them\n",
              static_cast<unsigned long long>(reopened));
  SSL_CTX_free(ctx);
  return 0;
}

struct FailingOptions {
  std::string host = "127.0.0.1";
  int port = 0, networks = 10000, first = 0, threads = 8;
  bool plain = false;
};

int cmd_failing(const FailingOptions& o) {
  raise_fd_limit();
  SSL_CTX* ctx = o.plain ? nullptr : d4::bench::client_tls_context();
  auto pk = packet("not the key", 100);
  std::atomic<int> next{o.first}, done{0}, failed{0};
  auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&] {
      for (int n; (n = next++) < o.first + o.networks && !d4::core::stop_requested();) {
        std::string source = "127." + std::to_string(1 + n / 256) + "." + std::to_string(n % 256) + ".1";
        Conn c = d4::bench::open_conn(ctx, o.host, o.port, source);
        if (c.fd < 0 || !d4::bench::write_all(c, pk.data(), pk.size())) {
          ++failed;
        } else {
          pollfd p{c.fd, POLLIN, 0};
          while (::poll(&p, 1, 10000) > 0 && !server_closed(c.fd)) {
          }
          ++done;
        }
        d4::bench::close_conn(c);
      }
    });
  }
  for (auto& w : workers) w.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%d failing connections from %d source networks in %.1f s (%d could not connect)\n",
              done.load(), o.networks, secs, failed.load());
  if (ctx) SSL_CTX_free(ctx);
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  d4::core::install_stop_handlers();
  d4::core::cli::App app{"d4-hostile-bench: peers that never authenticate, against a D4 server on loopback"};
  app.require_subcommand(1);
  PartialOptions partial;
  auto* p = app.add_subcommand("partial", "Hold connections that declare a large packet and send little");
  p->add_option("--host", partial.host, "Server address (IPv4)");
  p->add_option("--port", partial.port, "Sensor TLS port")->required();
  p->add_option("--connections", partial.connections, "Connections held");
  p->add_option("--declare", partial.declare, "Declared payload size");
  p->add_option("--send", partial.send, "Payload bytes sent")->check(d4::core::cli::Range(0, 1'000'000));
  p->add_option("--hold", partial.hold, "Seconds to hold them");
  p->add_flag("--reconnect", partial.reconnect, "Reopen the connections the server closes");
  FailingOptions failing;
  auto* f = app.add_subcommand("failing", "One wrong-key connection from each of many source networks");
  f->add_option("--host", failing.host, "Server address (IPv4)");
  f->add_option("--port", failing.port, "Sensor port")->required();
  f->add_option("--networks", failing.networks, "Source networks (/24), one address each");
  f->add_option("--first", failing.first, "Index of the first network");
  f->add_option("--threads", failing.threads, "Parallel connections");
  f->add_flag("--plain", failing.plain, "Plain TCP instead of TLS");
  if (auto status = d4::core::cli::parse_with_library_status(app, argc, argv)) return *status;
  if (partial.send > partial.declare) partial.send = partial.declare;
  return p->parsed() ? cmd_partial(partial) : cmd_failing(failing);
}
