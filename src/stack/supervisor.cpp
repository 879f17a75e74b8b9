#include "stack/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace d4::stack {

std::string tail_of_file(const std::filesystem::path& p, std::size_t max_bytes) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return {};
  f.seekg(0, std::ios::end);
  auto size = static_cast<std::size_t>(f.tellg());
  std::size_t from = size > max_bytes ? size - max_bytes : 0;
  f.seekg(static_cast<std::streamoff>(from));
  std::string out(size - from, '\0');
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

std::string Supervisor::log_tail(const ChildSpec& spec) {
  if (spec.log_file.empty()) return {};
  pump_.settle(spec.log_file, std::chrono::seconds(2));
  return ":\n" + tail_of_file(spec.log_file);
}

pid_t Supervisor::spawn(const ChildSpec& spec) {
  const int log_fd = spec.log_file.empty() ? -1 : pump_.open_channel(spec.log_file);
  pid_t pid = fork();
  if (pid != 0 && log_fd >= 0) close(log_fd);  // the child holds the pipe now
  if (pid < 0) throw std::runtime_error("fork failed for " + spec.name);
  if (pid == 0) {
    // Children get their own process group so a terminal's Ctrl-C reaches only the supervisor,
    // which then stops them in order.
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> args;
    for (const auto& a : spec.argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

void Supervisor::start(ChildSpec spec) {
  Child c;
  c.spec = std::move(spec);
  c.pid = spawn(c.spec);
  c.started = std::chrono::steady_clock::now();
  spdlog::info("started {} (pid {})", c.spec.name, c.pid);
  if (c.spec.ready) {
    auto deadline = std::chrono::steady_clock::now() + c.spec.ready_timeout;
    for (;;) {
      int st = 0;
      if (waitpid(c.pid, &st, WNOHANG) == c.pid) {
        throw std::runtime_error(c.spec.name + " exited during start-up" + log_tail(c.spec));
      }
      if (c.spec.ready()) break;
      if (std::chrono::steady_clock::now() > deadline) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, nullptr, 0);
        throw std::runtime_error(c.spec.name + " was not ready in time" + log_tail(c.spec));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  children_.push_back(std::move(c));
}

bool Supervisor::poll() {
  auto now = std::chrono::steady_clock::now();
  for (auto& c : children_) {
    if (c.waiting_restart) {
      if (now >= c.restart_at) {
        c.pid = spawn(c.spec);
        c.started = now;
        c.waiting_restart = false;
        spdlog::warn("restarted {} (pid {}, restart #{})", c.spec.name, c.pid, c.restarts);
      }
      continue;
    }
    if (c.pid <= 0) continue;
    int st = 0;
    if (waitpid(c.pid, &st, WNOHANG) != c.pid) continue;
    std::string how = WIFEXITED(st) ? "exit status " + std::to_string(WEXITSTATUS(st))
                                    : "signal " + std::to_string(WTERMSIG(st));
    c.pid = -1;
    if (!c.spec.restart) {
      spdlog::error("{} stopped ({})", c.spec.name, how);
      continue;
    }
    // A child that ran for a while gets its backoff reset; a crash loop backs off up to 30 s.
    if (now - c.started > std::chrono::seconds(60)) c.restarts = 0;
    ++c.restarts;
    auto delay = std::chrono::milliseconds(std::min(30000, 250 * (1 << std::min(c.restarts, 7))));
    spdlog::error("{} died ({}); restarting in {} ms{}", c.spec.name, how, delay.count(),
                  c.spec.log_file.empty() ? "" : " — see " + c.spec.log_file.string());
    c.waiting_restart = true;
    c.restart_at = now + delay;
  }
  return true;
}

void Supervisor::stop_all() {
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    auto& c = *it;
    c.waiting_restart = false;
    if (c.pid <= 0) continue;
    kill(c.pid, c.spec.stop_signal);
    auto deadline = std::chrono::steady_clock::now() + c.spec.stop_grace;
    int st = 0;
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(c.pid, &st, WNOHANG) == c.pid) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!exited) {
      spdlog::warn("{} did not stop within {} ms; killing it", c.spec.name, c.spec.stop_grace.count());
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &st, 0);
    }
    spdlog::info("stopped {}", c.spec.name);
    c.pid = -1;
  }
}

std::vector<std::string> Supervisor::signal_running(int sig, std::string_view prefix) {
  std::vector<std::string> names;
  for (const auto& c : children_)
    if (c.pid > 0 && c.spec.name.starts_with(prefix) && kill(c.pid, sig) == 0) names.push_back(c.spec.name);
  return names;
}

bool Supervisor::any_running() const {
  return std::any_of(children_.begin(), children_.end(), [](const Child& c) { return c.pid > 0; });
}

}  // namespace d4::stack
