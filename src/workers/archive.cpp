#include "workers/archive.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <fmt/format.h>

namespace d4::workers {
namespace {

constexpr std::size_t kWriteBuffer = 1 << 20;

std::tm broken_down(std::time_t t, bool utc) {
  std::tm tm{};
  if (utc)
    gmtime_r(&t, &tm);
  else
    localtime_r(&t, &tm);
  return tm;
}

[[noreturn]] void throw_errno(const std::string& what, const fs::path& p) {
  throw std::system_error(errno, std::generic_category(), what + " " + p.string());
}

void write_all(int fd, const char* p, std::size_t n, const fs::path& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", path);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

bool parse_compression(std::string_view text, Compression& out) {
  if (text == "gzip" || text == "gz")
    out = Compression::Gzip;
  else if (text == "zstd" || text == "zst")
    out = Compression::Zstd;
  else if (text == "none")
    out = Compression::None;
  else
    return false;
  return true;
}

std::string_view compression_suffix(Compression c) {
  switch (c) {
    case Compression::Gzip:
      return ".gz";
    case Compression::Zstd:
      return ".zst";
    case Compression::None:
      return "";
  }
  return "";
}

fs::path day_directory(const fs::path& root, std::string_view sensor, std::string_view type, std::time_t t,
                       bool utc, std::string_view sub) {
  std::tm tm = broken_down(t, utc);
  fs::path p = root / std::string(sensor) / std::string(type) / fmt::format("{:04}", tm.tm_year + 1900) /
               fmt::format("{:02}", tm.tm_mon + 1) / fmt::format("{:02}", tm.tm_mday);
  if (!sub.empty()) p /= std::string(sub);
  return p;
}

fs::path fresh_file_name(const fs::path& dir, std::string_view sensor, std::time_t t, bool utc,
                         std::string_view suffix) {
  std::tm tm = broken_down(t, utc);
  std::string stem = fmt::format("{}-{:04}-{:02}-{:02}-{:02}{:02}{:02}", sensor, tm.tm_year + 1900,
                                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  auto taken = [&](const std::string& name) {
    for (std::string_view s : {"", ".gz", ".zst"}) {
      std::error_code ec;
      if (fs::exists(dir / (name + std::string(s)), ec)) return true;
    }
    return false;
  };
  std::string name = stem + std::string(suffix);
  for (int i = 1; taken(name); ++i) name = fmt::format("{}-{}{}", stem, i, suffix);
  return dir / name;
}

fs::path reserve_fresh_file(const fs::path& dir, std::string_view sensor, std::time_t t, bool utc,
                            std::string_view suffix) {
  fs::create_directories(dir);
  // Two sessions of one sensor (in this process or another worker) may start in the same second:
  // the name is claimed with O_EXCL so that neither can truncate the other's archive.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    fs::path p = fresh_file_name(dir, sensor, t, utc, suffix);
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      return p;
    }
    if (errno != EEXIST) throw_errno("cannot create", p);
  }
  throw std::runtime_error("cannot find a free archive file name in " + dir.string());
}

ArchiveFile::ArchiveFile(ArchiveFile&& o) noexcept {
  *this = std::move(o);
}

ArchiveFile& ArchiveFile::operator=(ArchiveFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    offset_ = o.offset_;
    opened_at_ = o.opened_at_;
    last_byte_ = o.last_byte_;
    buffer_ = std::move(o.buffer_);
    day_end_ = o.day_end_;
    o.fd_ = -1;
  }
  return *this;
}

ArchiveFile::~ArchiveFile() {
  if (fd_ >= 0) {
    try {
      flush();
    } catch (...) {
    }
    ::close(fd_);
  }
}

void ArchiveFile::create(const fs::path& path, std::time_t opened_at) {
  close();
  fs::create_directories(path.parent_path());
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_errno("cannot create", path);
  path_ = path;
  offset_ = 0;
  opened_at_ = opened_at;
  day_end_ = 0;
  last_byte_ = '\n';
  buffer_.reserve(kWriteBuffer);
}

void ArchiveFile::reopen(const fs::path& path, std::uint64_t offset, std::time_t opened_at) {
  close();
  fs::create_directories(path.parent_path());
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_errno("cannot reopen", path);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_errno("stat", path);
  if (static_cast<std::uint64_t>(st.st_size) < offset)
    throw std::runtime_error(fmt::format("archive {} is shorter ({} bytes) than its committed size {}",
                                         path.string(), st.st_size, offset));
  if (::ftruncate(fd_, static_cast<off_t>(offset)) != 0) throw_errno("truncate", path);
  last_byte_ = '\n';
  if (offset > 0) {
    char c = 0;
    if (::pread(fd_, &c, 1, static_cast<off_t>(offset - 1)) == 1) last_byte_ = c;
  }
  if (::lseek(fd_, 0, SEEK_END) < 0) throw_errno("seek", path);
  path_ = path;
  offset_ = offset;
  opened_at_ = opened_at;
  day_end_ = 0;
  buffer_.reserve(kWriteBuffer);
}

void ArchiveFile::write(const void* data, std::size_t n) {
  if (n == 0) return;
  const char* p = static_cast<const char*>(data);
  if (buffer_.size() + n > kWriteBuffer) {
    flush();
    if (n >= kWriteBuffer) {
      write_all(fd_, p, n, path_);
      offset_ += n;
      last_byte_ = p[n - 1];
      return;
    }
  }
  buffer_.insert(buffer_.end(), p, p + n);
  offset_ += n;
  last_byte_ = p[n - 1];
}

void ArchiveFile::flush() {
  if (fd_ < 0 || buffer_.empty()) return;
  write_all(fd_, buffer_.data(), buffer_.size(), path_);
  buffer_.clear();
}

void ArchiveFile::close() {
  if (fd_ < 0) return;
  flush();
  ::close(fd_);
  fd_ = -1;
}

bool ArchiveFile::rotation_due(const RotationPolicy& p, std::time_t now, bool utc,
                               std::uint64_t next_write) const {
  if (fd_ < 0) return false;
  if (p.max_seconds > 0 && now - opened_at_ >= p.max_seconds) return true;
  if (p.max_bytes > 0 && offset_ > 0 && offset_ + next_write > p.max_bytes) return true;
  if (p.rotate_at_midnight) {
    if (day_end_ == 0) {
      std::tm tm = broken_down(opened_at_, utc);
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      tm.tm_mday += 1;
      tm.tm_isdst = -1;
      day_end_ = utc ? timegm(&tm) : mktime(&tm);
    }
    if (now >= day_end_) return true;
  }
  return false;
}

fs::path compress_file(const fs::path& path, Compression c, int level) {
  if (c == Compression::None) return path;
  fs::path out = path;
  out += std::string(compression_suffix(c));
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (fs::exists(out, ec)) return out;  // done before an interruption
    throw std::runtime_error("nothing to compress: " + path.string() + " is missing");
  }
  // A per-thread temporary name: two processes may redo the same compression after a lease
  // changed hands; both produce the same bytes and the renames are atomic.
  fs::path tmp = out;
  tmp += fmt::format(".part.{}.{}", ::getpid(), std::hash<std::thread::id>{}(std::this_thread::get_id()));
  Fd in;
  in.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) throw_errno("open", path);
  Fd dst;
  dst.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (dst.fd < 0) throw_errno("create", tmp);
  std::vector<char> ibuf(1 << 20), obuf(1 << 20);

  auto read_some = [&](std::size_t& got) {
    for (;;) {
      ssize_t r = ::read(in.fd, ibuf.data(), ibuf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw_errno("read", path);
      got = static_cast<std::size_t>(r);
      return;
    }
  };

  if (c == Compression::Gzip) {
    z_stream zs{};
    // windowBits 15 + 16: gzip wrapper, readable by gzip/zcat/tcpdump -r via zcat.
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::runtime_error("deflateInit2 failed");
    struct Guard {
      z_stream* z;
      ~Guard() { deflateEnd(z); }
    } guard{&zs};
    int flush = Z_NO_FLUSH;
    do {
      std::size_t got = 0;
      read_some(got);
      flush = got == 0 ? Z_FINISH : Z_NO_FLUSH;
      zs.next_in = reinterpret_cast<Bytef*>(ibuf.data());
      zs.avail_in = static_cast<uInt>(got);
      do {
        zs.next_out = reinterpret_cast<Bytef*>(obuf.data());
        zs.avail_out = static_cast<uInt>(obuf.size());
        int rc = deflate(&zs, flush);
        if (rc == Z_STREAM_ERROR) throw std::runtime_error("deflate failed for " + path.string());
        write_all(dst.fd, obuf.data(), obuf.size() - zs.avail_out, tmp);
      } while (zs.avail_out == 0);
    } while (flush != Z_FINISH);
  } else {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    if (!cctx) throw std::runtime_error("ZSTD_createCCtx failed");
    struct Guard {
      ZSTD_CCtx* c;
      ~Guard() { ZSTD_freeCCtx(c); }
    } guard{cctx};
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    bool last = false;
    do {
      std::size_t got = 0;
      read_some(got);
      last = got == 0;
      ZSTD_inBuffer zin{ibuf.data(), got, 0};
      bool finished = false;
      do {
        ZSTD_outBuffer zout{obuf.data(), obuf.size(), 0};
        std::size_t rem = ZSTD_compressStream2(cctx, &zout, &zin, last ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(rem)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(rem));
        write_all(dst.fd, obuf.data(), zout.pos, tmp);
        finished = last ? rem == 0 : zin.pos == zin.size;
      } while (!finished);
    } while (!last);
  }
  if (::fsync(dst.fd) != 0) throw_errno("fsync", tmp);
  fs::rename(tmp, out);
  fs::remove(path);
  return out;
}

void write_file_once(const fs::path& path, std::string_view data) {
  std::error_code ec;
  if (fs::exists(path, ec)) return;
  fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += ".part";
  {
    Fd f;
    f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f.fd < 0) throw_errno("create", tmp);
    write_all(f.fd, data.data(), data.size(), tmp);
  }
  fs::rename(tmp, path);
}

}  // namespace d4::workers
