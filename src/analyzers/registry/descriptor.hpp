#pragma once
// The analyzers that d4-stack can run, described once: which processes make each analyzer, the
// queues they consume, the query API they serve, and the section that first run writes into the
// generated configuration. The stack launcher (src/stack/d4_stack_main.cpp) and first run
// (src/stack/first_run.cpp) only read this table.
//
// Adding an analyzer: its folder under src/analyzers (CMakeLists.txt adding its stack_entry.cpp
// to d4_analyzer_registry, and the entry function), one line in registry.cpp, and its docs.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "queues/queue_store.hpp"

namespace d4::analyzers {

// One process of an analyzer under d4-stack: started as `<executable> -c <config> <args>`.
struct StackProcess {
  std::string name;               // supervisor and log file name
  std::vector<std::string> args;  // after "-c <config>"
  // Key of [analyzers.<section>] naming the queue UUID it consumes ("" none). The queue is
  // created at start-up with `target`; a key other than "queue" is passed with -u.
  std::string queue_key;
  queues::QueueTarget target;
  bool required = true;     // false: skipped when the configuration names no such queue
  bool serves_api = false;  // listens on [analyzers.<section>] listen: ready once the port answers
  // Key of [analyzers.<section>] holding this process's /metrics and /health address; the stack
  // passes it as --metrics-listen (or "off" when unset), so processes sharing a section never
  // compete for one address.
  std::string metrics_key;
};

// What first run offers an analyzer's configuration section.
struct FirstRunContext {
  std::function<std::string()> new_queue_id;         // a fresh queue UUID (dashed)
  std::function<std::string(int db)> meta_endpoint;  // "127.0.0.1:<meta port>/<db>"
  int api_port = 0;                                  // free port for its query API (0: none)
  std::function<int()> metrics_port;                 // a free port for one process's /metrics
};

struct AnalyzerDescriptor {
  std::string name;        // as listed in [stack] analyzers
  std::string executable;  // looked up next to d4-stack
  std::string section;     // [analyzers.<section>] holds its queues, storage and listen address
  std::string summary;     // "pdns (passive DNS of type 8)": the generated configuration's comment
  std::vector<StackProcess> processes;
  std::string default_listen;  // the query API's address when the configuration names none
  int preferred_api_port = 0;  // first run takes the first free port from here (0: no API)
  std::string summary_label;   // the stack summary's line: label, then `summary_line`
  std::string summary_line;    // "{listen}" stands for the query API's address
  // The generated configuration's text for [analyzers.<section>] (comment lines included).
  std::function<std::string(const FirstRunContext&)> first_run_section;
};

// Every analyzer, in the order they are started, configured and summarised.
const std::vector<AnalyzerDescriptor>& analyzer_descriptors();
// nullptr when no analyzer has that name.
const AnalyzerDescriptor* find_analyzer(std::string_view name);
// "pdns, pibs, passivessl": for messages.
std::string analyzer_names();

}  // namespace d4::analyzers
