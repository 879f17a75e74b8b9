#include "client/spool.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "client/log.hpp"

namespace d4::client {

Spool::Spool(Options options) : options_(std::move(options)) {
  max_record_ = record_size(options_.max_payload);
  capacity_ = align8(options_.memory);
  if (capacity_ < 2 * max_record_) capacity_ = 2 * max_record_;
  // Uninitialised on purpose: pages are only touched (and committed) as the ring fills.
  ring_.reset(new std::uint8_t[capacity_]);
  if (!options_.disk_dir.empty()) staging_.resize(protocol::kHeaderSize + options_.max_payload);
}

Spool::~Spool() {
  for (auto& s : segments_)
    if (s.fd >= 0) ::close(s.fd);
}

bool Spool::ring_fits_locked(std::uint64_t* pos) const {
  std::size_t idx = ring_index(head_);
  std::size_t waste = capacity_ - idx < max_record_ ? capacity_ - idx : 0;
  std::uint64_t free = capacity_ - (head_ - tail_);
  if (free < waste + max_record_) return false;
  *pos = head_ + waste;
  return true;
}

Spool::Acquire Spool::acquire(std::uint8_t** area, bool wait) {
  std::unique_lock lock(mu_);
  for (;;) {
    std::uint64_t pos = 0;
    if (disk_records_ == 0 && ring_fits_locked(&pos)) {
      pending_pos_ = pos;
      pending_to_disk_ = false;
      *area = ring_.get() + ring_index(pos) + sizeof(PacketDesc);
      return Acquire::Ok;
    }
    if (!options_.disk_dir.empty() && !disk_failed_ && disk_bytes_ + max_record_ <= options_.disk_max) {
      pending_to_disk_ = true;
      *area = staging_.data();
      return Acquire::Ok;
    }
    // Interrupted: no more waiting for space (what fits still goes in).
    if (interrupted_) return Acquire::Interrupted;
    if (!wait) return Acquire::Full;
    producer_waiting_ = true;
    space_cv_.wait(lock);
    producer_waiting_ = false;
  }
}

void Spool::publish_locked(std::uint64_t pos, std::uint32_t size, std::uint64_t ts, std::uint32_t flags) {
  if (pos != head_) {
    // Mark the unused end of the lap.
    PacketDesc wrap{0, PacketDesc::kWrap, 0, 0};
    std::memcpy(ring_.get() + ring_index(head_), &wrap, 8);
  }
  PacketDesc d{size, flags, ts, 0};
  std::memcpy(ring_.get() + ring_index(pos), &d, sizeof d);
  head_ = pos + record_size(size);
  notify_consumer_locked();
}

void Spool::notify_consumer_locked() {
  if (consumer_waiting_) data_cv_.notify_one();
  if (wakeup_requested_ && wakeup_fd_ >= 0) {
    wakeup_requested_ = false;
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(wakeup_fd_, &one, sizeof one);
  }
}

void Spool::commit(std::uint32_t payload_size, std::uint64_t timestamp, std::uint32_t flags) {
  flags &= PacketDesc::kBoundary | PacketDesc::kStreamHeader;
  std::lock_guard lock(mu_);
  if (pending_to_disk_) {
    if (!disk_append_locked(payload_size, timestamp, flags)) ++disk_errors_;
    refill_locked();
  } else {
    publish_locked(pending_pos_, payload_size, timestamp, flags);
  }
}

bool Spool::disk_append_locked(std::uint32_t size, std::uint64_t ts, std::uint32_t flags) {
  if (segments_.empty() || segments_.back().write_off >= options_.segment_size) {
    Segment seg;
    seg.path = options_.disk_dir + "/d4-client-spool-" + std::to_string(::getpid()) + "-" +
               std::to_string(segment_seq_++);
    seg.fd = ::open(seg.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (seg.fd < 0) {
      log_error("disk spool: cannot create " + seg.path + ": " + std::strerror(errno) +
                "; the disk spool is disabled");
      disk_failed_ = true;
      return false;
    }
    // Unlinked at once: the space is reclaimed when the segment is consumed or the process ends.
    ::unlink(seg.path.c_str());
    segments_.push_back(seg);
  }
  Segment& seg = segments_.back();
  PacketDesc d{size, flags, ts, 0};
  iovec iov[2] = {{&d, sizeof d}, {staging_.data() + protocol::kHeaderSize, size}};
  std::size_t want = sizeof d + size;
  ssize_t w = ::pwritev(seg.fd, iov, 2, static_cast<off_t>(seg.write_off));
  if (w != static_cast<ssize_t>(want)) {
    log_error(std::string("disk spool: write failed: ") + (w < 0 ? std::strerror(errno) : "short write") +
              "; the disk spool is disabled");
    disk_failed_ = true;
    return false;
  }
  seg.write_off += want;
  disk_bytes_ += want;
  ++disk_records_;
  return true;
}

void Spool::refill_locked() {
  while (disk_records_ > 0 && !segments_.empty()) {
    Segment& seg = segments_.front();
    if (seg.read_off >= seg.write_off) {
      if (segments_.size() == 1) break;
      ::close(seg.fd);
      segments_.pop_front();
      continue;
    }
    PacketDesc d{};
    if (::pread(seg.fd, &d, sizeof d, static_cast<off_t>(seg.read_off)) != static_cast<ssize_t>(sizeof d)) {
      log_error("disk spool: read failed; dropping the disk spool");
      disk_errors_ += disk_records_;
      disk_records_ = 0;
      disk_bytes_ = 0;
      disk_failed_ = true;
      break;
    }
    std::size_t need = record_size(d.size);
    std::size_t idx = ring_index(head_);
    std::size_t waste = capacity_ - idx < need ? capacity_ - idx : 0;
    if (capacity_ - (head_ - tail_) < waste + need) break;
    std::uint64_t pos = head_ + waste;
    std::uint8_t* dst = ring_.get() + ring_index(pos) + sizeof(PacketDesc) + protocol::kHeaderSize;
    if (::pread(seg.fd, dst, d.size, static_cast<off_t>(seg.read_off + sizeof d)) !=
        static_cast<ssize_t>(d.size)) {
      log_error("disk spool: read failed; dropping the disk spool");
      disk_errors_ += disk_records_;
      disk_records_ = 0;
      disk_bytes_ = 0;
      disk_failed_ = true;
      break;
    }
    seg.read_off += sizeof d + d.size;
    disk_bytes_ -= sizeof d + d.size;
    --disk_records_;
    publish_locked(pos, d.size, d.timestamp, d.flags & (PacketDesc::kBoundary | PacketDesc::kStreamHeader));
  }
  if (disk_records_ == 0 && segments_.size() == 1 &&
      segments_.front().read_off >= segments_.front().write_off && segments_.front().write_off > 0) {
    // Everything consumed: start the file over to give the space back.
    if (::ftruncate(segments_.front().fd, 0) == 0)
      segments_.front().read_off = segments_.front().write_off = 0;
  }
}

void Spool::finish() {
  std::lock_guard lock(mu_);
  finished_ = true;
  notify_consumer_locked();
  data_cv_.notify_all();
}

std::uint64_t Spool::wait_for_data(std::uint64_t pos, int timeout_ms) {
  std::unique_lock lock(mu_);
  refill_locked();
  if (head_ == pos && !finished_ && timeout_ms != 0) {
    consumer_waiting_ = true;
    if (timeout_ms < 0) {
      data_cv_.wait(lock, [&] { return head_ != pos || finished_; });
    } else {
      data_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                        [&] { return head_ != pos || finished_; });
    }
    consumer_waiting_ = false;
    refill_locked();
  }
  return head_;
}

std::uint64_t Spool::head() {
  std::lock_guard lock(mu_);
  return head_;
}

bool Spool::request_wakeup(std::uint64_t pos) {
  std::lock_guard lock(mu_);
  refill_locked();
  if (head_ != pos || finished_) return true;
  wakeup_requested_ = true;
  return false;
}

// Records start at multiples of 8 bytes (align8) of an array from new[], itself aligned for any
// type up to __STDCPP_DEFAULT_NEW_ALIGNMENT__: a descriptor there is suitably aligned, which the
// compiler cannot see (-Wcast-align on strict-alignment CPUs such as armhf), hence void*.
static_assert(alignof(PacketDesc) <= 8 && alignof(PacketDesc) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
PacketDesc* Spool::desc_at(std::size_t index) const {
  return static_cast<PacketDesc*>(static_cast<void*>(ring_.get() + index));
}

Spool::Ref Spool::at(std::uint64_t pos) {
  std::size_t idx = ring_index(pos);
  PacketDesc* d = desc_at(idx);
  if (d->flags & PacketDesc::kWrap) {
    pos += capacity_ - idx;
    d = desc_at(0);
  }
  Ref r;
  r.pos = pos;
  r.desc = d;
  r.packet = reinterpret_cast<std::uint8_t*>(d) + sizeof(PacketDesc);
  r.next = pos + record_size(d->size);
  return r;
}

void Spool::release(std::uint64_t pos) {
  std::lock_guard lock(mu_);
  if (pos <= tail_) return;
  tail_ = pos;
  refill_locked();
  if (producer_waiting_) space_cv_.notify_one();
}

bool Spool::finished() {
  std::lock_guard lock(mu_);
  return finished_ && disk_records_ == 0;
}

void Spool::interrupt_producer() {
  std::lock_guard lock(mu_);
  interrupted_ = true;
  space_cv_.notify_all();
}

bool Spool::producer_waiting() {
  std::lock_guard lock(mu_);
  return producer_waiting_;
}

std::uint64_t Spool::memory_used() {
  std::lock_guard lock(mu_);
  return head_ - tail_;
}

std::uint64_t Spool::disk_used() {
  std::lock_guard lock(mu_);
  return disk_bytes_;
}

}  // namespace d4::client
