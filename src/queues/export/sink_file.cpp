// file:PATH: elements appended to a file.
#include "queues/export/sink_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace d4::queues {
namespace {

using namespace sink_io;

class FileSink : public Sink {
 public:
  FileSink(std::string path, SinkOptions o) : path_(std::move(path)), o_(std::move(o)) {}
  ~FileSink() override { close(); }
  void connect() override {
    if (fd_ >= 0) return;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw SinkError("cannot open " + path_ + ": " + errno_text());
  }
  void send(std::string_view e) override {
    auto p = payload(e, o_);
    std::string_view v = p;
    while (!v.empty()) {
      ssize_t n = ::write(fd_, v.data(), v.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw SinkError("write " + path_ + ": " + errno_text());
      }
      v.remove_prefix(static_cast<std::size_t>(n));
    }
    count_sent(p.size());
  }
  void close() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string describe() const override { return "file:" + path_; }

 private:
  std::string path_;
  SinkOptions o_;
  int fd_ = -1;
};

}  // namespace

std::unique_ptr<Sink> sink_file(std::string_view, const std::string& address, const SinkOptions& options) {
  return std::make_unique<FileSink>(address, options);
}

}  // namespace d4::queues
