#include "client/run.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "client/log.hpp"
#include "client/reader.hpp"
#include "client/sender.hpp"
#include "client/sink_stdout.hpp"
#include "client/source.hpp"
#include "client/spool.hpp"
#include "client/stats.hpp"
#include "client/stop.hpp"
#include "core/exit_codes.hpp"

namespace d4::client {

namespace {

std::string ms_text(Millis ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

void signal_eventfd(int fd) {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(fd, &one, sizeof one);
}

// What the signal thread may touch. Leaked on purpose: the detached thread can outlive run()'s
// locals, so run() clears `alive` (under the mutex) before they are destroyed.
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

// Ignores SIGPIPE (write errors are handled) and blocks SIGINT/SIGTERM/SIGHUP in this thread and
// the threads it starts: the signal thread alone handles them. Returns that set.
sigset_t block_stop_signals() {
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  return sigs;
}

Spool::Options spool_options(const Settings& s) {
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
  return so;
}

// Hands the run's stop state to the signal thread, and takes it back (under the mutex) before the
// run's locals are destroyed.
class SignalTargetsLease {
 public:
  SignalTargetsLease(StopState& stop, Spool& spool, int stop_fd, int wake_fd) {
    std::lock_guard lock(g_targets->mu);
    g_targets->alive = true;
    g_targets->stop = &stop;
    g_targets->spool = &spool;
    g_targets->stop_fd = stop_fd;
    g_targets->wake_fd = wake_fd;
  }
  ~SignalTargetsLease() {
    std::lock_guard lock(g_targets->mu);
    g_targets->alive = false;
  }
  SignalTargetsLease(const SignalTargetsLease&) = delete;
  SignalTargetsLease& operator=(const SignalTargetsLease&) = delete;
};

// The exit status once the reader and the destination are done: the destination's, else a
// failure of the reader or of the disk spool.
int final_status(int rc, const Reader& reader, const Spool& spool) {
  if (reader.failed()) rc = rc ? rc : 1;
  if (spool.disk_errors() > 0) {
    log_error(std::to_string(spool.disk_errors()) + " packets lost to disk spool errors");
    rc = rc ? rc : 1;
  }
  return rc;
}

}  // namespace

int run(const Settings& s) {
  sigset_t sigs = block_stop_signals();
  int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0 || wake_fd < 0) {
    log_error(std::string("eventfd: ") + std::strerror(errno));
    return 1;
  }

  Stats stats;
  StopState stop;
  SessionInfo session;
  Spool spool(spool_options(s));
  spool.set_wakeup_fd(wake_fd);

  std::unique_ptr<Source> source;
  std::unique_ptr<NetworkSender> sender;
  try {
    source = make_source(s, stop_fd, &stats.payload_delivered);
    if (!s.to_stdout) sender = std::make_unique<NetworkSender>(s, spool, stats, session, stop, wake_fd);
  } catch (const ConfigError& e) {
    log_error(std::string("configuration error: ") + e.what());
    return core::exit_status::kConfig;
  } catch (const UsageError& e) {
    log_error(e.what());
    return core::exit_status::kUsage;
  }
  log_debug("sensor " + s.uuid.dashed() + " type " + std::to_string(s.type) + " snaplen " +
            std::to_string(s.snaplen) + " source " + source->describe() + " destination " +
            s.destination_text());

  SignalTargetsLease targets(stop, spool, stop_fd, wake_fd);
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
  rc = final_status(rc, reader, spool);
  log_info(stats.line(spool.memory_used(), spool.disk_used(), !s.to_stdout));
  return rc;
}

}  // namespace d4::client
