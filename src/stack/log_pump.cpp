#include "stack/log_pump.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/rotating_file_sink.h>

namespace d4::stack {
namespace {

// A line longer than this is written in pieces (a child printing without newlines cannot make
// the pump hold an unbounded buffer).
constexpr std::size_t kMaxPumpedLine = 64 * 1024;
constexpr std::chrono::milliseconds kStopDrainTime{1000};

void close_quietly(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace

LogPump::LogPump(LogRotation rotation) : rotation_(rotation) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("log pump: cannot create a pipe");
  wake_read_ = fds[0];
  wake_write_ = fds[1];
  thread_ = std::thread([this] { run(); });
}

LogPump::~LogPump() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    stop_deadline_ = std::chrono::steady_clock::now() + kStopDrainTime;
  }
  wake();
  thread_.join();
  for (auto& c : channels_) {
    write_lines(c, true);
    close_quietly(c.fd);
  }
  for (auto& [file, sink] : sinks_) sink->flush();
  close_quietly(wake_read_);
  close_quietly(wake_write_);
}

std::shared_ptr<spdlog::sinks::sink> LogPump::sink_for(const std::filesystem::path& file) {
  for (auto& [f, sink] : sinks_)
    if (f == file) return sink;
  auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_st>(
      file.string(), static_cast<std::size_t>(rotation_.max_bytes), rotation_.keep_files);
  sink->set_pattern("%v");  // the child's own lines, as they were written
  sinks_.emplace_back(file, sink);
  return sink;
}

int LogPump::open_channel(const std::filesystem::path& file) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error("log pump: cannot create a pipe for " + file.string());
  {
    std::lock_guard lock(mutex_);
    try {
      channels_.push_back(Channel{fds[0], file, sink_for(file), {}});
    } catch (...) {
      close_quietly(fds[0]);
      close_quietly(fds[1]);
      throw;
    }
  }
  wake();
  return fds[1];
}

void LogPump::set_rotation(LogRotation rotation) {
  std::lock_guard lock(mutex_);
  rotation_ = rotation;
}

void LogPump::settle(const std::filesystem::path& file, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  settled_.wait_for(lock, timeout, [&] {
    return std::none_of(channels_.begin(), channels_.end(), [&](const Channel& c) { return c.file == file; });
  });
}

void LogPump::wake() {
  char byte = 1;
  [[maybe_unused]] auto n = ::write(wake_write_, &byte, 1);  // full pipe: a wake-up is pending anyway
}

void LogPump::write_lines(Channel& c, bool flush_partial) {
  std::size_t start = 0;
  auto emit = [&](std::string_view line) {
    spdlog::details::log_msg msg(spdlog::string_view_t(), spdlog::level::info,
                                 spdlog::string_view_t(line.data(), line.size()));
    c.sink->log(msg);
  };
  for (std::size_t nl; (nl = c.partial.find('\n', start)) != std::string::npos; start = nl + 1)
    emit(std::string_view(c.partial).substr(start, nl - start));
  c.partial.erase(0, start);
  while (c.partial.size() >= kMaxPumpedLine) {
    emit(std::string_view(c.partial).substr(0, kMaxPumpedLine));
    c.partial.erase(0, kMaxPumpedLine);
  }
  if (flush_partial && !c.partial.empty()) {
    emit(c.partial);
    c.partial.clear();
  }
  c.sink->flush();
}

bool LogPump::drain(Channel& c) {
  char buffer[16 * 1024];
  ssize_t n = ::read(c.fd, buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {
    write_lines(c, true);
    return false;
  }
  c.partial.append(buffer, static_cast<std::size_t>(n));
  write_lines(c, false);
  return true;
}

void LogPump::run() {
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    {
      std::lock_guard lock(mutex_);
      if (stopping_ && (channels_.empty() || std::chrono::steady_clock::now() >= stop_deadline_)) return;
      for (const auto& c : channels_) fds.push_back({c.fd, POLLIN, 0});
    }
    fds.push_back({wake_read_, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 200) <= 0) continue;
    if (fds.back().revents != 0) {
      char sink[64];
      while (::read(wake_read_, sink, sizeof sink) > 0) {
      }
    }
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i + 1 < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto it = std::find_if(channels_.begin(), channels_.end(),
                             [&](const Channel& c) { return c.fd == fds[i].fd; });
      if (it == channels_.end() || drain(*it)) continue;
      close_quietly(it->fd);
      channels_.erase(it);
      settled_.notify_all();
    }
  }
}

}  // namespace d4::stack
