#pragma once
// The PIBS "has sent a pure SYN" table: source address -> time of its last pure SYN (seconds).
// Open addressing with linear probing in a power-of-two array that doubles at 70% load, so it
// has no fixed capacity (the reference used 1024 chained bins capped at 261,120 addresses and
// aborted when full, with a hash dominated by the first octet). Deletion uses backward shifting,
// so no tombstones accumulate. IPv4 keys are 4 bytes and IPv6 keys 16 bytes, in separate tables.
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
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
 public:
  explicit SynTable(std::size_t initial_capacity = 1024) {
    rehash(std::bit_ceil(std::max<std::size_t>(initial_capacity, 16)));
  }

  // Records a pure SYN from `key` at `ts` (insert or overwrite, as the reference does).
  void put(const Key& key, std::uint32_t ts) {
    if ((size_ + 1) * 10 > slots_.size() * 7) rehash(slots_.size() * 2);
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

  // The time of the last pure SYN of `key`, or nullptr.
  const std::uint32_t* find(const Key& key) const {
    std::size_t i = index(key);
    for (;;) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.ts;
      i = (i + 1) & mask_;
    }
  }

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

  // Drops every entry older than `oldest` (entries with ts < oldest). Returns the number removed.
  std::size_t remove_older_than(std::uint32_t oldest) {
    std::vector<Slot> old;
    old.swap(slots_);
    std::size_t before = size_;
    slots_.assign(old.size(), Slot{});
    size_ = 0;
    for (const auto& s : old)
      if (s.used && s.ts >= oldest) put(s.key, s.ts);
    return before - size_;
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return slots_.size(); }
  std::size_t memory_bytes() const { return slots_.size() * sizeof(Slot); }
  void clear() {
    slots_.assign(slots_.size(), Slot{});
    size_ = 0;
  }

 private:
  struct Slot {
    Key key{};
    std::uint32_t ts = 0;
    bool used = false;
  };

  std::size_t index(const Key& k) const {
    return static_cast<std::size_t>(KeyTraits<Key>::hash(k) >> shift_);
  }

  void rehash(std::size_t capacity) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
    size_ = 0;
    for (const auto& s : old)
      if (s.used) put(s.key, s.ts);
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
};

}  // namespace d4::analyzers::pibs
