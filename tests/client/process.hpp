#pragma once
// Runs the real d4-client binary as a subprocess: stdin from a file or a pipe, stdout and stderr
// captured, bounded waits, signals.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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
      if (std::chrono::steady_clock::now() >= end) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
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
  // Waits until stderr contains `text` (count times).
  bool wait_stderr(const std::string& text, std::chrono::milliseconds timeout, int count = 1) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      std::string e = err();
      int n = 0;
      for (std::size_t at = e.find(text); at != std::string::npos; at = e.find(text, at + 1)) ++n;
      if (n >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  void drain(int fd, std::string& sink) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard l(mu_);
      sink.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
  }

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> status_;
  std::mutex mu_;
  std::string out_, err_;
  std::thread out_thread_, err_thread_;
};

}  // namespace d4::test
