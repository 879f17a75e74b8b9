#include "analyzers/common/cli.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

#include "analyzers/common/analyzer_metrics.hpp"
#include "core/cli.hpp"
#include "core/http_metrics.hpp"
#include "core/keys.hpp"
#include "core/stop_signal.hpp"

namespace d4::analyzers::cli {

void add_common(d4::core::cli::App& app, CommonOptions& o, std::string_view tool) {
  app.add_option("-c,--config", o.config_path, "D4 configuration file (TOML)");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error");
  app.add_option("--log-format", o.log_format, "text or json");
  core::cli::add_standard_flags(app, tool, &o.check_config);
}

AppConfig start(std::string_view tool, const CommonOptions& o) {
  AppConfig cfg = load_app_config(o.config_path);
  init_analyzer_logging(tool, cfg.common, o.log_level, o.log_format);
  core::enable_config_reload(std::string(tool), o.config_path, o.log_level);
  return cfg;
}

void add_queue(d4::core::cli::App& app, QueueOptions& o, const std::string& queue_help) {
  app.add_option("-u,--queue", o.queue, queue_help);
  app.add_option("--analyzer-redis", o.analyzer_redis,
                 "D4 analyzer queues host:port/db (default [redis] analyzer)");
  app.add_option("--consumer", o.consumer, "consumer name (names the processing list)");
  app.add_flag("--exit-when-empty", o.exit_when_empty, "return once the queue is drained");
  app.add_option(
      "--metrics-listen", o.metrics_listen,
      "serve /metrics and /health on host:port (default [analyzers.<name>] metrics_listen; off: none)");
}

std::string metrics_listen(const std::string& option, const AppConfig& cfg, std::string_view section,
                           std::string_view key) {
  std::string v = !option.empty()   ? option
                  : section.empty() ? std::string()
                                    : core::get_string(cfg.root, section, key, "");
  return v == "off" ? std::string() : v;
}

QueueConsumerOptions consumer_options(const QueueOptions& o, const AppConfig& cfg, std::string_view section,
                                      std::string_view tool, std::string_view list_part,
                                      const std::string& queue) {
  QueueConsumerOptions qo;
  qo.endpoint = !o.analyzer_redis.empty() ? parse_endpoint(o.analyzer_redis, "analyzer redis")
                                          : cfg.common.redis.analyzer;
  qo.list_key = core::keys::analyzer_list(list_part, queue);
  qo.consumer_name = default_consumer_name(tool, queue);
  if (!o.consumer.empty())
    qo.consumer_name = o.consumer;
  else if (!section.empty())
    qo.consumer_name = core::get_string(cfg.root, section, "consumer_name", qo.consumer_name);
  qo.exit_when_empty = o.exit_when_empty;
  qo.layout = cfg.common.redis.layout;
  return qo;
}

void add_capture(d4::core::cli::App& app, CaptureOptions& o) {
  app.add_option("-r,--read", o.files, "capture file (pcap/pcapng, gzip allowed, - for stdin); repeatable");
  app.add_option("files", o.files, "more capture files");
  app.add_option("-i,--interface", o.interface, "live capture interface");
  app.add_option("-f,--filter", o.bpf, "BPF filter for live capture");
}

packet::LiveCapture::Options live_options(const CaptureOptions& o, std::string_view tool,
                                          const AppConfig& cfg) {
  packet::LiveCapture::Options lo;
  lo.interface = o.interface;
  lo.bpf_filter = o.bpf;
  lo.after_open = [tool = std::string(tool), run_as = cfg.run_as] { core::drop_privileges(tool, run_as); };
  return lo;
}

void drop_privileges(std::string_view tool, const AppConfig& cfg) {
  core::drop_privileges(tool, cfg.run_as);
}

void add_serve(d4::core::cli::App& app, ServeOptions& o, std::string_view default_listen) {
  app.add_option("-l,--listen", o.listen, "host:port (default " + std::string(default_listen) + ")");
  app.add_option("--token", o.tokens, "accepted bearer token (repeatable; default: api_tokens)");
  app.add_option("--threads", o.threads, "request handler threads");
  app.add_option("--metrics-listen", o.metrics_listen,
                 "serve /metrics and /health on host:port (default [analyzers.<name>] serve_metrics_listen; "
                 "off: none)");
}

std::vector<std::string> tokens(const ServeOptions& o, const AppConfig& cfg, std::string_view section) {
  return !o.tokens.empty() ? o.tokens : get_string_array(cfg.root, section, "api_tokens");
}

core::http::ServerOptions serve_options(const ServeOptions& o, const AppConfig& cfg, std::string_view section,
                                        std::string_view default_listen, std::string_view tool) {
  auto [host, port] = parse_listen(
      !o.listen.empty() ? o.listen
                        : core::get_string(cfg.root, section, "listen", std::string(default_listen)));
  core::http::ServerOptions so;
  so.address = host;
  so.port = port;
  so.handler_threads = static_cast<std::size_t>(std::max<long long>(
      1, o.threads > 0 ? o.threads : core::get_int(cfg.root, section, "http_threads", 4)));
  so.server_header = std::string(tool);
  so.tls_cert_file = core::get_string(cfg.root, section, "tls_cert_file", "");
  so.tls_key_file = core::get_string(cfg.root, section, "tls_key_file", "");
  if (so.tls_cert_file.empty() != so.tls_key_file.empty())
    throw core::ConfigError(std::string(section) + ": tls_cert_file and tls_key_file go together");
  return so;
}

int config_ok(std::string_view tool, const CommonOptions& o) {
  core::cli::print_config_ok(tool, o.config_path);
  return 0;
}

void serve(core::http::Router router, const ServeOptions& o, const AppConfig& cfg, std::string_view section,
           std::string_view default_listen, std::string_view tool, const std::string& description,
           const core::RedisEndpoint& storage) {
  core::http::ServerOptions so = serve_options(o, cfg, section, default_listen, tool);
  const std::string host = so.address;
  // Declared before the server, which holds the request counters: it outlives them.
  AnalyzerMetrics metrics(std::string(tool),
                          metrics_listen(o.metrics_listen, cfg, section, "serve_metrics_listen"));
  if (metrics.enabled()) {
    std::string prefix(tool);
    std::replace(prefix.begin(), prefix.end(), '-', '_');
    core::http::instrument(router, metrics.registry(), prefix + "_api");
    metrics.watch_redis(storage, "storage");
    metrics.start();
  }
  core::http::Server server(std::move(router), so);
  server.start();
  drop_privileges(tool, cfg);
  std::cout << "listening on " << host << ":" << server.port() << std::endl;
  spdlog::info("query API on {}:{}, {}", host, server.port(), description);
  serve_until_stopped(server);
}

}  // namespace d4::analyzers::cli
