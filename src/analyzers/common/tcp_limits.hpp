#pragma once
// The TCP reassembly limits shared by the analyzers that reassemble streams (d4-pdns on
// captures, d4-tls-fingerprint): read from the analyzer's configuration section, and a warning
// in the log whenever the limits bit since the last one (evictions, dropped held-back data), so an
// operator sees a flood while it happens rather than at the end of the run.
#include <chrono>
#include <string_view>

#include <toml++/toml.h>

#include "analyzers/packet/tcp_reassembly.hpp"

namespace d4::analyzers {

// `tcp_max_flows` and `tcp_max_memory_mb` of [<section>], over `defaults`. Throws
// core::ConfigError on values below 1.
packet::TcpReassemblyOptions read_tcp_limits(const toml::table& root, std::string_view section,
                                             packet::TcpReassemblyOptions defaults);

class TcpPressureLog {
 public:
  explicit TcpPressureLog(std::string_view what, std::chrono::seconds period = std::chrono::seconds(60))
      : what_(what), period_(period) {}
  // Logs a warning when flows were evicted or held-back data dropped since the last warning, at
  // most once per period.
  void check(const packet::TcpReassembler& tcp);

 private:
  std::string_view what_;
  std::chrono::seconds period_;
  std::chrono::steady_clock::time_point last_{};
  std::uint64_t reported_ = 0;
};

}  // namespace d4::analyzers
