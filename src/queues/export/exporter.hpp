#pragma once
// d4-export as a program: its options, its configuration ([redis], [export], [general] user) and
// the export loop. Elements are moved atomically (LMOVE) from the queue to a processing list owned
// by this exporter and removed from it only after they were sent, so an element popped is never
// lost: after a crash or a failed send it is sent again (at-least-once delivery). An element a
// sink can never deliver goes to the exporter's dead-letter list, counted. export_main.cpp only
// parses the command line.
#include <string>

#include "core/config.hpp"
#include "core/options.hpp"
#include "core/privileges.hpp"
#include "queues/export/sinks.hpp"

namespace d4::queues {

// The command line; empty strings and zeros leave the configured value.
struct ExportOptions {
  std::string config_path, meta_ep, analyzer_ep, queue, type, list, destination, name, severity = "info",
                                                                                       metrics_listen;
  SinkOptions sink;
  bool no_newline = false, once = false;
  int batch = 0;
  long long reconnect_max_ms = 0;
};

void add_export_options(d4::core::cli::App& app, ExportOptions& o);

// The configuration file under the command line: `o` completed with [export]'s values.
struct ExportConfig {
  ExportOptions options;
  core::CommonConfig common;
  core::RunAs run_as;
};
// Throws core::ConfigError (file) or core::cli::UsageError (command line).
ExportConfig load_export_config(const ExportOptions& o);

// Exports until stopped (or, with --once, until the queue is empty); the exit status.
int run_exporter(ExportConfig c);

}  // namespace d4::queues
