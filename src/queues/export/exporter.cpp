#include "queues/export/exporter.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include "core/cli.hpp"
#include "core/exit_codes.hpp"
#include "core/keys.hpp"
#include "core/log_fields.hpp"
#include "core/logging.hpp"
#include "core/stop_signal.hpp"
#include "queues/export/export_metrics.hpp"
#include "queues/queue_store.hpp"

namespace d4::queues {
namespace {

struct ExportLoop {
  core::RedisClient& analyzer;
  Sink& sink;
  const std::string &list, &processing, &dead_letters;
  int batch;
  bool once;
  long long reconnect_max_ms;
  ExportMetrics& metrics;
};

// The elements to send next: those left in the processing list by an earlier run or a failed
// send (oldest first), else up to `batch` moved from the queue (blocking 1 s for the first).
std::vector<std::string> next_elements(ExportLoop& x) {
  auto pending = x.analyzer.command({"LRANGE", x.processing, "0", "-1"});
  if (pending.is_error()) throw core::RedisError(pending.str);
  x.metrics.redis_ok();
  std::vector<std::string> elements = pending.as_strings();
  std::reverse(elements.begin(), elements.end());
  if (!elements.empty()) {
    x.metrics.retried(elements.size());
    return elements;
  }
  auto first = x.analyzer.command({"BLMOVE", x.list, x.processing, "RIGHT", "LEFT", "1"});
  if (first.is_error()) throw core::RedisError(first.str);
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
      } catch (const PermanentSinkError& pe) {
        // Can never be delivered: kept aside, counted and logged, not dropped.
        core::log_with(core::LogFields()
                           .add("sink", x.sink.describe())
                           .add(core::log_key::kQueue, x.list)
                           .add("bytes", e.size())
                           .add("kept_in", x.dead_letters)
                           .add(core::log_key::kReason, "undeliverable")
                           .add(core::log_key::kDetail, pe.what()),
                       spdlog::level::err, "element of {} bytes cannot be sent ({}); moved to {}", e.size(),
                       pe.what(), x.dead_letters);
        x.analyzer.command({"LPUSH", x.dead_letters, e});
        x.metrics.dead_letter();
      }
      ++done;
    }
    x.sink.flush();
  } catch (const SinkError&) {
    acknowledge();
    throw;
  }
  acknowledge();
  return done;
}

// Exports until stopped (or, with `once`, until the queue is empty); returns the elements done.
std::uint64_t run_export(ExportLoop& x) {
  core::Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(x.reconnect_max_ms));
  std::uint64_t sent = 0;
  bool connected = false;
  while (!core::stop_requested()) {
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
    } catch (const SinkError& e) {
      x.sink.close();
      connected = false;
      x.metrics.send_failure();
      auto d = backoff.next();
      core::log_with(core::LogFields()
                         .add("sink", x.sink.describe())
                         .add(core::log_key::kQueue, x.list)
                         .add(core::log_key::kReason, "sink_unavailable")
                         .add(core::log_key::kDetail, e.what())
                         .add("retry_ms", d.count()),
                     spdlog::level::warn, "{}: {}; retrying in {} ms", x.sink.describe(), e.what(),
                     d.count());
      core::sleep_unless_stopped(d);
    } catch (const core::RedisError& e) {
      x.metrics.redis_error();
      auto d = backoff.next();
      spdlog::warn("Redis: {}; retrying in {} ms", e.what(), d.count());
      core::sleep_unless_stopped(d);
    }
  }
  return sent;
}

}  // namespace

void add_export_options(d4::core::cli::App& app, ExportOptions& o) {
  app.add_option("-c,--config", o.config_path, "D4 configuration file (TOML): [redis], [export]");
  app.add_option("--meta", o.meta_ep, "metadata Redis (to look the queue up), host:port/db");
  app.add_option("--analyzer", o.analyzer_ep,
                 "analyzer-queue Redis, host:port/db (default 127.0.0.1:6380/2)");
  app.add_option("-u,--queue", o.queue, "queue UUID");
  app.add_option("-t,--type", o.type, "queue type or extended type (skips the metadata lookup)");
  app.add_option("--list", o.list, "full list key instead of --queue, e.g. analyzer:8:<uuid>");
  app.add_option("-d,--to", o.destination, sink_syntax() + " (required, except with --check-config)");
  app.add_option("--name", o.name, "exporter name, keys its processing list (default: list and destination)");
  app.add_flag("--no-newline", o.no_newline, "do not append a newline to each element");
  app.add_flag("-f,--files", o.sink.file_contents, "elements are file paths: send the files' contents");
  app.add_option("--ca", o.sink.ca_file, "TLS: CA certificates (PEM) to verify the server with");
  app.add_flag("--insecure", o.sink.insecure, "TLS: do not verify the server certificate");
  app.add_option("--server-name", o.sink.server_name,
                 "TLS: name expected in the certificate (default: the host)");
  app.add_option("--facility", o.sink.syslog_facility, "syslog facility number (default 16, local0)")
      ->check(d4::core::cli::Range(0, 23));
  app.add_option("--severity", o.severity, "syslog severity: emerg alert crit err warning notice info debug");
  app.add_option("--app-name", o.sink.syslog_app, "syslog APP-NAME");
  app.add_option("--batch", o.batch, "elements moved per round trip (default [export] batch, 100)");
  app.add_flag("--once", o.once, "exit when the queue is empty instead of waiting");
  app.add_option("--metrics-listen", o.metrics_listen,
                 "serve /metrics and /health on host:port (default [export] metrics_listen; off: none)");
}

ExportConfig load_export_config(const ExportOptions& o) {
  ExportConfig c{o, {}, {}};
  ExportOptions& x = c.options;
  auto root = core::load_config(o.config_path);
  c.common = core::read_common_config(root, std::filesystem::path(o.config_path).parent_path());
  c.run_as = core::read_run_as(root);
  if (x.batch <= 0) x.batch = static_cast<int>(core::get_int(root, "export", "batch", 100));
  if (x.reconnect_max_ms <= 0) x.reconnect_max_ms = core::get_int(root, "export", "reconnect_max_ms", 10000);
  if (x.metrics_listen.empty()) x.metrics_listen = core::get_string(root, "export", "metrics_listen", "");
  if (x.metrics_listen == "off") x.metrics_listen.clear();
  return c;
}

namespace {

// The syslog severity's number from its name.
int syslog_severity(const std::string& name) {
  const std::vector<std::string> severities{"emerg",   "alert",  "crit", "err",
                                            "warning", "notice", "info", "debug"};
  auto sev = std::find(severities.begin(), severities.end(), name);
  if (sev == severities.end()) throw core::cli::UsageError("--severity: unknown severity " + name);
  return static_cast<int>(sev - severities.begin());
}

// The list to export: --list, or the queue's list (from --type, else looked up in the metadata).
std::string export_list(const ExportConfig& c, core::RedisClient& analyzer) {
  const ExportOptions& o = c.options;
  if (!o.list.empty()) return o.list;
  if (o.queue.empty()) throw core::cli::UsageError("give --queue (with or without --type) or --list");
  if (!o.type.empty()) return core::keys::analyzer_list(QueueTarget::parse(o.type).list_part(), o.queue);
  core::RedisClient meta(core::cli::endpoint_argument_or(o.meta_ep, c.common.redis.meta, "--meta"));
  QueueStore store(meta, analyzer, 0, c.common.redis.layout);
  return store.require(o.queue).list_key();
}

}  // namespace

int run_exporter(ExportConfig c) {
  ExportOptions& o = c.options;
  if (o.destination.empty()) throw core::cli::UsageError("--to is required");
  core::init_logging("d4-export", c.common.log);
  core::drop_privileges("d4-export", c.run_as);  // before any sink (file:PATH) is opened
  o.sink.syslog_severity = syslog_severity(o.severity);
  o.sink.newline = !o.no_newline && !o.sink.file_contents;

  const auto analyzer_endpoint =
      core::cli::endpoint_argument_or(o.analyzer_ep, c.common.redis.analyzer, "--analyzer");
  core::RedisClient analyzer(analyzer_endpoint,
                             {std::chrono::milliseconds(2000), std::chrono::milliseconds(15000)});
  const std::string list = export_list(c, analyzer);
  if (o.sink.syslog_msgid == "-") o.sink.syslog_msgid = "d4";
  if (o.name.empty()) o.name = list + "|" + o.destination;
  std::string processing = core::keys::exporter_processing(o.name, list, c.common.redis.layout);
  std::string dead_letters = core::keys::exporter_failed(o.name);

  std::unique_ptr<Sink> sink;
  try {
    sink = make_sink(o.destination, o.sink);
  } catch (const std::invalid_argument& e) {
    throw core::cli::UsageError(std::string("--to: ") + e.what());
  }
  core::install_stop_handlers(/*interrupt_blocking_calls=*/false);
  core::enable_config_reload("d4-export", o.config_path, "");
  spdlog::info("exporting {} to {} (processing list {})", list, sink->describe(), processing);

  ExportMetrics metrics(o.metrics_listen, o.destination, list, processing, analyzer_endpoint);
  ExportLoop loop{analyzer,           *sink,  list, processing, dead_letters, o.batch, o.once,
                  o.reconnect_max_ms, metrics};
  std::uint64_t sent = run_export(loop);
  sink->close();
  spdlog::info("exported {} elements", sent);
  return core::exit_status::kOk;
}

}  // namespace d4::queues
