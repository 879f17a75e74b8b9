#pragma once
// d4-pibs's runs (pibs_main.cpp only parses the options): backscatter detection over capture
// files, live capture and the type-1 analyzer queue with its outputs, and the ISN detector.
#include <cstdint>
#include <string>

#include "analyzers/common/cli.hpp"

namespace d4::analyzers::pibs {

struct Settings {
  cli::CommonOptions common;
  cli::CaptureOptions capture;
  cli::QueueOptions queue;
  std::string queue_host, queue_port, queue_db;  // reference -z/-p/-y
  bool csv = false;                              // -b
  std::string json_out;                          // per-packet JSON lines
  std::string pcap_out;                          // -w
  bool table_stats = false;                      // -s
  bool isn = false;
  std::string isn_format = "hex";
  std::string redis_out;  // results in Redis
  bool redis_results = false;
  std::int64_t syn_window = -1;
  std::int64_t syn_table_mb = -1;
  std::int64_t bucket = -1;
  std::size_t top = 0;
  std::int64_t top_window = 0;
  std::string summary_out;
  double flush_seconds = 5;
};

// Whether the configuration names a queue (the input when none is given on the command line).
bool has_configured_queue(const Settings& s);
int run(const Settings& s);
// --check-config: reads what run() reads, connects nowhere.
int check_config(const Settings& s);

}  // namespace d4::analyzers::pibs
