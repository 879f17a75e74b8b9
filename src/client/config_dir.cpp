#include "client/config_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "client/options.hpp"

namespace d4::client {

std::string strip_line_end(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string read_whole_file(const std::string& path, std::size_t max_size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw UsageError("cannot open " + path + ": " + std::strerror(errno));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      throw UsageError("cannot read " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_size) {
      ::close(fd);
      throw UsageError(path + " is larger than " + std::to_string(max_size) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

ConfigDir::ConfigDir(std::string dir) : dir_(std::move(dir)) {
  // The Go client trims a trailing separator; keep "/" itself intact.
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0)
    throw UsageError("configuration directory " + dir_ + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw UsageError("configuration directory " + dir_ + " is not a directory");
}

std::string ConfigDir::file(const std::string& name) const {
  return dir_ + "/" + name;
}

bool ConfigDir::exists(const std::string& name) const {
  struct stat st {};
  return ::stat(file(name).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::optional<std::string> ConfigDir::value(const std::string& name) const {
  if (!exists(name)) return std::nullopt;
  std::string v = strip_line_end(read_whole_file(file(name)));
  if (v.empty()) return std::nullopt;
  return v;
}

void ConfigDir::persist_uuid(const protocol::Uuid& uuid) const {
  std::string final_path = file("uuid");
  std::string tmp = final_path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw UsageError("cannot create " + tmp + ": " + std::strerror(errno));
  std::string text = uuid.dashed() + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    if (ok) e = errno;
    ::unlink(tmp.c_str());
    throw UsageError("cannot write " + final_path + ": " + std::strerror(e));
  }
  // Make the rename durable too.
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace d4::client
