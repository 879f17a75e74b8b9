#include "client/reader.hpp"

#include <poll.h>

#include <cstring>

#include "client/chunker.hpp"
#include "client/log.hpp"
#include "protocol/encoder.hpp"

namespace d4::client {

Reader::Reader(const Settings& settings, Source& source, Spool& spool, Stats& stats, SessionInfo& session,
               const StopState& stop, int stop_fd)
    : s_(settings),
      source_(source),
      spool_(spool),
      stats_(stats),
      session_(session),
      stop_(stop),
      stop_fd_(stop_fd) {}

std::uint64_t Reader::timestamp() const {
  return s_.fixed_timestamp ? *s_.fixed_timestamp : protocol::unix_seconds();
}

bool Reader::sleep_interruptible(int ms) {
  pollfd p{stop_fd_, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0 && (p.revents & POLLIN);
}

void Reader::run() {
  try {
    if (s_.chunking == Chunking::Read)
      run_read_chunking();
    else
      run_record_chunking();
  } catch (const std::exception& e) {
    log_error(std::string("reader: ") + e.what());
    failed_ = true;
  }
  spool_.finish();
}

void Reader::run_read_chunking() {
  const bool block = s_.overflow == Overflow::Block;
  scratch_.resize(protocol::kHeaderSize + s_.snaplen);
  for (;;) {
    // Checked every time: a regular file never blocks, so its reads never see the stop fd.
    if (stop_.requested()) return;
    std::uint8_t* area = nullptr;
    auto a = spool_.acquire(&area, block);
    if (a == Spool::Acquire::Interrupted) return;
    bool drop = a == Spool::Acquire::Full;
    if (drop) area = scratch_.data();
    auto r = source_.read({area + protocol::kHeaderSize, s_.snaplen}, drop ? 100 : -1);
    switch (r.status) {
      case ReadStatus::Data: {
        stats_.bytes_read.fetch_add(r.n, std::memory_order_relaxed);
        if (drop) {
          stats_.packets_dropped.fetch_add(1, std::memory_order_relaxed);
          stats_.bytes_dropped.fetch_add(r.n, std::memory_order_relaxed);
          if (stats_.packets_dropped.load() >= drops_logged_at_ * 2 + 1) {
            drops_logged_at_ = stats_.packets_dropped.load();
            log_warn("spool full: dropped " + std::to_string(drops_logged_at_) + " packets (" +
                     std::to_string(stats_.bytes_dropped.load()) + " bytes) so far");
          }
          break;
        }
        spool_.commit(static_cast<std::uint32_t>(r.n), timestamp(), PacketDesc::kBoundary);
        stats_.packets_queued.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      case ReadStatus::Timeout:
        break;
      case ReadStatus::Interrupted:
        return;
      case ReadStatus::Error:
        log_error(r.message);
        failed_ = true;
        return;
      case ReadStatus::Eof:
        if (s_.eof == EofMode::Exit) {
          eof_ = true;
          if (drop && spool_.acquire(&area, true) != Spool::Acquire::Ok) return;
          // Like the C client: a final packet of size 0 marks the end of the input.
          spool_.commit(0, timestamp(), PacketDesc::kBoundary);
          stats_.packets_queued.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        if (sleep_interruptible(static_cast<int>(s_.eof_poll.count()))) return;
        break;
    }
  }
}

void Reader::emit(std::span<const std::uint8_t> payload, std::uint32_t flags) {
  if (flags & PacketDesc::kStreamHeader) session_.set_pcap_header({payload.begin(), payload.end()});
  auto count_drop = [&] {
    stats_.packets_dropped.fetch_add(1, std::memory_order_relaxed);
    stats_.bytes_dropped.fetch_add(payload.size(), std::memory_order_relaxed);
    if (stats_.packets_dropped.load() >= drops_logged_at_ * 2 + 1) {
      drops_logged_at_ = stats_.packets_dropped.load();
      log_warn("spool full: dropped " + std::to_string(drops_logged_at_) + " packets (" +
               std::to_string(stats_.bytes_dropped.load()) + " bytes) so far");
    }
  };
  // After a drop, the rest of a split record goes too: a connection must not start mid-record.
  if (dropping_ && !(flags & PacketDesc::kBoundary)) return count_drop();
  dropping_ = false;
  std::uint8_t* area = nullptr;
  auto a = spool_.acquire(&area, s_.overflow == Overflow::Block);
  if (a != Spool::Acquire::Ok) {
    dropping_ = true;
    return count_drop();
  }
  if (!payload.empty()) std::memcpy(area + protocol::kHeaderSize, payload.data(), payload.size());
  spool_.commit(static_cast<std::uint32_t>(payload.size()), ts_, flags);
  stats_.packets_queued.fetch_add(1, std::memory_order_relaxed);
}

void Reader::run_record_chunking() {
  Chunker chunker(Chunker::mode_for_type(s_.data_type), s_.snaplen,
                  [this](std::span<const std::uint8_t> p, std::uint32_t f) { emit(p, f); });
  constexpr int kIdleFlushMs = 1000;  // an incomplete line or record waits at most this long
  for (;;) {
    if (stop_.requested()) {
      ts_ = timestamp();
      chunker.flush();
      return;
    }
    auto buf = chunker.prepare(std::max<std::size_t>(s_.snaplen, 65536));
    auto r = source_.read(buf, chunker.pending() ? kIdleFlushMs : -1);
    switch (r.status) {
      case ReadStatus::Data:
        stats_.bytes_read.fetch_add(r.n, std::memory_order_relaxed);
        ts_ = timestamp();
        chunker.commit(r.n);
        break;
      case ReadStatus::Timeout:
        ts_ = timestamp();
        chunker.flush();
        break;
      case ReadStatus::Interrupted:
        ts_ = timestamp();
        chunker.flush();
        return;
      case ReadStatus::Error:
        log_error(r.message);
        failed_ = true;
        chunker.flush();
        return;
      case ReadStatus::Eof:
        ts_ = timestamp();
        chunker.flush();
        if (s_.eof == EofMode::Exit) {
          eof_ = true;
          dropping_ = false;
          if (s_.overflow == Overflow::Drop) {
            // The end marker is worth waiting for.
            std::uint8_t* area = nullptr;
            if (spool_.acquire(&area, true) == Spool::Acquire::Ok) {
              spool_.commit(0, ts_, PacketDesc::kBoundary);
              stats_.packets_queued.fetch_add(1, std::memory_order_relaxed);
            }
          } else {
            emit({}, PacketDesc::kBoundary);
          }
          return;
        }
        if (sleep_interruptible(static_cast<int>(s_.eof_poll.count()))) return;
        break;
    }
  }
}

}  // namespace d4::client
