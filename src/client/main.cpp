// d4-client: the D4 sensor client. See docs/client.md.
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "client/config.hpp"
#include "client/log.hpp"
#include "client/options.hpp"
#include "client/reader.hpp"
#include "client/sender.hpp"
#include "client/sink_stdout.hpp"
#include "client/source.hpp"
#include "client/spool.hpp"
#include "client/stats.hpp"
#include "client/stop.hpp"
#include "core/exit_codes.hpp"

using namespace d4::client;

namespace {

void write_stdout(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

std::string ms_text(Millis ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

void signal_eventfd(int fd) {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(fd, &one, sizeof one);
}

// What the signal thread may touch. Leaked on purpose: the detached thread can outlive main's
// locals, so main clears `alive` (under the mutex) before they are destroyed.
struct SignalTargets {
  std::mutex mu;
  bool alive = false;
  StopState* stop = nullptr;
  Spool* spool = nullptr;
  int stop_fd = -1;
  int wake_fd = -1;
};
SignalTargets* g_targets = new SignalTargets;

// Waits for SIGINT or SIGTERM; a SIGHUP meanwhile is logged (the client has nothing to reload).
int wait_for_stop_signal(const sigset_t& set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return 0;
    if (sig != SIGHUP) return sig;
    log_info("SIGHUP: nothing to reload (restart the client to apply configuration changes); continuing");
  }
}

// Handles SIGINT/SIGTERM/SIGHUP (blocked in every other thread): the first SIGINT/SIGTERM asks for
// a clean stop within the grace time; a second one, or the grace time running out (+2 s), ends the
// process.
void signal_thread(sigset_t set, Millis grace) {
  int sig = wait_for_stop_signal(set);
  if (sig == 0) return;
  auto deadline = std::chrono::steady_clock::now() + grace;
  {
    std::lock_guard lock(g_targets->mu);
    if (!g_targets->alive) return;
    log_info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
             ": stopping, flushing for up to " + ms_text(grace));
    g_targets->stop->deadline_ns.store(
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count());
    g_targets->stop->level.store(1);
    signal_eventfd(g_targets->stop_fd);
    signal_eventfd(g_targets->wake_fd);
    g_targets->spool->interrupt_producer();
  }
  // Watchdog: a second signal, or the grace time (+2 s) running out, ends the process.
  auto watchdog = deadline + std::chrono::seconds(2);
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::nanoseconds>(watchdog - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      log_error("shutdown did not complete in time: exiting, unsent data is lost");
      break;
    }
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(left.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(left.count() % 1'000'000'000);
    siginfo_t info{};
    int r = sigtimedwait(&set, &info, &ts);
    if (r == SIGHUP) continue;  // not a second request to stop
    if (r > 0) {
      log_error("second signal: exiting now, unsent data is lost");
      break;
    }
    // EINTR (another signal, e.g. used by a debugger or sanitizer) or EAGAIN: check the time.
  }
  _exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  // SIGHUP waits for the signal thread (it has nothing to reload): never fatal, even at start-up.
  sigset_t hangup;
  sigemptyset(&hangup);
  sigaddset(&hangup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hangup, nullptr);
  CommandLine cl;
  Settings s;
  try {
    cl = parse_command_line(argc, argv);
    if (cl.help) {
      write_stdout(help_text());
      return 0;
    }
    if (cl.show_version) {
      write_stdout(std::string(client_version()) + "\n");
      return 0;
    }
    s = resolve_settings(cl);
    if (cl.check_config) {
      write_stdout("d4-client: configuration OK (" + (s.config_dir.empty() ? "command line" : s.config_dir) +
                   ")\n");
      return d4::core::exit_status::kOk;
    }
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "d4-client: configuration error: %s\n", e.what());
    return d4::core::exit_status::kConfig;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "d4-client: %s\n", e.what());
    return d4::core::exit_status::kUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "d4-client: %s\n", e.what());
    return d4::core::exit_status::kRuntime;
  }
  set_log_level(s.log_level);
  if (s.uuid_generated)
    log_info("generated sensor UUID " + s.uuid.dashed() + ", saved in " + s.config_dir + "/uuid");

  // Signals: SIGPIPE ignored (write errors are handled); SIGINT/SIGTERM/SIGHUP handled by one thread.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0 || wake_fd < 0) {
    log_error(std::string("eventfd: ") + std::strerror(errno));
    return 1;
  }

  Stats stats;
  StopState stop;
  SessionInfo session;
  Spool::Options so;
  so.memory = static_cast<std::size_t>(s.spool_memory);
  so.max_payload = s.snaplen;
  so.disk_dir = s.spool_dir;
  so.disk_max = s.spool_disk_max;
  if (s.to_stdout) {
    // Only a pipeline buffer between the reader and the writer is needed.
    so.memory = std::min<std::size_t>(so.memory, std::max<std::size_t>(8u << 20, 8 * (s.snaplen + 256)));
    so.disk_dir.clear();
  }
  Spool spool(so);
  spool.set_wakeup_fd(wake_fd);

  std::unique_ptr<Source> source;
  std::unique_ptr<NetworkSender> sender;
  try {
    source = make_source(s, stop_fd, &stats.payload_delivered);
    if (!s.to_stdout) sender = std::make_unique<NetworkSender>(s, spool, stats, session, stop, wake_fd);
  } catch (const ConfigError& e) {
    log_error(std::string("configuration error: ") + e.what());
    return d4::core::exit_status::kConfig;
  } catch (const UsageError& e) {
    log_error(e.what());
    return d4::core::exit_status::kUsage;
  }
  log_debug("sensor " + s.uuid.dashed() + " type " + std::to_string(s.type) + " snaplen " +
            std::to_string(s.snaplen) + " source " + source->describe() + " destination " +
            s.destination_text());

  {
    std::lock_guard lock(g_targets->mu);
    g_targets->alive = true;
    g_targets->stop = &stop;
    g_targets->spool = &spool;
    g_targets->stop_fd = stop_fd;
    g_targets->wake_fd = wake_fd;
  }
  std::thread(signal_thread, sigs, s.grace).detach();

  Reader reader(s, *source, spool, stats, session, stop, stop_fd);
  std::thread reader_thread([&] { reader.run(); });

  int rc = 0;
  try {
    rc = sender ? sender->run() : run_stdout_sink(s, spool, stats, stop, STDOUT_FILENO);
  } catch (const std::exception& e) {
    log_error(e.what());
    rc = 1;
  }
  // The destination is done (or failed): make sure the reader stops too.
  signal_eventfd(stop_fd);
  spool.interrupt_producer();
  reader_thread.join();
  sender.reset();
  source->log_summary();
  if (reader.failed()) rc = rc ? rc : 1;
  if (spool.disk_errors() > 0) {
    log_error(std::to_string(spool.disk_errors()) + " packets lost to disk spool errors");
    rc = rc ? rc : 1;
  }
  log_info(stats.line(spool.memory_used(), spool.disk_used(), !s.to_stdout));
  std::lock_guard lock(g_targets->mu);
  g_targets->alive = false;
  return rc;
}
