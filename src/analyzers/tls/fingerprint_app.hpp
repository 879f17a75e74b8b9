#pragma once
// d4-tls-fingerprint's run (fingerprint_main.cpp only parses the options): TLS sessions of capture
// files, live capture or the type-1 analyzer queue as ja3-jl lines or a per-hello listing.
#include <cstdint>
#include <string>

#include "analyzers/common/cli.hpp"

namespace d4::analyzers::tls {

struct FingerprintSettings {
  cli::CommonOptions common;
  cli::CaptureOptions capture;
  cli::QueueOptions queue;
  std::string format = "ja3-jl";
  std::string json_dir, cert_dir;
  bool no_partial = false;
  bool ja3_quirk = false;
  std::int64_t flow_timeout = 300;
  std::size_t max_flows = 0;      // 0: [analyzers.tls] tcp_max_flows (default 200,000)
  std::size_t max_memory_mb = 0;  // 0: [analyzers.tls] tcp_max_memory_mb (default 256)
};

int run_fingerprint(const FingerprintSettings& s);
// --check-config: reads what run_fingerprint() reads, opens nothing.
int check_fingerprint_config(const FingerprintSettings& s);

}  // namespace d4::analyzers::tls
