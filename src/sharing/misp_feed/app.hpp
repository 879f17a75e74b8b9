#pragma once
// d4-misp-feed's commands (misp_feed_main.cpp only declares the options):
//   export  one export now (by default the last lookback_periods periods; --since/--until for a
//           backfill), then exit: 0 done, 1 a store or the feed directory failed, 2 usage, 78 configuration
//   run     the same every interval_seconds until SIGINT/SIGTERM; a failed run is logged, counted
//           in d4:mispfeed:stats and retried at the next interval
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analyzers/common/cli.hpp"

namespace d4::sharing::misp {

struct Settings {
  analyzers::cli::CommonOptions common;
  std::string since, until;        // dates, date-times or epoch seconds
  std::string now;                 // the time the export takes as now (reproducible exports)
  std::vector<std::string> kinds;  // restricts the configured kinds
  std::string feed_dir;            // overrides [sharing.misp] feed_dir
  long long interval_seconds = 0;  // run: overrides [sharing.misp] interval_seconds
  std::string metrics_listen;      // run: /metrics and /health (default [sharing.misp] metrics_listen)
};

int run_export_command(const Settings& s);
// --check-config: the configuration as export/run would read it (organisation, bounds, result
// stores, the command-line overrides), without touching any store; 0 when valid.
int check_config(const Settings& s);
int run_daemon(const Settings& s);

// "2023-11-14" (midnight UTC), "2023-11-14T22:30:00Z" (RFC 3339) or epoch seconds; nullopt
// otherwise.
std::optional<std::int64_t> parse_time(std::string_view text);

}  // namespace d4::sharing::misp
