#pragma once
// Signals of the long-running executables (workers, exporter, web, analyzers):
// - SIGINT/SIGTERM: the handler only sets a flag; long loops poll it, and sleeps are cut short when
//   it is set, so a process exits promptly and cleanly (after committing the batch in hand) only
//   when asked. "received SIGTERM: stopping" is logged.
// - SIGHUP: never fatal. It runs the reload action (enable_config_reload(): the configuration is
//   read again and checked, [general] log_level applied), or is logged and ignored.
// The handlers only write the signal's number to a pipe; a signal thread (which blocks the signals
// itself, so that they still interrupt the main thread's blocking calls) logs and runs the action.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

namespace d4::core {

// Routes SIGHUP to the signal thread (idempotent). Daemons call it first thing in main(): a SIGHUP
// that arrives while they start (a supervisor passing a reload on) must not kill them.
void install_hangup_handler();

// Installs the handlers (idempotent; SIGHUP's too). SIGPIPE is ignored so a closed stdout reader surfaces as a
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

// What SIGHUP does (runs on the signal thread); an empty action: SIGHUP is logged and ignored.
void set_reload_action(std::function<void()> action);
// The reload of daemons that have no reload of their own: SIGHUP reads `config_file` again (with
// the environment overrides; empty: none) and validates it, applies [general] log_level (unless
// the command line set `level_override`), and logs the outcome; a broken file is logged and the
// running configuration kept. Other settings apply at the next start.
void enable_config_reload(std::string component, std::filesystem::path config_file,
                          std::string level_override);

}  // namespace d4::core
