// d4-ingest-bench: load generator for d4-server (or any D4 server storing into Redis streams).
//
//   d4-ingest-bench send --port P --redis HOST:PORT/DB... [--plain] [--metrics-port M] FILE...
//     One sensor connection per file (pre-encapsulated D4 streams, e.g. from mkbench.sh), all
//     connected before the clock starts, then sent at once as fast as possible, one thread per
//     connection. The clock stops when every packet of the files is stored: d4-server's
//     d4_server_packets_total with --metrics-port (a stream entry may hold several packets when
//     the server coalesces them), else the Redis streams' entries (sum of XLEN over stream:*, one
//     per packet as the reference server stores them). Also prints the XADDs Redis ran. Prints MB/s,
//     packets/s and, with --metrics-port, the server's p50/p99 socket-to-Redis latency and its CPU time per
//     MB. --redis may be given once per node of a Redis Cluster (one per master): the Redis CPU and
//     XADDs are summed over them, and the stored packets need --metrics-port.
//
//   d4-ingest-bench idle --port P --connections N [--hold S] [--key K]
//     Opens N TLS sensor connections, each sending one small packet (distinct sensor UUIDs), then
//     keeps them open for S seconds (or until SIGINT/SIGTERM) so the server's memory can be read.
//
//   d4-ingest-bench flood --port P --sessions N [--duration S] [--packet BYTES] [--key K]
//     One sensor (one UUID) floods type 2/254: N parallel TLS sessions, each a meta header then
//     type-254 packets as fast as the server takes them; a session the server closes (or refuses)
//     is opened again after --retry-ms. Runs until S seconds passed or SIGINT/SIGTERM; prints the
//     bytes written and the sessions opened and refused.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_net.hpp"
#include "core/cli.hpp"
#include "core/redis_client.hpp"
#include "core/stop_signal.hpp"
#include "protocol/encoder.hpp"
#include "protocol/header.hpp"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "d4-ingest-bench: " << msg << "\n";
  std::exit(1);
}

using d4::bench::close_conn;
using d4::bench::Conn;
using d4::bench::http_get;
using d4::bench::open_conn;
using d4::bench::write_all;

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) die("cannot read " + path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Number of D4 packets in a stream, checking the framing.
std::uint64_t count_packets(const std::vector<std::uint8_t>& d, const std::string& name) {
  std::uint64_t n = 0;
  std::size_t off = 0;
  while (off + d4::protocol::kHeaderSize <= d.size()) {
    std::uint32_t size = d4::protocol::load_le32(d.data() + off + d4::protocol::kSizeOffset);
    off += d4::protocol::kHeaderSize + size;
    ++n;
  }
  if (off != d.size()) die(name + " is not a whole number of D4 packets");
  return n;
}

// Entries in stream:<type>:* (every type when `type` is empty).
long long stored_packets(d4::core::RedisClient& r, const std::string& type = "") {
  std::vector<std::string> keys;
  std::string cursor = "0";
  std::string pattern = type.empty() ? "stream:*" : "stream:" + type + ":*";
  do {
    auto rep = r.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    cursor = rep.elements.at(0).str;
    for (const auto& k : rep.elements.at(1).elements) keys.push_back(k.str);
  } while (cursor != "0");
  if (keys.empty()) return 0;
  std::vector<std::vector<std::string>> cmds;
  for (const auto& k : keys) cmds.push_back({"XLEN", k});
  long long total = 0;
  for (const auto& rep : r.pipeline(cmds)) total += rep.integer;
  return total;
}

struct Histogram {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count)
  double quantile(double q) const {
    if (buckets.empty() || buckets.back().second <= 0) return 0;
    double rank = q * buckets.back().second;
    double prev_le = 0, prev_c = 0;
    for (const auto& [le, c] : buckets) {
      if (c >= rank) {
        if (std::isinf(le)) return prev_le;
        double frac = c > prev_c ? (rank - prev_c) / (c - prev_c) : 1;
        return prev_le + (le - prev_le) * frac;
      }
      prev_le = le;
      prev_c = c;
    }
    return prev_le;
  }
};

Histogram parse_histogram(const std::string& metrics, const std::string& name) {
  Histogram h;
  std::istringstream in(metrics);
  std::string line;
  std::string prefix = name + "_bucket{le=\"";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto q = line.find('"', prefix.size());
    std::string le = line.substr(prefix.size(), q - prefix.size());
    double v = std::stod(line.substr(line.rfind(' ') + 1));
    h.buckets.emplace_back(le == "+Inf" ? INFINITY : std::stod(le), v);
  }
  return h;
}

double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream in(s.substr(p + 2));
  std::string field;
  std::vector<std::string> v;
  while (in >> field) v.push_back(field);
  // Fields after the command: state(0) ... utime(11) stime(12).
  if (v.size() < 13) return 0;
  return (std::stod(v[11]) + std::stod(v[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Packets d4-server counts as stored (d4_server_packets_total, of `type` when not empty).
long long server_stored_packets(int metrics_port, const std::string& type) {
  std::istringstream in(http_get(metrics_port, "/metrics"));
  std::string line;
  long long total = 0;
  const std::string name = "d4_server_packets_total", label = "type=\"" + type + "\"";
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 ||
        (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' '))
      continue;
    if (!type.empty() && line.find(label) == std::string::npos) continue;
    total += static_cast<long long>(std::stod(line.substr(line.rfind(' ') + 1)));
  }
  return total;
}

long long xadd_calls(d4::core::RedisClient& r) {
  auto info = r.command({"INFO", "commandstats"}).str;
  auto p = info.find("cmdstat_xadd:calls=");
  return p == std::string::npos ? 0 : std::stoll(info.substr(p + 19));
}

double redis_cpu(d4::core::RedisClient& r) {
  auto info = r.command({"INFO", "cpu"}).str;
  double total = 0;
  for (const char* k : {"used_cpu_sys:", "used_cpu_user:"}) {
    auto p = info.find(k);
    if (p != std::string::npos) total += std::stod(info.substr(p + std::strlen(k)));
  }
  return total;
}

struct SendOptions {
  std::string host = "127.0.0.1";
  std::vector<std::string> redis_eps;  // several: the masters of a cluster, figures summed
  int port = 0, metrics_port = 0;
  pid_t server_pid = 0;
  bool plain = false;
  double timeout_s = 600;
  double rate_mbps = 0;  // total pacing over all connections (0: as fast as possible)
  std::vector<std::string> files;
  std::string only_type;  // count only stream:<type>:* (others may be written meanwhile)
};

struct IdleOptions {
  std::string host = "127.0.0.1", key = "d4-test-key";
  int port = 0, connections = 1000, hold = 30;
};

int cmd_send(const SendOptions& o) {
  const auto& [host, redis_eps, port, metrics_port, server_pid, plain, timeout_s, rate_mbps, files,
               only_type] = o;
  std::vector<std::unique_ptr<d4::core::RedisClient>> nodes;
  for (const auto& e : redis_eps) {
    auto ep = d4::core::RedisEndpoint::parse(e);
    if (!ep) die("bad --redis endpoint " + e);
    nodes.push_back(std::make_unique<d4::core::RedisClient>(*ep));
  }
  if (nodes.size() > 1 && !metrics_port) die("several --redis nodes need --metrics-port");
  d4::core::RedisClient& redis = *nodes.front();
  auto sum_over_nodes = [&](auto measure) {
    decltype(measure(redis)) total{};
    for (auto& n : nodes) total += measure(*n);
    return total;
  };
  std::vector<std::vector<std::uint8_t>> data;
  std::uint64_t packets = 0, bytes = 0;
  for (const auto& f : files) {
    data.push_back(read_file(f));
    packets += count_packets(data.back(), f);
    bytes += data.back().size();
  }
  auto stored_now = [&] {
    return metrics_port ? server_stored_packets(metrics_port, only_type) : stored_packets(redis, only_type);
  };
  long long already = stored_now();
  SSL_CTX* ctx = nullptr;
  if (!plain) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  std::vector<Conn> conns;
  for (std::size_t i = 0; i < data.size(); ++i) {
    conns.push_back(open_conn(ctx, host, port));
    if (conns.back().fd < 0) die("cannot connect to " + host + ":" + std::to_string(port));
  }
  std::string metrics_before = metrics_port ? http_get(metrics_port, "/metrics") : "";
  double server_cpu0 = server_pid ? cpu_seconds(server_pid) : 0;
  double redis_cpu0 = sum_over_nodes(redis_cpu);
  long long xadds0 = sum_over_nodes(xadd_calls);
  double self_cpu0 = cpu_seconds(getpid());
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  std::vector<double> sent_at(data.size(), 0);
  std::atomic<int> failed{0};
  for (std::size_t i = 0; i < data.size(); ++i) {
    threads.emplace_back([&, i] {
      const auto& d = data[i];
      // Paced senders write small chunks on schedule; unpaced ones write as fast as possible.
      const std::size_t chunk = rate_mbps > 0 ? 16 * 1024 : 256 * 1024;
      double per_conn = rate_mbps * 1e6 / static_cast<double>(data.size());
      for (std::size_t off = 0; off < d.size(); off += chunk) {
        if (per_conn > 0) {
          auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(off) / per_conn));
          std::this_thread::sleep_until(due);
        }
        if (!write_all(conns[i], d.data() + off, std::min(chunk, d.size() - off))) {
          ++failed;
          return;
        }
      }
      sent_at[i] = std::chrono::duration<double>(Clock::now() - t0).count();
    });
  }
  long long stored = 0;
  double t_stored = 0;
  for (;;) {
    stored = stored_now() - already;
    t_stored = std::chrono::duration<double>(Clock::now() - t0).count();
    if (stored >= static_cast<long long>(packets) || t_stored > timeout_s || failed) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& t : threads) t.join();
  double server_cpu = server_pid ? cpu_seconds(server_pid) - server_cpu0 : 0;
  double redis_cpu_used = sum_over_nodes(redis_cpu) - redis_cpu0;
  long long xadds = sum_over_nodes(xadd_calls) - xadds0;
  double self_cpu = cpu_seconds(getpid()) - self_cpu0;
  double t_sent = 0;
  for (double s : sent_at) t_sent = std::max(t_sent, s);
  for (auto& c : conns) close_conn(c);
  double mb = static_cast<double>(bytes) / 1e6;
  std::printf("connections %zu  %s%s\n", data.size(), plain ? "plain TCP" : "TLS",
              rate_mbps > 0
                  ? (", paced at " + std::to_string(static_cast<int>(rate_mbps)) + " MB/s in total").c_str()
                  : "");
  std::printf("sent         %.1f MB, %llu packets, in %.2f s\n", mb, static_cast<unsigned long long>(packets),
              t_sent);
  std::printf("stored       %lld/%llu packets in Redis after %.2f s\n", stored,
              static_cast<unsigned long long>(packets), t_stored);
  std::printf("throughput   %.1f MB/s, %.0f packets/s (until every packet is in Redis)\n", mb / t_stored,
              static_cast<double>(stored) / t_stored);
  std::printf("cpu          sender %.2f s, redis %.2f s (%.2f ms/MB)", self_cpu, redis_cpu_used,
              1000 * redis_cpu_used / mb);
  if (server_pid) std::printf(", d4-server %.2f s (%.2f ms/MB)", server_cpu, 1000 * server_cpu / mb);
  std::printf("\n");
  std::printf("redis        %lld XADD (%.0f per MB, %.2f packets per XADD)\n", xadds,
              static_cast<double>(xadds) / mb,
              xadds ? static_cast<double>(stored) / static_cast<double>(xadds) : 0.0);
  if (metrics_port) {
    auto before = parse_histogram(metrics_before, "d4_server_ingest_latency_seconds");
    auto after = parse_histogram(http_get(metrics_port, "/metrics"), "d4_server_ingest_latency_seconds");
    Histogram delta = after;
    for (std::size_t i = 0; i < delta.buckets.size() && i < before.buckets.size(); ++i)
      delta.buckets[i].second -= before.buckets[i].second;
    std::printf("latency      socket-to-Redis p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms (server histogram)\n",
                1000 * delta.quantile(0.5), 1000 * delta.quantile(0.99), 1000 * delta.quantile(0.999));
  }
  if (failed) die(std::to_string(failed.load()) + " connections failed while sending");
  return stored >= static_cast<long long>(packets) ? 0 : 1;
}

struct FloodOptions {
  std::string host = "127.0.0.1", key = "d4-test-key", ext = "ja3-jl";
  int port = 0, sessions = 64, retry_ms = 100;
  double duration_s = 60;
  std::size_t packet = 65536;
};

int cmd_flood(const FloodOptions& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  const auto uuid = d4::protocol::Uuid::generate_v4();
  std::atomic<std::uint64_t> written{0}, opened{0}, closed{0};
  std::atomic<bool> done{false};
  // The socket each session writes to, so that the end of the run can unblock a held session.
  std::vector<std::atomic<int>> fds(static_cast<std::size_t>(o.sessions));
  for (auto& fd : fds) fd = -1;
  auto bytes = [](const std::string& text) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < o.sessions; ++t) {
    threads.emplace_back([&, t] {
      std::string line(o.packet - 1, 'f');
      line += '\n';
      while (!done) {
        Conn c = open_conn(ctx, o.host, o.port);
        if (c.fd >= 0) {
          ++opened;
          fds[static_cast<std::size_t>(t)] = c.fd;
          if (done) ::shutdown(c.fd, SHUT_RDWR);
          d4::protocol::PacketEncoder enc(1, 2, uuid, o.key);
          std::vector<std::uint8_t> pk;
          enc.append_packet(pk, bytes("{\"type\": \"" + o.ext + "\"}"), d4::protocol::unix_seconds());
          enc.set_type(254);
          bool ok = write_all(c, pk.data(), pk.size());
          while (ok && !done) {
            pk.clear();
            enc.append_packet(pk, bytes(line), d4::protocol::unix_seconds());
            ok = write_all(c, pk.data(), pk.size());
            if (ok) written += pk.size();
          }
          if (!done) ++closed;
          fds[static_cast<std::size_t>(t)] = -1;
          close_conn(c);
        }
        if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(o.retry_ms));
      }
    });
  }
  d4::core::sleep_unless_stopped(std::chrono::milliseconds(static_cast<long long>(o.duration_s * 1000)));
  done = true;
  for (auto& fd : fds)
    if (int f = fd.load(); f >= 0) ::shutdown(f, SHUT_RDWR);
  for (auto& t : threads) t.join();
  std::printf(
      "flood        sensor %s: %d parallel 2/254 sessions wanted, %llu opened, %llu closed by the "
      "server, %.1f MB written\n",
      uuid.dashless().c_str(), o.sessions, static_cast<unsigned long long>(opened.load()),
      static_cast<unsigned long long>(closed.load()), static_cast<double>(written.load()) / 1e6);
  return 0;
}

int cmd_idle(const IdleOptions& o) {
  const auto& [host, key, port, n, hold] = o;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  // Keep the client side small too: no buffers kept while idle.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  std::vector<Conn> conns;
  conns.reserve(static_cast<std::size_t>(n));
  auto t0 = Clock::now();
  for (int i = 0; i < n && !d4::core::stop_requested(); ++i) {
    Conn c = open_conn(ctx, host, port);
    if (c.fd < 0) die("connection " + std::to_string(i) + " failed");
    auto uuid = d4::protocol::Uuid::generate_v4();
    d4::protocol::PacketEncoder enc(1, 3, uuid, key);
    std::vector<std::uint8_t> pk;
    std::string line = "idle sensor " + std::to_string(i) + "\n";
    enc.append_packet(
        pk, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(line.data()), line.size()),
        d4::protocol::unix_seconds());
    if (!write_all(c, pk.data(), pk.size())) die("send on connection " + std::to_string(i) + " failed");
    conns.push_back(c);
    if ((i + 1) % 1000 == 0) std::fprintf(stderr, "%d connections\n", i + 1);
  }
  std::printf("%zu connections open and identified in %.1f s; holding for %d s\n", conns.size(),
              std::chrono::duration<double>(Clock::now() - t0).count(), hold);
  std::fflush(stdout);
  d4::core::sleep_unless_stopped(std::chrono::seconds(hold));
  for (auto& c : conns) close_conn(c);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  d4::core::install_stop_handlers();
  d4::core::cli::App app{"d4-ingest-bench: load generator for a D4 server storing into Redis streams"};
  app.require_subcommand(1);
  SendOptions send;
  auto* s = app.add_subcommand(
      "send", "Send pre-encapsulated D4 streams, one connection per file, as fast as possible");
  s->add_option("--host", send.host, "Server address (IPv4)");
  s->add_option("--port", send.port, "Sensor port")->required();
  s->add_option("--redis", send.redis_eps,
                "The server's stream Redis, HOST:PORT/DB; once per master for a Redis Cluster")
      ->required();
  s->add_flag("--plain", send.plain, "Plain TCP instead of TLS");
  s->add_option("--metrics-port", send.metrics_port, "Read the server's latency histogram from /metrics");
  s->add_option("--server-pid", send.server_pid, "Report the server's CPU time");
  s->add_option("--timeout", send.timeout_s, "Give up after this many seconds");
  s->add_option("--rate", send.rate_mbps, "Pace all connections to this many MB/s in total");
  s->add_option("--only-type", send.only_type, "Count only the streams of this type (stream:<type>:*)");
  s->add_option("files", send.files, "D4 stream files")->required()->check(d4::core::cli::ExistingFile);
  IdleOptions idle;
  auto* i = app.add_subcommand("idle", "Hold many identified, idle TLS sensor connections open");
  i->add_option("--host", idle.host, "Server address (IPv4)");
  i->add_option("--port", idle.port, "Sensor TLS port")->required();
  i->add_option("--connections", idle.connections, "Number of connections");
  i->add_option("--hold", idle.hold, "Seconds to keep them open");
  i->add_option("--key", idle.key, "HMAC key");
  FloodOptions flood;
  auto* f = app.add_subcommand("flood", "One sensor floods parallel type 2/254 sessions");
  f->add_option("--host", flood.host, "Server address (IPv4)");
  f->add_option("--port", flood.port, "Sensor TLS port")->required();
  f->add_option("--sessions", flood.sessions, "Parallel sessions the sensor tries to hold");
  f->add_option("--duration", flood.duration_s, "Seconds to flood");
  f->add_option("--packet", flood.packet, "Type-254 payload bytes per packet");
  f->add_option("--retry-ms", flood.retry_ms, "Wait before reopening a closed or refused session");
  f->add_option("--ext", flood.ext, "Extended type of the meta header (must be accepted)");
  f->add_option("--key", flood.key, "HMAC key");
  if (auto status = d4::core::cli::parse_with_library_status(app, argc, argv)) return *status;
  if (f->parsed()) return cmd_flood(flood);
  return s->parsed() ? cmd_send(send) : cmd_idle(idle);
}
