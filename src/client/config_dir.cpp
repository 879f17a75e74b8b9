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
  if (fd < 0) throw ConfigError("cannot open " + path + ": " + std::strerror(errno));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      throw ConfigError("cannot read " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_size) {
      ::close(fd);
      throw ConfigError(path + " is larger than " + std::to_string(max_size) + " bytes");
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
    throw ConfigError("configuration directory " + dir_ + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw ConfigError("configuration directory " + dir_ + " is not a directory");
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

void write_file_atomically(const std::string& path, std::string_view content, unsigned mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw ConfigError("cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = true;
  for (std::size_t off = 0; ok && off < content.size();) {
    ssize_t w = ::write(fd, content.data() + off, content.size() - off);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) off += static_cast<std::size_t>(w);
  }
  ok = ok && ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) e = errno;
    ::unlink(tmp.c_str());
    throw ConfigError("cannot write " + path + ": " + std::strerror(e));
  }
  // Make the rename durable too.
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void ConfigDir::persist_uuid(const protocol::Uuid& uuid) const {
  write_file_atomically(file("uuid"), uuid.dashed() + "\n", 0600);
}

}  // namespace d4::client
