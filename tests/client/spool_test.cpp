// The spool: FIFO order across ring wrap-around, release, back-pressure, drop mode and the disk
// overflow, with a real producer thread.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "client/spool.hpp"
#include "client_test_util.hpp"

using namespace d4::client;
using namespace d4::test;

namespace {

// Waits (bounded) until the producer thread blocks in acquire(): what the test releases or
// interrupts next must find it waiting, not about to call.
bool wait_producer_waiting(Spool& s) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!s.producer_waiting()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void put(Spool& s, std::uint32_t value, std::uint32_t size) {
  std::uint8_t* area = nullptr;
  ASSERT_EQ(s.acquire(&area, true), Spool::Acquire::Ok);
  for (std::uint32_t i = 0; i < size; ++i)
    area[d4::protocol::kHeaderSize + i] = static_cast<std::uint8_t>(value + i);
  s.commit(size, value, PacketDesc::kBoundary);
}

// Consumes everything, checking the sequence numbers carried in the timestamps.
std::uint32_t drain(Spool& s, std::uint32_t expect_next) {
  std::uint64_t pos = s.tail();
  for (;;) {
    std::uint64_t head = s.wait_for_data(pos, 2000);
    if (head == pos) return expect_next;
    while (pos != head) {
      auto r = s.at(pos);
      EXPECT_EQ(r.desc->timestamp, expect_next);
      for (std::uint32_t i = 0; i < r.desc->size; ++i)
        EXPECT_EQ(r.packet[d4::protocol::kHeaderSize + i], static_cast<std::uint8_t>(expect_next + i));
      ++expect_next;
      pos = r.next;
    }
    s.release(pos);
    if (s.finished() && s.head() == pos) return expect_next;
  }
}

}  // namespace

TEST(Spool, FifoAcrossWrapAround) {
  Spool::Options o;
  o.memory = 64 * 1024;
  o.max_payload = 4096;
  Spool s(o);
  std::uint32_t next = 0;
  std::uint32_t consumed = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 7; ++i, ++next) put(s, next, 100 + (next * 37) % 4000);
    std::uint64_t pos = s.tail(), head = s.head();
    while (pos != head) {
      auto r = s.at(pos);
      EXPECT_EQ(r.desc->timestamp, consumed++);
      pos = r.next;
    }
    s.release(pos);
  }
  EXPECT_EQ(consumed, next);
  EXPECT_EQ(s.memory_used(), 0u);
}

TEST(Spool, FullSpoolBlocksOrReportsFull) {
  Spool::Options o;
  o.memory = 32 * 1024;
  o.max_payload = 4096;
  Spool s(o);
  int accepted = 0;
  std::uint8_t* area = nullptr;
  while (s.acquire(&area, false) == Spool::Acquire::Ok) {
    s.commit(4096, static_cast<std::uint64_t>(accepted++), PacketDesc::kBoundary);
    ASSERT_LT(accepted, 100);
  }
  EXPECT_GT(accepted, 3);
  // A blocked producer resumes once the consumer releases.
  std::thread producer([&] {
    std::uint8_t* a = nullptr;
    EXPECT_EQ(s.acquire(&a, true), Spool::Acquire::Ok);
    s.commit(10, 999, PacketDesc::kBoundary);
  });
  EXPECT_TRUE(wait_producer_waiting(s));  // not ASSERT: the thread must be joined
  auto r = s.at(s.tail());
  s.release(r.next);
  producer.join();
  // And an interrupted one gives up.
  while (s.acquire(&area, false) == Spool::Acquire::Ok) s.commit(4096, 0, PacketDesc::kBoundary);
  std::thread blocked([&] {
    std::uint8_t* a = nullptr;
    EXPECT_EQ(s.acquire(&a, true), Spool::Acquire::Interrupted);
  });
  EXPECT_TRUE(wait_producer_waiting(s));  // not ASSERT: the thread must be joined
  s.interrupt_producer();
  blocked.join();
}

TEST(Spool, ProducerConsumerThreads) {
  Spool::Options o;
  o.memory = 48 * 1024;
  o.max_payload = 2048;
  Spool s(o);
  constexpr std::uint32_t kCount = 20000;
  std::thread producer([&] {
    for (std::uint32_t i = 0; i < kCount; ++i) put(s, i, i % 2048);
    s.finish();
  });
  EXPECT_EQ(drain(s, 0), kCount);
  producer.join();
}

TEST(Spool, DiskOverflowKeepsOrder) {
  ClientTempDir tmp;
  Spool::Options o;
  o.memory = 40 * 1024;
  o.max_payload = 4096;
  o.disk_dir = tmp.path();
  o.segment_size = 64 * 1024;  // several segments
  Spool s(o);
  constexpr std::uint32_t kCount = 500;
  // Nothing is consumed while producing: most packets go to disk without blocking.
  for (std::uint32_t i = 0; i < kCount; ++i) put(s, i, 1000 + i);
  EXPECT_GT(s.disk_used(), 300'000u);
  s.finish();
  EXPECT_EQ(drain(s, 0), kCount);
  EXPECT_EQ(s.disk_used(), 0u);
  EXPECT_EQ(s.disk_errors(), 0u);
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path())) << "segments are unlinked";
}

TEST(Spool, DiskLimitBlocks) {
  ClientTempDir tmp;
  Spool::Options o;
  o.memory = 20 * 1024;
  o.max_payload = 4096;
  o.disk_dir = tmp.path();
  o.disk_max = 50 * 1024;
  Spool s(o);
  int n = 0;
  std::uint8_t* area = nullptr;
  while (s.acquire(&area, false) == Spool::Acquire::Ok && n < 1000)
    s.commit(4096, static_cast<std::uint64_t>(n++), 0);
  EXPECT_LT(n, 20);
  EXPECT_LE(s.disk_used(), 50u * 1024);
}
