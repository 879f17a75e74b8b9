// d4-pibs: passive identification of backscatter (analyzer-d4-pibs), plus the ISN == destination
// address scanner detector (pibs-isn). Inputs: capture files (pcap/pcapng, gzip), the D4 type-1
// analyzer queue (paths of .cap.gz files), or live capture. See docs/analyzers.md; the runs live
// in analyzers/pibs/app.cpp.
#include <iostream>

#include "analyzers/pibs/app.hpp"
#include "core/cli.hpp"
#include "core/exit_codes.hpp"
#include "core/stop_signal.hpp"

using namespace d4::analyzers;

int main(int argc, char** argv) {
  d4::core::install_stop_handlers();
  pibs::Settings s;
  d4::core::cli::App app{
      "d4-pibs: passive identification of backscatter (DDoS victims answering spoofed traffic)"};
  cli::add_common(app, s.common, "d4-pibs");
  cli::add_capture(app, s.capture);
  app.add_flag("-b,--csv", s.csv, "print potential backscatter as CSV on stdout (reference format)");
  app.add_option("--json", s.json_out,
                 "write one JSON line per backscatter packet to this file (- for stdout)");
  app.add_option("-w,--write", s.pcap_out, "write the backscatter frames to this pcap file");
  app.add_flag("-s,--stats", s.table_stats, "print SYN table statistics at the end");
  app.add_flag("--isn", s.isn,
               "ISN detector (pibs-isn): print sequence numbers equal to the destination address");
  app.add_option("--isn-format", s.isn_format, "hex (reference) or json")
      ->check(d4::core::cli::IsMember({"hex", "json"}));
  cli::add_queue(app, s.queue, "consume the type-1 analyzer queue with this UUID");
  app.add_option("-z", s.queue_host, "analyzer Redis host (reference option)");
  app.add_option("-p", s.queue_port, "analyzer Redis port (reference option)");
  app.add_option("-y", s.queue_db, "analyzer Redis database (reference option)");
  app.add_flag("--redis", s.redis_results,
               "write per-victim aggregates to Redis (analyzers.pibs.results_redis)");
  app.add_option("--redis-endpoint", s.redis_out,
                 "Redis host:port/db for the per-victim aggregates (implies --redis)");
  app.add_option("--syn-window", s.syn_window, "seconds after which a SYN sender is forgotten (0: never)");
  app.add_option("--syn-table-max-mb", s.syn_table_mb,
                 "MiB the SYN senders may take (default 512); beyond, the oldest are evicted");
  app.add_option("--bucket", s.bucket, "seconds per intensity bucket (default 60)");
  app.add_option("--top", s.top, "print the N most hit victims at the end");
  app.add_option("--top-window", s.top_window,
                 "rank by packets in the last N seconds of capture time (0: all)");
  app.add_option("--summary", s.summary_out, "write one JSON line per victim at the end (- for stdout)");
  app.add_option("--flush-interval", s.flush_seconds, "seconds between output/Redis flushes");
  if (auto status = d4::core::cli::parse(app, argc, argv)) return *status;
  return run_tool("d4-pibs", [&] {
    if (s.common.check_config) return pibs::check_config(s);
    if (!s.capture.any() && s.queue.queue.empty() && !pibs::has_configured_queue(s)) {
      std::cerr << app.help() << std::endl
                << "d4-pibs: give capture files, --interface or --queue" << std::endl;
      return d4::core::exit_status::kUsage;
    }
    return pibs::run(s);
  });
}
