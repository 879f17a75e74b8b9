#include "core/stop_signal.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/config.hpp"
#include "core/logging.hpp"

namespace d4::core {
namespace {

std::atomic<bool> g_stop{false};
int g_pipe[2] = {-1, -1};
std::mutex g_action_mutex;
std::function<void()> g_reload_action;

// Async-signal-safe: one byte naming the signal, never blocking (a full pipe already holds one).
void notify(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &b, 1);
  errno = saved;
}
extern "C" void on_stop_signal(int sig) {
  g_stop.store(true, std::memory_order_relaxed);
  notify(sig);
}
extern "C" void on_hangup(int sig) {
  notify(sig);
}

void say(const std::string& line) {
  if (logging_initialised())
    spdlog::info("{}", line);
  else
    std::fprintf(stderr, "%s\n", line.c_str());
}

void handle(int sig) {
  if (sig != SIGHUP) {
    say(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ": stopping");
    return;
  }
  std::function<void()> action;
  {
    std::lock_guard lock(g_action_mutex);
    action = g_reload_action;
  }
  if (action)
    action();
  else
    say("SIGHUP: nothing to reload (yet); continuing");
}

void signal_loop() {
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_UNBLOCK, &hup, nullptr);
  for (;;) {
    unsigned char sig = 0;
    ssize_t n = ::read(g_pipe[0], &sig, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    handle(sig);
  }
}

// SIGINT/SIGTERM go to the other threads, so that they interrupt the main thread's blocking calls
// when asked to (the signal thread blocks them). SIGHUP goes to the signal thread only: it blocks
// in the calling thread and in the threads started after it, so a reload request never interrupts
// a blocking call (a socket read with a timeout returns EINTR whatever SA_RESTART says).
void start_signal_thread() {
  if (::pipe2(g_pipe, O_CLOEXEC) != 0) return;  // signals still stop the process, silently
  ::fcntl(g_pipe[1], F_SETFL, O_NONBLOCK);
  sigset_t handled, previous, hup;
  sigemptyset(&handled);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&handled, s);
  pthread_sigmask(SIG_BLOCK, &handled, &previous);
  std::thread(signal_loop).detach();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, nullptr);
}

}  // namespace

void install_hangup_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    start_signal_thread();
    struct sigaction hup {};
    hup.sa_handler = on_hangup;
    sigemptyset(&hup.sa_mask);
    hup.sa_flags = SA_RESTART;  // a reload request never interrupts work
    sigaction(SIGHUP, &hup, nullptr);
  });
}

void install_stop_handlers(bool interrupt_blocking_calls) {
  install_hangup_handler();
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = interrupt_blocking_calls ? 0 : SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() {
  return g_stop.load(std::memory_order_relaxed);
}
void request_stop() {
  g_stop.store(true, std::memory_order_relaxed);
}
const std::atomic<bool>& stop_flag() {
  return g_stop;
}

bool sleep_unless_stopped(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  auto deadline = std::chrono::steady_clock::now() + d;
  while (!stop.load(std::memory_order_relaxed)) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(50)));
  }
  return false;
}

void set_reload_action(std::function<void()> action) {
  std::lock_guard lock(g_action_mutex);
  g_reload_action = std::move(action);
}

void enable_config_reload(std::string component, std::filesystem::path config_file,
                          std::string level_override) {
  set_reload_action([component = std::move(component), file = std::move(config_file),
                     level_override = std::move(level_override)] {
    try {
      auto root = load_config(file);
      auto common = read_common_config(root, file.parent_path());
      const std::string& level = level_override.empty() ? common.log.level : level_override;
      spdlog::default_logger()->set_level(spdlog::level::from_str(level));
      spdlog::info("SIGHUP: {} checked; log level {}{}; other settings apply when {} restarts",
                   file.empty() ? std::string("environment") : "configuration " + file.string(), level,
                   level_override.empty() ? "" : " (--log-level)", component);
    } catch (const std::exception& e) {
      spdlog::error("SIGHUP: configuration not reloaded, {} keeps running with the one it started with: {}",
                    component, e.what());
    }
  });
}

}  // namespace d4::core
