#include "core/stop_signal.hpp"

#include <csignal>
#include <thread>

namespace d4::core {
namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}
}  // namespace

void install_stop_handlers(bool interrupt_blocking_calls) {
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

}  // namespace d4::core
