#pragma once
// Data sources. A source hands out bytes; the reader thread turns them into D4 packets. Every
// blocking wait of a source also watches the stop descriptor (an eventfd that becomes readable on
// shutdown), so a source never keeps the process from exiting. New sources (e.g. a Redis analyzer
// queue: the "d4server" source) only need to implement this interface.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "client/config.hpp"

namespace d4::client {

enum class ReadStatus {
  Data,         // n > 0 bytes were stored
  Eof,          // end of input (for now: a polled source may have more later)
  Timeout,      // nothing arrived within the timeout
  Interrupted,  // the stop descriptor fired
  Error,        // unrecoverable; see message
};

struct ReadResult {
  ReadStatus status = ReadStatus::Data;
  std::size_t n = 0;
  std::string message;
};

class Source {
 public:
  virtual ~Source() = default;
  // Reads at most buf.size() bytes, waiting at most timeout_ms (<0: no limit) for them.
  virtual ReadResult read(std::span<std::uint8_t> buf, int timeout_ms) = 0;
  virtual std::string describe() const = 0;
  // Called once at the end (capture statistics and the like).
  virtual void log_summary() {}
};

// Opens the configured source. Throws UsageError when it cannot be opened. `delivered` counts the
// payload bytes the destination acknowledged (Stats::payload_delivered); the d4server source needs
// it to release queue elements.
std::unique_ptr<Source> make_source(const Settings& settings, int stop_fd,
                                    const std::atomic<std::uint64_t>* delivered = nullptr);

// Building blocks, also used by tests.
std::unique_ptr<Source> make_fd_source(int fd, std::string name, int stop_fd, bool owns_fd);
std::unique_ptr<Source> make_pcap_source(const Settings& settings, int stop_fd);
// delivered: needed with --folder-existing (files are recorded in the state file once delivered).
std::unique_ptr<Source> make_folder_source(const Settings& settings, int stop_fd,
                                           const std::atomic<std::uint64_t>* delivered = nullptr);
std::unique_ptr<Source> make_d4server_source(const Settings& settings, int stop_fd,
                                             const std::atomic<std::uint64_t>* delivered);

// Waits until fd is readable (true), or the stop fd fires / timeout passes (false; *stopped set).
bool wait_readable(int fd, int stop_fd, int timeout_ms, bool* stopped);

}  // namespace d4::client
