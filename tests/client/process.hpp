#pragma once
// Runs the real d4-client binary as a subprocess: stdin from a file or a pipe, stdout and stderr
// captured, bounded waits, signals. Waits are woken by events, not by polling: output waits by each
// read of the client's stdout/stderr (a condition variable), exit waits by the process's pidfd.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/text.hpp"

namespace d4::test {

// In a cross build the client runs on the emulated CPU: D4_TARGET_LAUNCHER (set by CTest from
// CMAKE_CROSSCOMPILING_EMULATOR, words separated by spaces) is put before the command.
inline std::vector<std::string> with_target_launcher(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  if (const char* l = std::getenv("D4_TARGET_LAUNCHER")) {
    std::istringstream words(l);
    for (std::string w; words >> w;) out.push_back(w);
  }
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

class ClientProcess {
 public:
  // stdin_path: a file to redirect from; empty: a pipe written with write_stdin().
  ClientProcess(const std::vector<std::string>& args, const std::string& stdin_path = "") {
    ::signal(SIGPIPE, SIG_IGN);  // a client that exited early must not kill the test
    int in[2] = {-1, -1}, out[2], err[2];
    int file_in = -1;
    if (stdin_path.empty()) {
      if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    } else {
      file_in = ::open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (file_in < 0) throw std::runtime_error("cannot open " + stdin_path);
    }
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> argv_s = with_target_launcher(args);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      ::dup2(file_in >= 0 ? file_in : in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::execvp(argv[0], argv.data());  // the launcher may be a command name
      _exit(127);
    }
    if (file_in >= 0) ::close(file_in);
    if (in[0] >= 0) ::close(in[0]);
    stdin_fd_ = in[1];
    ::close(out[1]);
    ::close(err[1]);
    out_thread_ = std::thread([this, fd = out[0]] { drain(fd, out_); });
    err_thread_ = std::thread([this, fd = err[0]] { drain(fd, err_); });
  }
  ~ClientProcess() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds(10));
    }
    close_stdin();
    if (out_thread_.joinable()) out_thread_.join();
    if (err_thread_.joinable()) err_thread_.join();
    if (pidfd_ >= 0) ::close(pidfd_);
  }
  ClientProcess(const ClientProcess&) = delete;
  ClientProcess& operator=(const ClientProcess&) = delete;

  bool write_stdin(const void* data, std::size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(stdin_fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }
  bool write_stdin(const std::string& s) { return write_stdin(s.data(), s.size()); }
  bool write_stdin(const std::vector<std::uint8_t>& v) { return write_stdin(v.data(), v.size()); }
  void close_stdin() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
  void signal(int sig) {
    if (!status_) ::kill(pid_, sig);
  }

  // Exit status (or 128 + signal), or nullopt if still running after the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (out_thread_.joinable()) out_thread_.join();
        if (err_thread_.joinable()) err_thread_.join();
        return status_;
      }
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      wait_for_exit_event(left);
    }
  }
  bool running() { return !wait(std::chrono::milliseconds(0)); }

  std::string out() {
    std::lock_guard l(mu_);
    return out_;
  }
  std::string err() {
    std::lock_guard l(mu_);
    return err_;
  }
  // Waits until `pred(stdout, stderr)` holds, re-checked whenever the client wrote something.
  template <typename Pred>
  bool wait_output_until(Pred pred, std::chrono::milliseconds timeout) {
    std::unique_lock l(mu_);
    return output_changed_.wait_for(l, timeout,
                                    [&] { return pred(std::as_const(out_), std::as_const(err_)); });
  }
  // Waits until stdout satisfies `pred`.
  template <typename Pred>
  bool wait_stdout(Pred pred, std::chrono::milliseconds timeout) {
    return wait_output_until([&](const std::string& out, const std::string&) { return pred(out); }, timeout);
  }
  // Waits until stderr contains `text` (count times).
  bool wait_stderr(const std::string& text, std::chrono::milliseconds timeout, int count = 1) {
    return wait_output_until(
        [&](const std::string&, const std::string& e) {
          return count_of(e, text) >= static_cast<std::size_t>(count);
        },
        timeout);
  }

 private:
  void drain(int fd, std::string& sink) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      {
        std::lock_guard l(mu_);
        sink.append(buf, static_cast<std::size_t>(n));
      }
      output_changed_.notify_all();
    }
    ::close(fd);
  }

  // Blocks until the child may have exited or `timeout` passed: poll() on a pidfd (readable when
  // the process ends). Where pidfds are missing (old kernels, some emulators) it sleeps 5 ms.
  void wait_for_exit_event(std::chrono::milliseconds timeout) {
#ifdef SYS_pidfd_open
    if (pidfd_ == -1) pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
#else
    pidfd_ = -2;
#endif
    if (pidfd_ < 0) {
      pidfd_ = -2;  // unsupported: do not ask again
      std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(5)));
      return;
    }
    pollfd p{pidfd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(timeout.count(), 60'000)));
  }

  pid_t pid_ = -1;
  int pidfd_ = -1;  // -1: not opened yet, -2: unsupported
  int stdin_fd_ = -1;
  std::optional<int> status_;
  std::mutex mu_;
  std::condition_variable output_changed_;
  std::string out_, err_;
  std::thread out_thread_, err_thread_;
};

}  // namespace d4::test
