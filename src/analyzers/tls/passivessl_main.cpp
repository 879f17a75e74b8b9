// d4-passivessl: consumes ja3-jl records (queue `analyzer:ja3-jl:<queue>`: paths of the JSON files
// written by the D4 server; or files given on the command line), stores deduplicated sessions,
// fingerprints and certificates in Redis, and serves queries over HTTP. See docs/analyzers.md.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "analyzers/common/app.hpp"
#include "analyzers/common/queue_consumer.hpp"
#include "analyzers/tls/passivessl.hpp"
#include "analyzers/tls/passivessl_inputs.hpp"
#include "core/keys.hpp"
#include "core/stop_signal.hpp"

namespace {

using namespace d4::analyzers;
using namespace d4::analyzers::tls;
namespace core = d4::core;
namespace fs = std::filesystem;

constexpr std::string_view kSection = "analyzers.tls";

struct Settings {
  std::string config_path, log_level, log_format;
  std::string storage, analyzer_redis, queue, consumer, listen;
  std::vector<std::string> inputs, tokens;
  bool exit_when_empty = false;
  int threads = 0;
};

PassiveSslOptions store_options(const AppConfig& cfg) {
  PassiveSslOptions o;
  o.prefix = core::get_string(cfg.root, kSection, "key_prefix", "pssl:");
  o.store_raw_certificates = core::get_bool(cfg.root, kSection, "store_raw_certificates", true);
  return o;
}

core::RedisEndpoint storage_endpoint(const Settings& s, const AppConfig& cfg) {
  return parse_endpoint(
      !s.storage.empty() ? s.storage : core::get_string(cfg.root, kSection, "storage", "127.0.0.1:6400/0"),
      "passive SSL storage");
}

int run_import(const Settings& s) {
  AppConfig cfg = load_app_config(s.config_path);
  init_analyzer_logging("d4-passivessl", cfg.common, s.log_level, s.log_format);
  core::RedisClient redis(storage_endpoint(s, cfg));
  PassiveSslStore store(redis, store_options(cfg));
  InputCounters n;
  bool stopped = false;
  InputOptions io;
  io.flush = [&] {
    if (!stopped && !retry_redis([&] { store.flush(); }, core::stop_flag(), "passive SSL storage"))
      stopped = true;
  };
  for (const auto& in : s.inputs) {
    if (core::stop_requested()) break;
    if (in == "-") {
      std::string line;
      while (std::getline(std::cin, line)) process_json_line(line, "stdin", store, n);
    } else {
      process_input(in, store, n, io);
    }
    if (stopped) return 3;
    if (!retry_redis([&] { store.flush(); }, core::stop_flag(), "passive SSL storage")) return 3;
  }
  spdlog::info("{} record(s) and {} certificate(s) from files stored, {} rejected, {} file(s), {} unreadable",
               n.records, n.certificates, n.rejected, n.files, n.unreadable);
  return n.unreadable ? 2 : 0;
}

int run_ingest(const Settings& s) {
  AppConfig cfg = load_app_config(s.config_path);
  init_analyzer_logging("d4-passivessl", cfg.common, s.log_level, s.log_format);
  std::string queue = !s.queue.empty() ? s.queue : core::get_string(cfg.root, kSection, "queue", "");
  if (queue.empty()) throw core::ConfigError("no analyzer queue: set --queue or analyzers.tls.queue");
  QueueConsumerOptions qo;
  qo.endpoint = !s.analyzer_redis.empty() ? parse_endpoint(s.analyzer_redis, "analyzer redis")
                                          : cfg.common.redis.analyzer;
  qo.list_key = core::keys::analyzer_list("ja3-jl", queue);
  qo.consumer_name = !s.consumer.empty() ? s.consumer
                                         : core::get_string(cfg.root, kSection, "consumer_name",
                                                            default_consumer_name("d4-passivessl", queue));
  qo.batch_size = 100;
  qo.exit_when_empty = s.exit_when_empty;
  auto endpoint = storage_endpoint(s, cfg);
  core::RedisClient redis(endpoint);
  PassiveSslStore store(redis, store_options(cfg));
  InputCounters n;
  // A failed intermediate write fails the batch, which is delivered again (at least once).
  InputOptions io;
  io.flush = [&] { store.flush(); };
  spdlog::info("consuming {} on {} into {}", qo.list_key, qo.endpoint.to_string(), endpoint.to_string());
  QueueConsumer consumer(qo);
  consumer.run(
      [&](const std::vector<std::string>& batch) {
        store.discard();  // pending records of a failed write: their batch is delivered again
        for (const auto& el : batch) process_input(el, store, n, io);
        store.flush();  // before the batch is acknowledged
      },
      core::stop_flag());
  retry_redis([&] { store.flush(); }, core::stop_flag(), "passive SSL storage");
  spdlog::info("{} record(s) and {} certificate(s) from files stored, {} rejected, {} file(s), {} unreadable",
               n.records, n.certificates, n.rejected, n.files, n.unreadable);
  return 0;
}

int run_serve(const Settings& s) {
  AppConfig cfg = load_app_config(s.config_path);
  init_analyzer_logging("d4-passivessl", cfg.common, s.log_level, s.log_format);
  auto [host, port] = parse_listen(
      !s.listen.empty() ? s.listen : core::get_string(cfg.root, kSection, "listen", "127.0.0.1:8401"));
  core::http::Router router;
  PassiveSslApiOptions api;
  api.tokens = !s.tokens.empty() ? s.tokens : get_string_array(cfg.root, kSection, "api_tokens");
  api.prefix = store_options(cfg).prefix;
  api.tlsh_max_scan = static_cast<std::size_t>(
      std::max<long long>(1, core::get_int(cfg.root, kSection, "tlsh_max_scan", 1000000)));
  auto endpoint = storage_endpoint(s, cfg);
  mount_passivessl_api(router, endpoint, api);
  core::http::ServerOptions so;
  so.address = host;
  so.port = port;
  so.handler_threads = static_cast<std::size_t>(std::max<long long>(
      1, s.threads > 0 ? s.threads : core::get_int(cfg.root, kSection, "http_threads", 4)));
  so.server_header = "d4-passivessl";
  so.tls_cert_file = core::get_string(cfg.root, kSection, "tls_cert_file", "");
  so.tls_key_file = core::get_string(cfg.root, kSection, "tls_key_file", "");
  core::http::Server server(std::move(router), so);
  server.start();
  std::cout << "listening on " << host << ":" << server.port() << std::endl;
  spdlog::info("query API on {}:{}, storage {}", host, server.port(), endpoint.to_string());
  serve_until_stopped(server);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  core::install_stop_handlers();
  Settings s;
  CLI::App app{
      "d4-passivessl: passive SSL analyzer (ja3-jl sessions, fingerprints and certificates in Redis)"};
  app.require_subcommand(1);
  app.add_option("-c,--config", s.config_path, "D4 configuration file (TOML)");
  app.add_option("--storage", s.storage,
                 "Redis host:port/db for the passive SSL data (default 127.0.0.1:6400/0)");
  app.add_option("--log-level", s.log_level, "trace, debug, info, warn, error");
  app.add_option("--log-format", s.log_format, "text or json");
  auto* ingest = app.add_subcommand("ingest", "consume the ja3-jl analyzer queue");
  ingest->add_option("-u,--queue", s.queue, "analyzer queue UUID");
  ingest->add_option("--analyzer-redis", s.analyzer_redis,
                     "D4 analyzer queues host:port/db (default [redis] analyzer)");
  ingest->add_option("--consumer", s.consumer, "consumer name (names the processing list)");
  ingest->add_flag("--exit-when-empty", s.exit_when_empty, "return once the queue is drained");
  auto* import = app.add_subcommand(
      "import",
      "store ja3-jl JSON/NDJSON files, DER/PEM certificate files, tar(.gz) archives or directories of them");
  import
      ->add_option("inputs", s.inputs,
                   "files or directories (walked recursively), - for ja3-jl lines on stdin")
      ->required();
  auto* serve = app.add_subcommand("serve", "serve the query API");
  serve->add_option("-l,--listen", s.listen, "host:port (default 127.0.0.1:8401)");
  serve->add_option("--token", s.tokens, "accepted bearer token (repeatable)");
  serve->add_option("--threads", s.threads, "request handler threads");
  CLI11_PARSE(app, argc, argv);
  return run_tool("d4-passivessl", [&] {
    if (*ingest) return run_ingest(s);
    if (*import) return run_import(s);
    return run_serve(s);  // require_subcommand(1): serve
  });
}
