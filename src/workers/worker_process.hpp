#pragma once
// d4-worker as a process: holds its name (a short lease, so that two processes never share a name and
// its sessions), runs one TypeRunner thread per served type and thread count, the periodic tasks
// (sensor monitoring, archive retention) and the metrics endpoint, publishes its statistics for the
// web UI, and stops cleanly on SIGINT/SIGTERM. main.cpp only parses the command line.
#include "core/options.hpp"
#include "workers/worker_config.hpp"

namespace d4::workers {

// The command-line options of d4-worker, bound to `o`.
void add_worker_options(d4::core::cli::App& app, WorkerOverrides& o);

// Runs until a stop is requested; the exit status.
int run_worker(const WorkerConfig& c, const WorkerOverrides& o);

}  // namespace d4::workers
