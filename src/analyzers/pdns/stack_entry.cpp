// d4-pdns under d4-stack: passive DNS from type-8 lines and from the DNS answers in type-1 captures,
// and the COF query API.
#include "analyzers/registry/descriptor.hpp"

namespace d4::analyzers {

AnalyzerDescriptor stack_entry_pdns() {
  using queues::QueueTarget;
  AnalyzerDescriptor a;
  a.name = "pdns";
  a.executable = "d4-pdns";
  a.section = "pdns";
  a.summary = "pdns (passive DNS of type 8)";
  a.processes = {
      {"d4-pdns-ingest", {"ingest"}, "queue", QueueTarget::numeric(8), true, false, "metrics_listen"},
      // DNS answers extracted from the sensors' packet captures: no passivedns tool needed.
      {"d4-pdns-ingest-pcap",
       {"ingest", "-t", "1"},
       "pcap_queue",
       QueueTarget::numeric(1),
       false,
       false,
       "pcap_metrics_listen"},
      {"d4-pdns-serve", {"serve"}, "", {}, true, true, "serve_metrics_listen"}};
  a.default_listen = "127.0.0.1:8400";
  a.preferred_api_port = 8400;
  a.summary_label = "passive DNS API";
  a.summary_line = "http://{listen}/query/<name or IP>";
  a.first_run_section = [](const FirstRunContext& c) {
    return "# Passive DNS from passivedns lines (queue, type 8) and from the sensors' packet captures\n"
           "# (pcap_queue, type 1): records in the reference key schema on the metadata Redis, db 5.\n"
           "[analyzers.pdns]\n"
           "queue = \"" +
           c.new_queue_id() +
           "\"\n"
           "# d4-stack only: a type-1 queue whose captures d4-pdns reads DNS answers from.\n"
           "pcap_queue = \"" +
           c.new_queue_id() + "\"\nbackend = \"" + c.meta_endpoint(5) +
           "\"\nlisten = \"127.0.0.1:" + std::to_string(c.api_port) +
           "\"\n# Prometheus /metrics and /health of each process (docs/metrics.md).\n"
           "metrics_listen = \"127.0.0.1:" +
           std::to_string(c.metrics_port()) +
           "\"\npcap_metrics_listen = \"127.0.0.1:" + std::to_string(c.metrics_port()) +
           "\"\nserve_metrics_listen = \"127.0.0.1:" + std::to_string(c.metrics_port()) + "\"\n";
  };
  return a;
}

}  // namespace d4::analyzers
