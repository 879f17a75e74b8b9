#pragma once
// Counters shared by the reader and the destination, reported on stderr.
#include <atomic>
#include <cstdint>
#include <string>

namespace d4::client {

struct Stats {
  std::atomic<std::uint64_t> bytes_read{0};       // from the source
  std::atomic<std::uint64_t> packets_queued{0};   // D4 packets built into the spool
  std::atomic<std::uint64_t> packets_dropped{0};  // spool full with --overflow=drop
  std::atomic<std::uint64_t> bytes_dropped{0};
  std::atomic<std::uint64_t> packets_sent{0};    // data packets written (first time)
  std::atomic<std::uint64_t> bytes_sent{0};      // payload bytes written (first time)
  std::atomic<std::uint64_t> packets_resent{0};  // written again after a reconnect
  std::atomic<std::uint64_t> packets_acked{0};   // acknowledged by the peer's TCP
  // Payload bytes delivered, counted once each and in stream order: acknowledged by the server's
  // TCP (network) or written (stdout). The d4server source removes queue elements behind it.
  std::atomic<std::uint64_t> payload_delivered{0};
  std::atomic<std::uint64_t> wire_bytes{0};  // everything written to the destination
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::uint64_t> disconnects{0};

  std::string line(std::uint64_t spool_memory, std::uint64_t spool_disk, bool network) const;
};

}  // namespace d4::client
