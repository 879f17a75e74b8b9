// The stream Redis memory budget of several masters (a Redis Cluster): each master has its own
// budget, and the one nearest it decides for every session.
#include <gtest/gtest.h>

#include "server/admission.hpp"

using namespace d4::server;

namespace {

RedisMemoryInfo master(std::uint64_t used, std::uint64_t maxmemory, std::uint64_t system = 16ULL << 30) {
  return RedisMemoryInfo{used, maxmemory, system};
}

}  // namespace

TEST(MemoryBudgetOfMasters, OneMasterIsTheSingleServerRule) {
  RuntimeOptions rt;
  auto one = compute_memory_budget(master(100 << 20, 1 << 30), 3, rt);
  auto of_list = compute_memory_budget(std::vector{master(100 << 20, 1 << 30)}, 3, rt);
  EXPECT_EQ(of_list.budget, one.budget);
  EXPECT_EQ(of_list.used, one.used);
  EXPECT_EQ(of_list.sharing_from, one.sharing_from);
  EXPECT_EQ(of_list.sensors, 3u);
}

TEST(MemoryBudgetOfMasters, TheMasterNearestItsOwnBudgetDecidesWhereverItIsInTheList) {
  RuntimeOptions rt;
  // 10% of a 1 GiB budget, 80% of a 100 MiB one, and no maxmemory (half of 16 GiB).
  const auto low = master(103 << 20, (1ULL << 30) * 10 / 9);
  const auto high = master(80 << 20, (100ULL << 20) * 10 / 9);
  const auto none = master(500 << 20, 0);
  for (const auto& masters :
       {std::vector{low, high, none}, std::vector{high, none, low}, std::vector{none, low, high}}) {
    auto b = compute_memory_budget(masters, 2, rt);
    EXPECT_EQ(b.used, 80u << 20);
    EXPECT_EQ(b.budget, compute_memory_budget(high, 2, rt).budget);
  }
  // Full on that master: every session waits, whatever room the others have.
  auto full = compute_memory_budget(std::vector{low, master(101 << 20, (100ULL << 20) * 10 / 9)}, 2, rt);
  EXPECT_TRUE(full.full());
}

TEST(MemoryBudgetOfMasters, AConfiguredBudgetAppliesToEachMaster) {
  RuntimeOptions rt;
  rt.stream_memory_budget = 200 << 20;
  auto b = compute_memory_budget(std::vector{master(150 << 20, 0), master(190 << 20, 0), master(10 << 20, 0)},
                                 1, rt);
  EXPECT_EQ(b.budget, 200u << 20);
  EXPECT_EQ(b.used, 190u << 20);
  EXPECT_FALSE(b.full());
}
