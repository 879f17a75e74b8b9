// d4-passivessl under d4-stack: ja3-jl sessions into Redis, and its query API.
#include "analyzers/registry/descriptor.hpp"

namespace d4::analyzers {

AnalyzerDescriptor stack_entry_passivessl() {
  using queues::QueueTarget;
  AnalyzerDescriptor a;
  a.name = "passivessl";
  a.executable = "d4-passivessl";
  a.section = "tls";
  a.summary = "passivessl (ja3-jl)";
  a.processes = {{"d4-passivessl-ingest",
                  {"ingest"},
                  "queue",
                  QueueTarget::extended("ja3-jl"),
                  true,
                  false,
                  "metrics_listen"},
                 {"d4-passivessl-serve", {"serve"}, "", {}, true, true, "serve_metrics_listen"}};
  a.default_listen = "127.0.0.1:8401";
  a.preferred_api_port = 8401;
  a.summary_label = "passive SSL API";
  a.summary_line = "http://{listen}/info";
  a.first_run_section = [](const FirstRunContext& c) {
    return "# Passive SSL: sessions, fingerprints and certificates on the metadata Redis, db 6; API.\n"
           "[analyzers.tls]\n"
           "queue = \"" +
           c.new_queue_id() + "\"\nstorage = \"" + c.meta_endpoint(6) +
           "\"\nlisten = \"127.0.0.1:" + std::to_string(c.api_port) +
           "\"\n# Prometheus /metrics and /health of each process (docs/metrics.md).\n"
           "metrics_listen = \"127.0.0.1:" +
           std::to_string(c.metrics_port()) +
           "\"\nserve_metrics_listen = \"127.0.0.1:" + std::to_string(c.metrics_port()) + "\"\n";
  };
  return a;
}

}  // namespace d4::analyzers
