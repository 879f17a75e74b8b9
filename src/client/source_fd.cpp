// stdin and file sources: plain read(2) of at most the requested size, exactly like the C client
// (one D4 packet per read in read chunking).
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "client/source.hpp"

namespace d4::client {

bool wait_readable(int fd, int stop_fd, int timeout_ms, bool* stopped) {
  *stopped = false;
  pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  for (;;) {
    int r = ::poll(fds, stop_fd >= 0 ? 2 : 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    if (stop_fd >= 0 && (fds[1].revents & POLLIN)) {
      *stopped = true;
      return false;
    }
    return true;  // readable, or HUP/ERR which read() will report
  }
}

namespace {

class FdSource final : public Source {
 public:
  FdSource(int fd, std::string name, int stop_fd, bool owns)
      : fd_(fd), name_(std::move(name)), stop_fd_(stop_fd), owns_(owns) {
    struct stat st {};
    bool ok = ::fstat(fd_, &st) == 0;
    // A regular file never blocks: no poll() before each read.
    regular_ = ok && S_ISREG(st.st_mode);
    // A pipe or socket is read non-blocking, so that a read is tried first and poll() (which also
    // watches the stop descriptor) only runs when no data is there: one system call per packet
    // on a busy pipe instead of two. The original flags are restored at the end.
    if (ok && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
      int flags = ::fcntl(fd_, F_GETFL);
      if (flags >= 0 && (flags & O_NONBLOCK)) {
        nonblocking_ = true;
      } else if (flags >= 0 && ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) == 0) {
        saved_flags_ = flags;
        nonblocking_ = true;
      }
    }
  }
  ~FdSource() override {
    if (saved_flags_ >= 0) ::fcntl(fd_, F_SETFL, saved_flags_);
    if (owns_) ::close(fd_);
  }

  ReadResult read(std::span<std::uint8_t> buf, int timeout_ms) override {
    if (!regular_ && !nonblocking_) {
      bool stopped = false;
      if (!wait_readable(fd_, stop_fd_, timeout_ms, &stopped))
        return {stopped ? ReadStatus::Interrupted : ReadStatus::Timeout, 0, {}};
    }
    bool waited = false;
    for (;;) {
      ssize_t n = ::read(fd_, buf.data(), buf.size());
      if (n > 0) return {ReadStatus::Data, static_cast<std::size_t>(n), {}};
      if (n == 0) return {ReadStatus::Eof, 0, {}};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!nonblocking_ || waited) return {ReadStatus::Timeout, 0, {}};
        bool stopped = false;
        if (!wait_readable(fd_, stop_fd_, timeout_ms, &stopped))
          return {stopped ? ReadStatus::Interrupted : ReadStatus::Timeout, 0, {}};
        waited = true;
        continue;
      }
      return {ReadStatus::Error, 0, "read from " + name_ + ": " + std::strerror(errno)};
    }
  }

  std::string describe() const override { return name_; }

 private:
  int fd_;
  std::string name_;
  int stop_fd_;
  bool owns_;
  bool regular_ = false;
  bool nonblocking_ = false;
  int saved_flags_ = -1;
};

}  // namespace

std::unique_ptr<Source> make_fd_source(int fd, std::string name, int stop_fd, bool owns_fd) {
  return std::make_unique<FdSource>(fd, std::move(name), stop_fd, owns_fd);
}

std::unique_ptr<Source> make_source(const Settings& s, int stop_fd,
                                    const std::atomic<std::uint64_t>* delivered) {
  switch (s.source) {
    case SourceKind::Stdin:
      return make_fd_source(STDIN_FILENO, "stdin", stop_fd, false);
    case SourceKind::File: {
      int fd = ::open(s.file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw UsageError("cannot open source file " + s.file + ": " + std::strerror(errno));
      return make_fd_source(fd, "file " + s.file, stop_fd, true);
    }
    case SourceKind::Pcap:
      return make_pcap_source(s, stop_fd);
    case SourceKind::Folder:
      return make_folder_source(s, stop_fd, delivered);
    case SourceKind::D4Server:
      if (!delivered) throw UsageError("source d4server needs the delivery count of the destination");
      return make_d4server_source(s, stop_fd, delivered);
  }
  throw UsageError("unknown source");
}

}  // namespace d4::client
