#pragma once
// The reader thread: source -> (chunker) -> spool. It takes the header timestamp when the bytes
// arrive, handles end of input (exit with a final empty packet, or poll) and the overflow policy.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "client/config.hpp"
#include "client/source.hpp"
#include "client/spool.hpp"
#include "client/stats.hpp"
#include "client/stop.hpp"

namespace d4::client {

// What a new connection needs besides the spooled packets: the pcap global header of the stream
// (type 1, record chunking), learnt by the reader.
class SessionInfo {
 public:
  void set_pcap_header(std::vector<std::uint8_t> h) {
    std::lock_guard lock(mu_);
    pcap_header_ = std::move(h);
  }
  std::vector<std::uint8_t> pcap_header() const {
    std::lock_guard lock(mu_);
    return pcap_header_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::uint8_t> pcap_header_;
};

class Reader {
 public:
  Reader(const Settings& settings, Source& source, Spool& spool, Stats& stats, SessionInfo& session,
         const StopState& stop, int stop_fd);

  // Thread body: returns at end of input (--eof=exit), on a source error, or once the stop fd fires.
  // Always calls spool.finish() before returning.
  void run();
  bool failed() const { return failed_.load(); }
  bool reached_eof() const { return eof_.load(); }

 private:
  void run_read_chunking();
  void run_record_chunking();
  void emit(std::span<const std::uint8_t> payload, std::uint32_t flags);
  bool sleep_interruptible(int ms);
  std::uint64_t timestamp() const;

  const Settings& s_;
  Source& source_;
  Spool& spool_;
  Stats& stats_;
  SessionInfo& session_;
  const StopState& stop_;
  int stop_fd_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> eof_{false};
  std::uint64_t ts_ = 0;
  bool dropping_ = false;
  std::uint64_t drops_logged_at_ = 0;
  std::vector<std::uint8_t> scratch_;
};

}  // namespace d4::client
