// d4-misp-feed: publishes what the analyzers found (backscatter victims, passive DNS records of a
// watch list, certificates and JA3/JA3S fingerprints) as MISP feeds, one directory per
// organisation, for MISP instances to pull. See docs/sharing.md#misp-feeds; the commands live in
// sharing/misp_feed/app.cpp.
#include <iostream>

#include "analyzers/common/app.hpp"
#include "core/cli.hpp"
#include "core/stop_signal.hpp"
#include "sharing/misp_feed/app.hpp"

using namespace d4::sharing::misp;

int main(int argc, char** argv) {
  d4::core::install_stop_handlers(false);
  Settings s;
  d4::core::cli::App app{"d4-misp-feed: analyzer results as MISP feeds"};
  d4::analyzers::cli::add_common(app, s.common, "d4-misp-feed");
  app.add_option("--feed-dir", s.feed_dir, "feed directory (overrides [sharing.misp] feed_dir)");
  app.require_subcommand(0, 1);  // none only with --check-config
  auto* exp = app.add_subcommand("export", "export once and exit");
  exp->add_option("--since", s.since, "first day or time to export (YYYY-MM-DD, RFC 3339 or epoch seconds)");
  exp->add_option("--until", s.until, "last day or time to export (default: now)");
  exp->add_option("--kind", s.kinds,
                  "backscatter, passive-dns or passive-ssl (repeatable; default: configured)");
  exp->add_option("--now", s.now, "the time taken as now (reproducible exports)");
  auto* run = app.add_subcommand("run", "export every interval until stopped");
  run->add_option("--interval", s.interval_seconds, "seconds between exports (overrides interval_seconds)");
  run->add_option("--kind", s.kinds, "restrict the configured kinds (repeatable)");
  run->add_option(
      "--metrics-listen", s.metrics_listen,
      "serve /metrics and /health on host:port (default [sharing.misp] metrics_listen; off: none)");
  if (auto status = d4::core::cli::parse(app, argc, argv)) return *status;
  return d4::analyzers::run_tool("d4-misp-feed", [&] {
    d4::core::cli::require_subcommand_unless(app, s.common.check_config);
    if (s.common.check_config) return check_config(s);
    return exp->parsed() ? run_export_command(s) : run_daemon(s);
  });
}
