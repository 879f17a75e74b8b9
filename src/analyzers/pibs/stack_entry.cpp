// d4-pibs under d4-stack: backscatter in type-1 captures, results for the web interface.
#include "analyzers/registry/descriptor.hpp"
#include "core/keys.hpp"

namespace d4::analyzers {

AnalyzerDescriptor stack_entry_pibs() {
  AnalyzerDescriptor a;
  a.name = "pibs";
  a.executable = "d4-pibs";
  a.section = "pibs";
  a.summary = "pibs (backscatter in type 1 captures)";
  a.processes = {{"d4-pibs", {}, "queue", queues::QueueTarget::numeric(1), true, false, "metrics_listen"}};
  a.summary_label = "backscatter";
  a.summary_line = "on the web interface (analyzer results in Redis)";
  a.first_run_section = [](const FirstRunContext& c) {
    return "# Backscatter: per-victim results on the metadata Redis, db 4 (shown by the web interface).\n"
           "[analyzers.pibs]\n"
           "queue = \"" +
           c.new_queue_id() + "\"\nredis_output = true\nresults_redis = \"" +
           c.meta_endpoint(core::keys::kPibsResultsDb) +
           "\"\nmetrics_listen = \"127.0.0.1:" + std::to_string(c.metrics_port()) +
           "\"   # Prometheus /metrics and /health\n";
  };
  return a;
}

}  // namespace d4::analyzers
