// d4-export: forwards the elements of an analyzer queue to stdout, a file, TCP, TLS, UDP, a Unix
// socket or syslog. Elements are moved atomically (LMOVE) from the queue to a processing list
// owned by this exporter and removed from it only after they were sent, so an element popped is
// never lost: after a crash or a failed send it is sent again (at-least-once delivery).
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/exit_codes.hpp"
#include "core/keys.hpp"
#include "core/privileges.hpp"
#include "core/stop_signal.hpp"
#include "queues/export/export_metrics.hpp"
#include "queues/export/sinks.hpp"
#include "queues/queue_store.hpp"

namespace {

struct ExportLoop {
  d4::core::RedisClient& analyzer;
  d4::queues::Sink& sink;
  const std::string &list, &processing, &dead_letters;
  int batch;
  bool once;
  long long reconnect_max_ms;
  d4::queues::ExportMetrics& metrics;
};

// The elements to send next: those left in the processing list by an earlier run or a failed
// send (oldest first), else up to `batch` moved from the queue (blocking 1 s for the first).
std::vector<std::string> next_elements(ExportLoop& x) {
  auto pending = x.analyzer.command({"LRANGE", x.processing, "0", "-1"});
  if (pending.is_error()) throw d4::core::RedisError(pending.str);
  x.metrics.redis_ok();
  std::vector<std::string> elements = pending.as_strings();
  std::reverse(elements.begin(), elements.end());
  if (!elements.empty()) {
    x.metrics.retried(elements.size());
    return elements;
  }
  auto first = x.analyzer.command({"BLMOVE", x.list, x.processing, "RIGHT", "LEFT", "1"});
  if (first.is_error()) throw d4::core::RedisError(first.str);
  x.metrics.redis_ok();
  if (first.is_nil()) return elements;
  elements.push_back(first.str);
  std::vector<std::vector<std::string>> more(static_cast<std::size_t>(std::max(0, x.batch - 1)),
                                             {"LMOVE", x.list, x.processing, "RIGHT", "LEFT"});
  if (!more.empty())
    for (auto& r : x.analyzer.pipeline(more))
      if (r.is_string()) elements.push_back(r.str);
  return elements;
}

// Sends `elements`; each one sent (or set aside) is removed from the processing list, also when
// a later one fails (SinkError is rethrown then).
std::uint64_t send_elements(ExportLoop& x, const std::vector<std::string>& elements) {
  std::size_t done = 0, delivered = 0;
  auto acknowledge = [&] {
    if (done > 0) x.analyzer.command({"RPOP", x.processing, std::to_string(done)});
    x.metrics.delivered(delivered, x.sink.bytes_sent());
  };
  try {
    for (const auto& e : elements) {
      try {
        x.sink.send(e);
        ++delivered;
      } catch (const d4::queues::PermanentSinkError& pe) {
        // Can never be delivered: kept aside, counted and logged, not dropped.
        spdlog::error("element of {} bytes cannot be sent ({}); moved to {}", e.size(), pe.what(),
                      x.dead_letters);
        x.analyzer.command({"LPUSH", x.dead_letters, e});
        x.metrics.dead_letter();
      }
      ++done;
    }
    x.sink.flush();
  } catch (const d4::queues::SinkError&) {
    acknowledge();
    throw;
  }
  acknowledge();
  return done;
}

// Exports until stopped (or, with `once`, until the queue is empty); returns the elements done.
std::uint64_t run_export(ExportLoop& x) {
  d4::core::Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(x.reconnect_max_ms));
  std::uint64_t sent = 0;
  bool connected = false;
  while (!d4::core::stop_requested()) {
    try {
      if (!connected) {
        x.sink.connect();
        connected = true;
        x.metrics.sink_connected(true);
        backoff.reset();
      }
      auto elements = next_elements(x);
      if (elements.empty()) {
        if (x.once) break;
        continue;
      }
      sent += send_elements(x, elements);
    } catch (const d4::queues::SinkError& e) {
      x.sink.close();
      connected = false;
      x.metrics.send_failure();
      auto d = backoff.next();
      spdlog::warn("{}: {}; retrying in {} ms", x.sink.describe(), e.what(), d.count());
      d4::core::sleep_unless_stopped(d);
    } catch (const d4::core::RedisError& e) {
      x.metrics.redis_error();
      auto d = backoff.next();
      spdlog::warn("Redis: {}; retrying in {} ms", e.what(), d.count());
      d4::core::sleep_unless_stopped(d);
    }
  }
  return sent;
}

}  // namespace

int main(int argc, char** argv) {
  d4::core::install_hangup_handler();
  CLI::App app{"Export a D4 analyzer queue to stdout, a file, TCP, TLS, UDP, a Unix socket or syslog"};
  std::string config_path, meta_ep, analyzer_ep, queue, type, list, destination, name, severity = "info",
                                                                                       metrics_listen;
  d4::queues::SinkOptions so;
  bool no_newline = false, once = false;
  int batch = 0;
  long long reconnect_max_ms = 0;
  app.add_option("-c,--config", config_path, "D4 configuration file (TOML): [redis], [export]");
  app.add_option("--meta", meta_ep, "metadata Redis (to look the queue up), host:port/db");
  app.add_option("--analyzer", analyzer_ep, "analyzer-queue Redis, host:port/db (default 127.0.0.1:6380/2)");
  app.add_option("-u,--queue", queue, "queue UUID");
  app.add_option("-t,--type", type, "queue type or extended type (skips the metadata lookup)");
  app.add_option("--list", list, "full list key instead of --queue, e.g. analyzer:8:<uuid>");
  app.add_option("-d,--to", destination,
                 d4::queues::sink_syntax() + " (required, except with --check-config)");
  app.add_option("--name", name, "exporter name, keys its processing list (default: list and destination)");
  app.add_flag("--no-newline", no_newline, "do not append a newline to each element");
  app.add_flag("-f,--files", so.file_contents, "elements are file paths: send the files' contents");
  app.add_option("--ca", so.ca_file, "TLS: CA certificates (PEM) to verify the server with");
  app.add_flag("--insecure", so.insecure, "TLS: do not verify the server certificate");
  app.add_option("--server-name", so.server_name,
                 "TLS: name expected in the certificate (default: the host)");
  app.add_option("--facility", so.syslog_facility, "syslog facility number (default 16, local0)")
      ->check(CLI::Range(0, 23));
  app.add_option("--severity", severity, "syslog severity: emerg alert crit err warning notice info debug");
  app.add_option("--app-name", so.syslog_app, "syslog APP-NAME");
  app.add_option("--batch", batch, "elements moved per round trip (default [export] batch, 100)");
  app.add_flag("--once", once, "exit when the queue is empty instead of waiting");
  app.add_option("--metrics-listen", metrics_listen,
                 "serve /metrics and /health on host:port (default [export] metrics_listen; off: none)");
  bool check_only = false;
  d4::core::cli::add_standard_flags(app, "d4-export", &check_only);
  if (auto status = d4::core::cli::parse(app, argc, argv)) return *status;

  return d4::core::cli::run("d4-export", [&] {
    auto root = d4::core::load_config(config_path);
    auto common = d4::core::read_common_config(root, std::filesystem::path(config_path).parent_path());
    const auto run_as = d4::core::read_run_as(root);
    if (batch <= 0) batch = static_cast<int>(d4::core::get_int(root, "export", "batch", 100));
    if (reconnect_max_ms <= 0)
      reconnect_max_ms = d4::core::get_int(root, "export", "reconnect_max_ms", 10000);
    if (metrics_listen.empty()) metrics_listen = d4::core::get_string(root, "export", "metrics_listen", "");
    if (metrics_listen == "off") metrics_listen.clear();
    if (check_only) {
      d4::core::cli::print_config_ok("d4-export", config_path);
      return d4::core::exit_status::kOk;
    }
    if (destination.empty()) throw d4::core::cli::UsageError("--to is required");
    d4::core::init_logging("d4-export", common.log);
    d4::core::drop_privileges("d4-export", run_as);  // before any sink (file:PATH) is opened
    const std::vector<std::string> severities{"emerg",   "alert",  "crit", "err",
                                              "warning", "notice", "info", "debug"};
    auto sev = std::find(severities.begin(), severities.end(), severity);
    if (sev == severities.end()) throw d4::core::cli::UsageError("--severity: unknown severity " + severity);
    so.syslog_severity = static_cast<int>(sev - severities.begin());
    so.newline = !no_newline && !so.file_contents;

    auto endpoint = [](const std::string& text, const d4::core::RedisEndpoint& def, std::string_view option) {
      return text.empty() ? def : d4::core::cli::endpoint_argument(text, option);
    };
    d4::core::RedisClient analyzer(endpoint(analyzer_ep, common.redis.analyzer, "--analyzer"),
                                   {std::chrono::milliseconds(2000), std::chrono::milliseconds(15000)});
    if (list.empty()) {
      if (queue.empty()) throw d4::core::cli::UsageError("give --queue (with or without --type) or --list");
      if (!type.empty()) {
        list = d4::core::keys::analyzer_list(d4::queues::QueueTarget::parse(type).list_part(), queue);
      } else {
        d4::core::RedisClient meta(endpoint(meta_ep, common.redis.meta, "--meta"));
        d4::queues::QueueStore store(meta, analyzer, 0);
        list = store.require(queue).list_key();
      }
    }
    if (so.syslog_msgid == "-") so.syslog_msgid = "d4";
    if (name.empty()) name = list + "|" + destination;
    std::string processing = d4::core::keys::exporter_processing(name);
    std::string dead_letters = d4::core::keys::exporter_failed(name);

    std::unique_ptr<d4::queues::Sink> sink;
    try {
      sink = d4::queues::make_sink(destination, so);
    } catch (const std::invalid_argument& e) {
      throw d4::core::cli::UsageError(std::string("--to: ") + e.what());
    }
    d4::core::install_stop_handlers(/*interrupt_blocking_calls=*/false);
    d4::core::enable_config_reload("d4-export", config_path, "");
    spdlog::info("exporting {} to {} (processing list {})", list, sink->describe(), processing);

    d4::queues::ExportMetrics metrics(metrics_listen, destination, list, processing,
                                      endpoint(analyzer_ep, common.redis.analyzer, "--analyzer"));
    ExportLoop loop{analyzer, *sink, list, processing, dead_letters, batch, once, reconnect_max_ms, metrics};
    std::uint64_t sent = run_export(loop);
    sink->close();
    spdlog::info("exported {} elements", sent);
    return d4::core::exit_status::kOk;
  });
}
