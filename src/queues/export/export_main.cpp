// d4-export: forwards the elements of an analyzer queue to stdout, a file, TCP, TLS, UDP, a Unix
// socket or syslog, at least once (queues/export/exporter.hpp). This file parses the command line.
#include "core/cli.hpp"
#include "core/stop_signal.hpp"
#include "queues/export/exporter.hpp"

int main(int argc, char** argv) {
  d4::core::install_hangup_handler();
  d4::core::cli::App app{
      "Export a D4 analyzer queue to stdout, a file, TCP, TLS, UDP, a Unix socket or syslog"};
  d4::queues::ExportOptions options;
  d4::queues::add_export_options(app, options);
  return d4::core::cli::run_daemon(
      app, argc, argv, "d4-export", options.config_path,
      [&] { return d4::queues::load_export_config(options); },
      [](d4::queues::ExportConfig& config) { return d4::queues::run_exporter(std::move(config)); });
}
