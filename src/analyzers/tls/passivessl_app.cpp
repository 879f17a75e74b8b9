#include "analyzers/tls/passivessl_app.hpp"

#include <spdlog/spdlog.h>

#include <iostream>

#include "analyzers/tls/passivessl.hpp"
#include "analyzers/tls/passivessl_inputs.hpp"
#include "core/cli.hpp"
#include "core/stop_signal.hpp"

namespace d4::analyzers::tls {
namespace {

constexpr std::string_view kTool = "d4-passivessl";
constexpr std::string_view kSection = "analyzers.tls";

PassiveSslOptions store_options(const AppConfig& cfg) {
  PassiveSslOptions o;
  o.prefix = core::get_string(cfg.root, kSection, "key_prefix", std::string(keys::kDefaultPrefix));
  o.store_raw_certificates = core::get_bool(cfg.root, kSection, "store_raw_certificates", true);
  return o;
}

core::RedisEndpoint storage_endpoint(const PassiveSslSettings& s, const AppConfig& cfg) {
  if (!s.storage.empty()) return core::cli::endpoint_argument(s.storage, "--storage");
  return core::get_endpoint(cfg.root, kSection, "storage",
                            *core::RedisEndpoint::parse(keys::kDefaultStorage));
}

void log_counters(const InputCounters& n) {
  spdlog::info("{} record(s) and {} certificate(s) from files stored, {} rejected, {} file(s), {} unreadable",
               n.records, n.certificates, n.rejected, n.files, n.unreadable);
}

}  // namespace

int run_passivessl_import(const PassiveSslSettings& s) {
  AppConfig cfg = cli::start(kTool, s.common);
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
    if (stopped) return kExitResultsNotWritten;
    if (!retry_redis([&] { store.flush(); }, core::stop_flag(), "passive SSL storage"))
      return kExitResultsNotWritten;
  }
  log_counters(n);
  return n.unreadable ? kExitInputUnreadable : 0;
}

int run_passivessl_ingest(const PassiveSslSettings& s) {
  AppConfig cfg = cli::start(kTool, s.common);
  std::string queue =
      !s.queue.queue.empty() ? s.queue.queue : core::get_string(cfg.root, kSection, "queue", "");
  if (queue.empty()) throw core::ConfigError("no analyzer queue: set --queue or analyzers.tls.queue");
  QueueConsumerOptions qo = cli::consumer_options(s.queue, cfg, kSection, kTool, "ja3-jl", queue);
  qo.batch_size = 100;
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
  log_counters(n);
  return 0;
}

int check_passivessl_config(const PassiveSslSettings& s) {
  AppConfig cfg = cli::start(kTool, s.common);
  store_options(cfg);
  storage_endpoint(s, cfg);
  cli::serve_options(s.serve, cfg, kSection, "127.0.0.1:8401", kTool);
  cli::tokens(s.serve, cfg, kSection);
  core::get_int(cfg.root, kSection, "tlsh_max_scan", 0);
  for (auto key : {"queue", "consumer_name"}) core::get_string(cfg.root, kSection, key, "");
  return cli::config_ok(kTool, s.common);
}

int run_passivessl_serve(const PassiveSslSettings& s) {
  AppConfig cfg = cli::start(kTool, s.common);
  core::http::Router router;
  PassiveSslApiOptions api;
  api.tokens = cli::tokens(s.serve, cfg, kSection);
  api.prefix = store_options(cfg).prefix;
  api.tlsh_max_scan = static_cast<std::size_t>(
      std::max<long long>(1, core::get_int(cfg.root, kSection, "tlsh_max_scan", 1000000)));
  auto endpoint = storage_endpoint(s, cfg);
  mount_passivessl_api(router, endpoint, api);
  cli::serve(std::move(router), s.serve, cfg, kSection, "127.0.0.1:8401", kTool,
             "storage " + endpoint.to_string());
  return 0;
}

}  // namespace d4::analyzers::tls
