#pragma once
// The spool: a bounded FIFO of D4 packets between the reader thread (producer) and the destination
// (consumer). Packets live in one contiguous byte ring, each as
//   [PacketDesc 24 bytes][D4 header 62 bytes][payload]
// so the destination can writev() them in place and, for network destinations, keep the ones the
// server has not acknowledged yet for replay after a reconnect (the consumer releases them
// explicitly). When a spool directory is configured, packets that do not fit in memory overflow to
// segment files and come back into the ring, in order, as space frees up.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "protocol/header.hpp"

namespace d4::client {

struct PacketDesc {
  std::uint32_t size;   // payload bytes
  std::uint32_t flags;  // kWrap, kBoundary, kSigned
  std::uint64_t timestamp;
  std::uint64_t stream_end;  // consumer's use: connection byte offset just after this packet

  static constexpr std::uint32_t kWrap = 1;          // rest of the ring lap is unused
  static constexpr std::uint32_t kBoundary = 2;      // payload starts on a record boundary
  static constexpr std::uint32_t kSigned = 4;        // header encoded and signed
  static constexpr std::uint32_t kStreamHeader = 8;  // payload is the pcap global header
};
static_assert(sizeof(PacketDesc) == 24);

class Spool {
 public:
  struct Options {
    std::size_t memory = 16 << 20;
    std::uint32_t max_payload = 4096;
    std::string disk_dir;  // empty: memory only
    std::uint64_t disk_max = 1ULL << 30;
    std::uint64_t segment_size = 64ULL << 20;
  };

  explicit Spool(Options options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // ---- producer (one thread) ----
  enum class Acquire { Ok, Full, Interrupted };
  // On Ok, *area points to kHeaderSize + max_payload writable bytes: the header (filled later by
  // the consumer) then the payload. With wait=true blocks while the spool is full.
  Acquire acquire(std::uint8_t** area, bool wait);
  // flags: PacketDesc::kBoundary and/or kStreamHeader.
  void commit(std::uint32_t payload_size, std::uint64_t timestamp, std::uint32_t flags);
  // No more packets will come.
  void finish();

  // ---- consumer (one thread) ----
  struct Ref {
    std::uint64_t pos;  // position of the packet (after any wrap)
    std::uint64_t next;
    PacketDesc* desc;
    std::uint8_t* packet;  // header + payload, kHeaderSize + desc->size bytes
  };
  // Returns the published end position, waiting up to timeout_ms (0: no wait, <0: forever) while
  // it equals `pos` and the producer has not finished. Also moves overflowed packets back in.
  std::uint64_t wait_for_data(std::uint64_t pos, int timeout_ms);
  std::uint64_t head();
  Ref at(std::uint64_t pos);
  // Frees everything before pos (pos must be a packet position or the head).
  void release(std::uint64_t pos);
  std::uint64_t tail() const { return tail_; }
  bool finished();  // producer finished and nothing left on disk
  // The eventfd is written when a packet is committed while the consumer asked to be woken
  // (request_wakeup), and on interrupt.
  void set_wakeup_fd(int fd) { wakeup_fd_ = fd; }
  // Returns true if packets beyond `pos` are already there (or the producer finished); otherwise
  // arms the wakeup and returns false.
  bool request_wakeup(std::uint64_t pos);
  // Packets that overflowed to disk but could not be written there (disk error) and were lost.
  std::uint64_t disk_errors() const { return disk_errors_; }

  // ---- any thread ----
  // Wakes the producer; acquire() returns Interrupted from now on.
  void interrupt_producer();
  // True while the producer waits in acquire() for room (the spool is full).
  bool producer_waiting();
  std::uint64_t memory_used();
  std::uint64_t disk_used();
  std::size_t capacity() const { return capacity_; }

 private:
  static constexpr std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }
  std::size_t record_size(std::uint32_t payload) const {
    return align8(sizeof(PacketDesc) + protocol::kHeaderSize + payload);
  }
  // The ring offset of a position; smaller than capacity_, so it fits a size_t on 32-bit CPUs too.
  std::size_t ring_index(std::uint64_t pos) const { return static_cast<std::size_t>(pos % capacity_); }
  PacketDesc* desc_at(std::size_t index) const;
  bool ring_fits_locked(std::uint64_t* pos) const;
  void publish_locked(std::uint64_t pos, std::uint32_t size, std::uint64_t ts, std::uint32_t flags);
  void notify_consumer_locked();
  bool disk_append_locked(std::uint32_t size, std::uint64_t ts, std::uint32_t flags);
  void refill_locked();

  struct Segment {
    std::string path;
    int fd = -1;
    std::uint64_t write_off = 0;
    std::uint64_t read_off = 0;
  };

  Options options_;
  std::size_t capacity_;
  std::size_t max_record_;
  std::unique_ptr<std::uint8_t[]> ring_;
  std::mutex mu_;
  std::condition_variable data_cv_;
  std::condition_variable space_cv_;
  std::uint64_t head_ = 0;
  std::uint64_t tail_ = 0;
  bool consumer_waiting_ = false;
  bool wakeup_requested_ = false;
  bool producer_waiting_ = false;
  bool finished_ = false;
  bool interrupted_ = false;
  int wakeup_fd_ = -1;

  // producer reservation
  std::uint64_t pending_pos_ = 0;
  bool pending_to_disk_ = false;
  std::vector<std::uint8_t> staging_;  // for packets going to disk

  // disk overflow
  std::deque<Segment> segments_;
  std::uint64_t disk_bytes_ = 0;
  std::uint64_t disk_records_ = 0;
  std::uint64_t segment_seq_ = 0;
  bool disk_failed_ = false;
  std::atomic<std::uint64_t> disk_errors_{0};
};

}  // namespace d4::client
