#pragma once
// SIGINT/SIGTERM handling shared by the long-running executables (workers, exporter, web, analyzers): the
// handler only sets a flag, long loops poll it, and sleeps are cut short when it is set, so a process exits
// promptly and cleanly (after committing the batch in hand) only when asked.
#include <atomic>
#include <chrono>

namespace d4::core {

// Installs the handlers (idempotent). SIGPIPE is ignored so a closed stdout reader surfaces as a
// write error instead of killing the process. With `interrupt_blocking_calls` (the analyzers'
// choice) blocking reads return EINTR so loops notice the flag at once; without it system calls
// are restarted and the process notices the flag at its next poll (workers, exporter, web).
void install_stop_handlers(bool interrupt_blocking_calls = true);
bool stop_requested();
void request_stop();
// The flag itself, for APIs that take a std::atomic<bool>&.
const std::atomic<bool>& stop_flag();
// Sleeps up to `d`; returns early (false) when `stop` is set (by default: a stop was requested).
bool sleep_unless_stopped(std::chrono::milliseconds d, const std::atomic<bool>& stop = stop_flag());

}  // namespace d4::core
