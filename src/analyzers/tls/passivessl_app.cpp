#include "analyzers/tls/passivessl_app.hpp"

#include <spdlog/spdlog.h>

#include <iostream>

#include "analyzers/common/analyzer_metrics.hpp"
#include "analyzers/tls/passivessl.hpp"
#include "analyzers/tls/passivessl_inputs.hpp"
#include "core/cli.hpp"
#include "core/stop_signal.hpp"

namespace d4::analyzers::tls {
namespace {

constexpr std::string_view kPassiveSslTool = "d4-passivessl";
constexpr std::string_view kPassiveSslSection = "analyzers.tls";

PassiveSslOptions store_options(const AppConfig& cfg) {
  PassiveSslOptions o;
  o.prefix = core::get_string(cfg.root, kPassiveSslSection, "key_prefix", std::string(keys::kDefaultPrefix));
  o.store_raw_certificates = core::get_bool(cfg.root, kPassiveSslSection, "store_raw_certificates", true);
  return o;
}

core::RedisEndpoint storage_endpoint(const PassiveSslSettings& s, const AppConfig& cfg) {
  if (!s.storage.empty()) return core::cli::endpoint_argument(s.storage, "--storage");
  return core::get_endpoint(cfg.root, kPassiveSslSection, "storage",
                            *core::RedisEndpoint::parse(keys::kDefaultStorage));
}

// What the batches written so far read: a batch delivered again after a failed write counts once.
// Kept and published by the ingest thread.
class CommittedInputs {
 public:
  void begin(const InputCounters& n, const PassiveSslStore& store) {
    before_ = n;
    rejects_before_ = store.rejected_by_reason();
  }
  void commit(const InputCounters& n, const PassiveSslStore& store) {
    total_.records += n.records - before_.records;
    total_.certificates += n.certificates - before_.certificates;
    total_.files += n.files - before_.files;
    total_.unreadable += n.unreadable - before_.unreadable;
    add_counts_since(rejects_, store.rejected_by_reason(), rejects_before_);
    begin(n, store);
  }
  void publish(AnalyzerMetrics& m) const {
    if (!m.enabled()) return;
    m.set_counter("d4_passivessl_records_total", "ja3-jl sessions stored", total_.records);
    m.set_counter("d4_passivessl_certificates_total", "Certificates stored from certificate files",
                  total_.certificates);
    m.set_counter("d4_passivessl_files_total", "Files and archive members read", total_.files);
    m.set_counter("d4_passivessl_unreadable_files_total", "Files that could not be read", total_.unreadable);
    m.declare_counter("d4_passivessl_rejects_total", "Inputs rejected, by reason");
    m.set_counters_by_reason("d4_passivessl_rejects_total", "Inputs rejected, by reason", rejects_);
  }

 private:
  InputCounters before_, total_;
  CountsByReason rejects_before_, rejects_;
};

void log_counters(const InputCounters& n) {
  spdlog::info("{} record(s) and {} certificate(s) from files stored, {} rejected, {} file(s), {} unreadable",
               n.records, n.certificates, n.rejected, n.files, n.unreadable);
}

}  // namespace

int run_passivessl_import(const PassiveSslSettings& s) {
  AppConfig cfg = cli::start(kPassiveSslTool, s.common);
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
  AppConfig cfg = cli::start(kPassiveSslTool, s.common);
  std::string queue =
      !s.queue.queue.empty() ? s.queue.queue : core::get_string(cfg.root, kPassiveSslSection, "queue", "");
  if (queue.empty()) throw core::ConfigError("no analyzer queue: set --queue or analyzers.tls.queue");
  QueueConsumerOptions qo =
      cli::consumer_options(s.queue, cfg, kPassiveSslSection, kPassiveSslTool, "ja3-jl", queue);
  qo.batch_size = 100;
  auto endpoint = storage_endpoint(s, cfg);
  AnalyzerMetrics metrics(
      std::string(kPassiveSslTool),
      cli::metrics_listen(s.queue.metrics_listen, cfg, kPassiveSslSection, "metrics_listen"));
  core::RedisClient redis(endpoint);
  PassiveSslStore store(redis, store_options(cfg));
  InputCounters n;
  // A failed intermediate write fails the batch, which is delivered again (at least once).
  InputOptions io;
  io.flush = [&] { store.flush(); };
  spdlog::info("consuming {} on {} into {}", qo.list_key, qo.endpoint.to_string(), endpoint.to_string());
  auto consumer = std::make_shared<QueueConsumer>(qo);
  metrics.watch_consumer(consumer);
  metrics.start();
  cli::drop_privileges(kPassiveSslTool, cfg);
  CommittedInputs committed;
  committed.publish(metrics);  // every series from the start, at 0
  consumer->run(
      [&](const std::vector<std::string>& batch) {
        store.discard();  // pending records of a failed write: their batch is delivered again
        committed.begin(n, store);
        for (const auto& el : batch) process_input(el, store, n, io);
        store.flush();  // before the batch is acknowledged
        committed.commit(n, store);
        committed.publish(metrics);
      },
      core::stop_flag());
  retry_redis([&] { store.flush(); }, core::stop_flag(), "passive SSL storage");
  log_counters(n);
  return 0;
}

int check_passivessl_config(const PassiveSslSettings& s) {
  AppConfig cfg = cli::start(kPassiveSslTool, s.common);
  store_options(cfg);
  storage_endpoint(s, cfg);
  cli::serve_options(s.serve, cfg, kPassiveSslSection, "127.0.0.1:8401", kPassiveSslTool);
  cli::tokens(s.serve, cfg, kPassiveSslSection);
  core::get_int(cfg.root, kPassiveSslSection, "tlsh_max_scan", 0);
  for (auto key : {"queue", "consumer_name"}) core::get_string(cfg.root, kPassiveSslSection, key, "");
  return cli::config_ok(kPassiveSslTool, s.common);
}

int run_passivessl_serve(const PassiveSslSettings& s) {
  AppConfig cfg = cli::start(kPassiveSslTool, s.common);
  core::http::Router router;
  PassiveSslApiOptions api;
  api.tokens = cli::tokens(s.serve, cfg, kPassiveSslSection);
  api.prefix = store_options(cfg).prefix;
  api.tlsh_max_scan = static_cast<std::size_t>(
      std::max<long long>(1, core::get_int(cfg.root, kPassiveSslSection, "tlsh_max_scan", 1000000)));
  auto endpoint = storage_endpoint(s, cfg);
  mount_passivessl_api(router, endpoint, api);
  cli::serve(std::move(router), s.serve, cfg, kPassiveSslSection, "127.0.0.1:8401", kPassiveSslTool,
             "storage " + endpoint.to_string(), endpoint);
  return 0;
}

}  // namespace d4::analyzers::tls
