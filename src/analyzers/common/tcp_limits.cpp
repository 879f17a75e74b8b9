#include "analyzers/common/tcp_limits.hpp"

#include <spdlog/spdlog.h>

#include "core/config.hpp"

namespace d4::analyzers {

packet::TcpReassemblyOptions read_tcp_limits(const toml::table& root, std::string_view section,
                                             packet::TcpReassemblyOptions o) {
  auto positive = [&](std::string_view key, long long fallback) {
    long long v = core::get_int(root, section, key, fallback);
    if (v < 1) throw core::ConfigError(std::string(section) + "." + std::string(key) + " must be at least 1");
    return v;
  };
  o.max_flows = static_cast<std::size_t>(positive("tcp_max_flows", static_cast<long long>(o.max_flows)));
  o.max_bytes =
      static_cast<std::size_t>(positive("tcp_max_memory_mb", static_cast<long long>(o.max_bytes >> 20)))
      << 20;
  return o;
}

void TcpPressureLog::check(const packet::TcpReassembler& tcp) {
  const auto& s = tcp.stats();
  const std::uint64_t bites = s.flows_evicted + s.flows_evicted_memory + s.memory_gaps;
  if (bites == reported_) return;
  auto now = std::chrono::steady_clock::now();
  if (last_ != std::chrono::steady_clock::time_point{} && now - last_ < period_) return;
  last_ = now;
  reported_ = bites;
  spdlog::warn("{}: TCP reassembly at its limits ({} flows, {} MiB): {}", what_, tcp.options().max_flows,
               tcp.options().max_bytes >> 20, packet::describe(s, tcp.flow_count(), tcp.memory_bytes()));
}

}  // namespace d4::analyzers
