#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace d4::test {

Process::Process(const std::vector<std::string>& argv, const Options& options) {
  if (argv.empty()) throw std::invalid_argument("empty argv");
  // Output files are emptied before the child exists, so that whoever reads them after this
  // constructor returns (wait_for_listening after a restart) never sees a previous run's lines.
  for (const auto& out : {options.stdout_file, options.stderr_file}) {
    if (out.empty()) continue;
    int f = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f >= 0) close(f);
  }
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Children die with the test binary, so a crashed test never leaves a redis-server or
    // d4-server holding ctest's output pipe open.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto redirect = [](const std::filesystem::path& p, int fd, int flags) {
      int f = open(p.empty() ? "/dev/null" : p.c_str(), flags, 0644);
      if (f < 0) _exit(126);
      dup2(f, fd);
      close(f);
    };
    redirect(options.stdin_file, 0, O_RDONLY);
    if (!options.stdout_file.empty()) redirect(options.stdout_file, 1, O_WRONLY | O_CREAT | O_TRUNC);
    if (!options.stderr_file.empty()) redirect(options.stderr_file, 2, O_WRONLY | O_CREAT | O_TRUNC);
    for (const auto& [k, v] : options.env) setenv(k.c_str(), v.c_str(), 1);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
    setpgid(0, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
}

Process::Process(Process&& o) noexcept : pid_(o.pid_), status_(o.status_) {
  o.pid_ = -1;
}
Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) stop(std::chrono::milliseconds(100));
    pid_ = o.pid_;
    status_ = o.status_;
    o.pid_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool Process::running() {
  if (pid_ <= 0) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return false;
  }
  return true;
}

void Process::signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

int Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return status_;
  signal(SIGTERM);
  int st = wait(grace);
  if (st < 0) {
    signal(SIGKILL);
    st = wait(std::chrono::milliseconds(5000));
  }
  return st;
}

TempDir::TempDir() {
  std::random_device rd;
  for (int i = 0; i < 100; ++i) {
    auto p = std::filesystem::temp_directory_path() / ("d4test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

int wait_for_listening(const std::filesystem::path& log, std::string_view role, Process& process,
                       std::chrono::milliseconds timeout) {
  // The role is fixed text chosen by the caller: escape the regex syntax it may contain.
  std::string tail;
  if (!role.empty()) {
    tail = R"( \()";
    for (char c : role) {
      if (std::string_view(R"(\^$.|?*+()[]{})").find(c) != std::string_view::npos) tail += '\\';
      tail += c;
    }
    tail += R"(\))";
  }
  std::regex re(R"(listening on (?:\[[0-9a-fA-F:.]+\]|[^\s:]+):(\d+))" + tail);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::string text = read_text(log);
    std::smatch m;
    if (std::regex_search(text, m, re)) return std::stoi(m[1].str());
    if (!process.running())
      throw std::runtime_error("the process exited before listening (" + std::string(role) + "):\n" + text);
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("no \"listening on\" line (" + std::string(role) + ") in time:\n" + text);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

void write_text(const std::filesystem::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}

std::filesystem::path bin_dir() {
#ifdef D4_BIN_DIR
  return D4_BIN_DIR;
#else
  return std::filesystem::current_path();
#endif
}

}  // namespace d4::test
