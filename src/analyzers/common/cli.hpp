#pragma once
// The command-line option blocks the analyzer executables share, and what they resolve to with the
// configuration: so each main only declares its own options and calls into its library.
#include <string>
#include <string_view>
#include <vector>

#include "analyzers/common/app.hpp"
#include "analyzers/common/queue_consumer.hpp"
#include "analyzers/packet/live_capture.hpp"
#include "core/http_server.hpp"
#include "core/options.hpp"

namespace d4::analyzers::cli {

// -c, --log-level, --log-format, and every D4 executable's --version.
struct CommonOptions {
  std::string config_path, log_level, log_format;
  bool check_config = false;  // --check-config
};
void add_common(d4::core::cli::App& app, CommonOptions& o, std::string_view tool);
// Loads the configuration and initialises logging for `tool` from it and the overrides.
AppConfig start(std::string_view tool, const CommonOptions& o);

// -u/--queue, --analyzer-redis, --consumer, --exit-when-empty, --metrics-listen.
struct QueueOptions {
  std::string queue, analyzer_redis, consumer, metrics_listen;
  bool exit_when_empty = false;
};
void add_queue(d4::core::cli::App& app, QueueOptions& o, const std::string& queue_help);
// The consumer of `analyzer:<list_part>:<queue>`: --analyzer-redis or [redis] analyzer, --consumer
// or [<section>] consumer_name (no section: not configurable) or <tool>:<queue>:<host>.
QueueConsumerOptions consumer_options(const QueueOptions& o, const AppConfig& cfg, std::string_view section,
                                      std::string_view tool, std::string_view list_part,
                                      const std::string& queue);

// -r/--read and positional capture files, -i/--interface, -f/--filter.
struct CaptureOptions {
  std::vector<std::string> files;
  std::string interface, bpf;
  bool any() const { return !files.empty() || !interface.empty(); }
};
void add_capture(d4::core::cli::App& app, CaptureOptions& o);
// The live capture of -i/-f; once the interface is open the process becomes [general] user.
packet::LiveCapture::Options live_options(const CaptureOptions& o, std::string_view tool,
                                          const AppConfig& cfg);

// Started as root with [general] user set, becomes that user for good (core::drop_privileges).
// The long-running modes call it once their listeners are bound and their capture is open: queue
// consumers after their metrics listener, query APIs after their HTTP listener, live captures
// once the interface is open. One-shot commands on files (import, extract, -r) run as invoked.
void drop_privileges(std::string_view tool, const AppConfig& cfg);

// /metrics and /health address: `option` (--metrics-listen), else [<section>] <key> (no section:
// the option only); "off" or empty: none.
std::string metrics_listen(const std::string& option, const AppConfig& cfg, std::string_view section,
                           std::string_view key);

// -l/--listen, --token, --threads, --metrics-listen of a query API.
struct ServeOptions {
  std::string listen, metrics_listen;
  std::vector<std::string> tokens;
  int threads = 0;
};
void add_serve(d4::core::cli::App& app, ServeOptions& o, std::string_view default_listen);

// Serves `router` on --listen or [<section>] listen (default `default_listen`), with --threads or
// [<section>] http_threads handlers and [<section>] tls_cert_file/tls_key_file; prints
// "listening on host:port" on stdout (scripts and tests using port 0 learn the port) and runs
// until SIGINT/SIGTERM. With --metrics-listen or [<section>] serve_metrics_listen, also serves
// /metrics (requests by route group and status class, latency) and /health (`storage` answers).
void serve(core::http::Router router, const ServeOptions& o, const AppConfig& cfg, std::string_view section,
           std::string_view default_listen, std::string_view tool, const std::string& description,
           const core::RedisEndpoint& storage);
// The query API's settings as serve() reads them (--listen or [<section>] listen, threads, TLS files).
core::http::ServerOptions serve_options(const ServeOptions& o, const AppConfig& cfg, std::string_view section,
                                        std::string_view default_listen, std::string_view tool);
// --check-config's ending: prints "<tool>: configuration OK (<file>)" and gives 0.
int config_ok(std::string_view tool, const CommonOptions& o);
// The bearer tokens: --token, else [<section>] api_tokens.
std::vector<std::string> tokens(const ServeOptions& o, const AppConfig& cfg, std::string_view section);

}  // namespace d4::analyzers::cli
