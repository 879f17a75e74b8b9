// d4-worker: rebuilds, archives and queues the data of D4 sessions stored in Redis streams by
// d4-server (every type registered in workers/handlers/registry.cpp: 1, 2+254, 3 to 8). See
// docs/workers.md; the process itself is workers/worker_process.cpp.
#include <spdlog/spdlog.h>
#include "core/cli.hpp"
#include "core/logging.hpp"
#include "core/stop_signal.hpp"
#include "workers/worker_process.hpp"

int main(int argc, char** argv) {
  d4::core::install_hangup_handler();
  d4::core::cli::App app{
      "D4 worker: rebuilds session streams per type, archives them and feeds analyzer queues"};
  d4::workers::WorkerOverrides overrides;
  d4::workers::add_worker_options(app, overrides);
  return d4::core::cli::run_daemon(
      app, argc, argv, "d4-worker", overrides.config_path,
      [&] { return d4::workers::load_worker_config(overrides); },
      [&](const d4::workers::WorkerConfig& config) {
        d4::core::init_logging("d4-worker", config.common.log);
        for (const auto& w : config.warnings) spdlog::warn("{}", w);
        return d4::workers::run_worker(config, overrides);
      });
}
