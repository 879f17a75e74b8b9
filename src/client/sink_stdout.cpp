#include "client/sink_stdout.hpp"

#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "client/log.hpp"
#include "core/rate_limiter.hpp"
#include "protocol/encoder.hpp"

namespace d4::client {
namespace {

constexpr int kMaxIov = 1024;

// Writes all iovecs, resuming after partial writes. Returns 0 or an errno value.
int writev_all(int fd, iovec* iov, int count) {
  while (count > 0) {
    ssize_t w = ::writev(fd, iov, count);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      return errno;
    }
    auto left = static_cast<std::size_t>(w);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<std::uint8_t*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

}  // namespace

std::vector<std::uint8_t> metaheader_packets(const Settings& s, std::uint64_t timestamp) {
  std::vector<std::uint8_t> out;
  protocol::PacketEncoder enc(s.version, 2, s.uuid, s.key);
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.metaheader.data());
  std::size_t left = s.metaheader.size();
  while (left > 0) {
    std::size_t n = std::min<std::size_t>(left, s.snaplen);
    enc.append_packet(out, {p, n}, timestamp);
    p += n;
    left -= n;
  }
  return out;
}

int run_stdout_sink(const Settings& s, Spool& spool, Stats& stats, const StopState& stop, int fd) {
  (void)stop;
  protocol::PacketEncoder enc(s.version, s.data_type, s.uuid, s.key);
  if (s.data_type == 254) {
    auto mh = metaheader_packets(s, s.fixed_timestamp ? *s.fixed_timestamp : protocol::unix_seconds());
    iovec v{mh.data(), mh.size()};
    if (int e = writev_all(fd, &v, 1)) {
      log_error(std::string("cannot write to stdout: ") + std::strerror(e));
      return 1;
    }
    stats.wire_bytes += mh.size();
  }
  core::RateLimiter limiter(s.rate_limit);
  using Clock = std::chrono::steady_clock;
  auto next_stats = Clock::now() + s.stats_interval;
  std::uint64_t pos = spool.tail();
  std::vector<iovec> iov(kMaxIov);
  for (;;) {
    int timeout = -1;
    if (s.stats_interval.count() > 0) {
      auto now = Clock::now();
      if (now >= next_stats) {
        log_info(stats.line(spool.memory_used(), spool.disk_used(), false));
        next_stats = now + s.stats_interval;
      }
      timeout = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(next_stats - now).count() + 1);
    }
    std::uint64_t head = spool.wait_for_data(pos, timeout);
    if (head == pos) {
      if (spool.finished() && spool.head() == pos) return 0;
      continue;
    }
    int n = 0;
    std::uint64_t bytes = 0, payload = 0;
    std::uint64_t p = pos;
    while (p != head && n < kMaxIov) {
      Spool::Ref r = spool.at(p);
      std::uint32_t size = r.desc->size;
      enc.encode_header(std::span<std::uint8_t, protocol::kHeaderSize>(r.packet, protocol::kHeaderSize),
                        {r.packet + protocol::kHeaderSize, size}, r.desc->timestamp);
      iov[static_cast<std::size_t>(n++)] = {r.packet, protocol::kHeaderSize + size};
      bytes += protocol::kHeaderSize + size;
      payload += size;
      p = r.next;
    }
    if (limiter.enabled()) {
      limiter.consume(bytes);
      auto d = limiter.delay();
      if (d.count() > 0) std::this_thread::sleep_for(d);
    }
    if (int e = writev_all(fd, iov.data(), n)) {
      log_error(std::string("cannot write to stdout: ") + std::strerror(e));
      return 1;
    }
    spool.release(p);
    pos = p;
    stats.packets_sent.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    stats.bytes_sent.fetch_add(payload, std::memory_order_relaxed);
    stats.payload_delivered.fetch_add(payload, std::memory_order_release);
    stats.wire_bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
}

}  // namespace d4::client
