#pragma once
// The PIBS "has sent a pure SYN" table: source address -> time of its last pure SYN (seconds).
// Open addressing with linear probing in a power-of-two array that doubles at 70% load (the
// reference used 1024 chained bins capped at 261,120 addresses and aborted when full, with a hash
// dominated by the first octet). Deletion uses backward shifting, so no tombstones accumulate.
// IPv4 keys are 4 bytes and IPv6 keys 16 bytes, in separate tables.
//
// Memory is capped (`max_bytes`, the old and the new array counted together while the table
// doubles): spoofed SYNs from random addresses (IPv6 gives an unlimited supply) would otherwise
// grow it without end. A table that may not double any more makes room for a new address by
// evicting the sender with the oldest SYN among a few consecutive entries at a cursor that sweeps
// the table (an approximation of least recently seen, in O(1)); evictions are counted. An evicted
// client's later packets look like backscatter again, so the cap trades memory for false positives
// only under a flood.
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace d4::analyzers::pibs {

template <typename Key>
struct KeyTraits;

template <>
struct KeyTraits<std::uint32_t> {
  static std::uint64_t hash(std::uint32_t k) {
    std::uint64_t x = k * 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 29);
  }
};

template <>
struct KeyTraits<std::array<std::uint8_t, 16>> {
  static std::uint64_t hash(const std::array<std::uint8_t, 16>& k) {
    std::uint64_t a, b;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    std::uint64_t x = (a ^ (b * 0xC2B2AE3D27D4EB4FULL)) * 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 31);
  }
};

template <typename Key>
class SynTable {
  struct Slot {
    Key key{};
    std::uint32_t ts = 0;
    bool used = false;
  };

 public:
  static constexpr std::size_t kSlotBytes = sizeof(Slot);
  static constexpr std::size_t kEvictionSample = 8;

  explicit SynTable(std::size_t initial_capacity = 1024,
                    std::size_t max_bytes = std::numeric_limits<std::size_t>::max())
      : max_bytes_(max_bytes) {
    std::size_t capacity = std::bit_ceil(std::max<std::size_t>(initial_capacity, 16));
    while (capacity > 16 && capacity * kSlotBytes > max_bytes_) capacity /= 2;
    rehash(capacity);
  }

  // Records a pure SYN from `key` at `ts` (insert or overwrite, as the reference does).
  void put(const Key& key, std::uint32_t ts) {
    if ((size_ + 1) * 10 > slots_.size() * 7) {
      if (may_double()) {
        rehash(slots_.size() * 2);
      } else if (std::uint32_t* known = find_mutable(key)) {
        *known = ts;
        return;
      } else {
        evict_one();
      }
    }
    insert(key, ts);
  }

  // The time of the last pure SYN of `key`, or nullptr.
  const std::uint32_t* find(const Key& key) const { return const_cast<SynTable*>(this)->find_mutable(key); }

  bool erase(const Key& key) {
    std::size_t i = index(key);
    for (;;) {
      Slot& s = slots_[i];
      if (!s.used) return false;
      if (s.key == key) break;
      i = (i + 1) & mask_;
    }
    // Backward shift: move later members of the probe run into the hole when that keeps them
    // reachable from their home slot.
    std::size_t hole = i;
    std::size_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      Slot& n = slots_[j];
      if (!n.used) break;
      std::size_t home = index(n.key);
      bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
      if (movable) {
        slots_[hole] = n;
        hole = j;
      }
    }
    slots_[hole].used = false;
    --size_;
    return true;
  }

  // Drops every entry older than `oldest` (entries with ts < oldest), in place (no second array).
  // Returns the number removed.
  std::size_t remove_older_than(std::uint32_t oldest) {
    std::size_t removed = 0;
    for (std::size_t i = 0; i < slots_.size();) {
      // Backward shifting may move a later entry into slot i: look at it again before moving on.
      // Entries only move towards their home slot, so none skips past i unseen.
      if (slots_[i].used && slots_[i].ts < oldest) {
        erase(Key(slots_[i].key));
        ++removed;
      } else {
        ++i;
      }
    }
    return removed;
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return slots_.size(); }
  std::size_t memory_bytes() const { return slots_.size() * sizeof(Slot); }
  std::size_t max_bytes() const { return max_bytes_; }
  // Senders evicted to stay within max_bytes.
  std::uint64_t evictions() const { return evictions_; }
  void clear() {
    slots_.assign(slots_.size(), Slot{});
    size_ = 0;
  }

 private:
  // Insert or overwrite without any capacity check (the caller made room).
  void insert(const Key& key, std::uint32_t ts) {
    std::size_t i = index(key);
    for (;;) {
      Slot& s = slots_[i];
      if (!s.used) {
        s.key = key;
        s.ts = ts;
        s.used = true;
        ++size_;
        return;
      }
      if (s.key == key) {
        s.ts = ts;
        return;
      }
      i = (i + 1) & mask_;
    }
  }

  std::size_t index(const Key& k) const {
    return static_cast<std::size_t>(KeyTraits<Key>::hash(k) >> shift_);
  }

  std::uint32_t* find_mutable(const Key& key) {
    std::size_t i = index(key);
    for (;;) {
      Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.ts;
      i = (i + 1) & mask_;
    }
  }

  // Doubling holds the old and the new array at once.
  bool may_double() const {
    const std::size_t after = slots_.size() * 3 * sizeof(Slot);
    return after / 3 == slots_.size() * sizeof(Slot) && after <= max_bytes_;
  }

  // Evicts the entry with the oldest SYN among the next kEvictionSample entries at the cursor.
  void evict_one() {
    std::size_t victim = slots_.size(), seen = 0;
    for (std::size_t n = 0; n < slots_.size() && seen < kEvictionSample; ++n) {
      cursor_ = (cursor_ + 1) & mask_;
      if (!slots_[cursor_].used) continue;
      ++seen;
      if (victim == slots_.size() || slots_[cursor_].ts < slots_[victim].ts) victim = cursor_;
    }
    if (victim == slots_.size()) return;
    erase(Key(slots_[victim].key));
    ++evictions_;
  }

  void rehash(std::size_t capacity) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
    size_ = 0;
    for (const auto& s : old)
      if (s.used) insert(s.key, s.ts);
  }

  std::vector<Slot> slots_;
  std::size_t max_bytes_;
  std::size_t cursor_ = 0;
  std::uint64_t evictions_ = 0;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
};

}  // namespace d4::analyzers::pibs
