#include "server/admission.hpp"

#include <algorithm>
#include <charconv>

namespace d4::server {
namespace {

// The automatic budget: below maxmemory (whose last 10% Redis needs for replies, buffers and
// fragmentation before it refuses writes), or without maxmemory half of the machine's memory.
constexpr double kMaxmemoryShare = 0.9;
constexpr double kSystemMemoryShare = 0.5;

}  // namespace

std::string_view backpressure_name(Backpressure b) {
  switch (b) {
    case Backpressure::backlog:
      return "backlog";
    case Backpressure::session_bytes:
      return "session_bytes";
    case Backpressure::sensor_bytes:
      return "sensor_bytes";
    case Backpressure::memory:
      return "memory";
    case Backpressure::kCount:
      break;
  }
  return "unknown";
}

std::optional<Backpressure> backpressure_of(PauseCause c) {
  switch (c) {
    case kPauseBacklog:
      return Backpressure::backlog;
    case kPauseSessionBytes:
      return Backpressure::session_bytes;
    case kPauseSensorBytes:
      return Backpressure::sensor_bytes;
    case kPauseMemory:
      return Backpressure::memory;
    default:
      return std::nullopt;
  }
}

std::optional<RedisMemoryInfo> parse_info_memory(std::string_view info) {
  RedisMemoryInfo out;
  bool have_used = false;
  while (!info.empty()) {
    auto eol = info.find('\n');
    std::string_view line = info.substr(0, eol);
    info = eol == std::string_view::npos ? std::string_view() : info.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto key = line.substr(0, colon);
    auto value = line.substr(colon + 1);
    std::uint64_t* field = key == "used_memory"           ? &out.used
                           : key == "maxmemory"           ? &out.maxmemory
                           : key == "total_system_memory" ? &out.total_system
                                                          : nullptr;
    if (!field) continue;
    std::uint64_t v = 0;
    if (std::from_chars(value.data(), value.data() + value.size(), v).ec != std::errc()) continue;
    *field = v;
    if (field == &out.used) have_used = true;
  }
  if (!have_used) return std::nullopt;
  return out;
}

std::uint64_t MemoryBudget::fair_share() const {
  if (budget == 0 || used < sharing_from || full()) return 0;
  return std::max<std::uint64_t>(1, sharing_from / std::max<std::uint64_t>(1, sensors));
}

MemoryBudget compute_memory_budget(const RedisMemoryInfo& info, std::uint64_t sensors_with_backlog,
                                   const RuntimeOptions& rt) {
  MemoryBudget b;
  b.used = info.used;
  b.sensors = sensors_with_backlog;
  if (rt.stream_memory_budget > 0)
    b.budget = rt.stream_memory_budget;
  else if (info.maxmemory > 0)
    b.budget = static_cast<std::uint64_t>(static_cast<double>(info.maxmemory) * kMaxmemoryShare);
  else
    b.budget = static_cast<std::uint64_t>(static_cast<double>(info.total_system) * kSystemMemoryShare);
  b.sharing_from = static_cast<std::uint64_t>(static_cast<double>(b.budget) * rt.stream_memory_share_from);
  return b;
}

MemoryBudget compute_memory_budget(const std::vector<RedisMemoryInfo>& masters,
                                   std::uint64_t sensors_with_backlog, const RuntimeOptions& rt) {
  MemoryBudget nearest = compute_memory_budget(masters.at(0), sensors_with_backlog, rt);
  for (std::size_t i = 1; i < masters.size(); ++i) {
    MemoryBudget b = compute_memory_budget(masters[i], sensors_with_backlog, rt);
    if (b.budget == 0) continue;  // no budget on this master (no maxmemory nor system memory known)
    // used / budget compared without division: a master without a budget never decides.
    const auto mine = static_cast<long double>(b.used) * static_cast<long double>(nearest.budget);
    const auto theirs = static_cast<long double>(nearest.used) * static_cast<long double>(b.budget);
    if (nearest.budget == 0 || mine > theirs) nearest = b;
  }
  return nearest;
}

bool MemoryGate::publish(const MemoryBudget& b, std::uint64_t stored_at_request) {
  MemoryBudget before = current();
  budget_.store(b.budget, std::memory_order_relaxed);
  sharing_from_.store(b.sharing_from, std::memory_order_relaxed);
  sensors_.store(b.sensors, std::memory_order_relaxed);
  used_.store(b.used, std::memory_order_relaxed);
  // What was stored before INFO was sent is in used_memory now.
  std::uint64_t since = stored_since_poll_.load(std::memory_order_relaxed);
  while (!stored_since_poll_.compare_exchange_weak(since, since - std::min(since, stored_at_request),
                                                   std::memory_order_relaxed)) {
  }
  MemoryBudget after = current();
  // Less restrictive: no longer full, or a larger (or no) share.
  return (before.full() && !after.full()) ||
         (before.fair_share() != 0 && (after.fair_share() == 0 || after.fair_share() > before.fair_share()));
}

MemoryBudget MemoryGate::current() const {
  MemoryBudget b;
  b.budget = budget_.load(std::memory_order_relaxed);
  b.sharing_from = sharing_from_.load(std::memory_order_relaxed);
  b.sensors = sensors_.load(std::memory_order_relaxed);
  b.used = used_.load(std::memory_order_relaxed) + stored_since_poll_.load(std::memory_order_relaxed);
  return b;
}

unsigned admission_causes(const SessionBacklog& b, const RuntimeOptions& rt, const MemoryGate& gate) {
  unsigned c = 0;
  if (b.packet_limit > 0 && b.packets >= b.packet_limit) c |= kPauseBacklog;
  if (rt.max_session_backlog_bytes > 0 && b.session_bytes >= rt.max_session_backlog_bytes)
    c |= kPauseSessionBytes;
  if (rt.max_sensor_backlog_bytes > 0 && b.sensor_bytes >= rt.max_sensor_backlog_bytes)
    c |= kPauseSensorBytes;
  auto memory = gate.current();
  if (memory.full()) {
    c |= kPauseMemory;
  } else if (auto share = memory.fair_share(); share > 0 && b.sensor_bytes >= share) {
    c |= kPauseMemory;
  }
  return c;
}

}  // namespace d4::server
