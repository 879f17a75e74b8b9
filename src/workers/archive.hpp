#pragma once
// Archive files written by the workers: naming under the reference layout, buffered appends with
// a known committed offset (so a restarted worker can truncate back to it), and compression of
// closed files.
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace d4::workers {

namespace fs = std::filesystem;

enum class Compression { None, Gzip, Zstd };
bool parse_compression(std::string_view text, Compression& out);
std::string_view compression_suffix(Compression c);  // "", ".gz", ".zst"

struct RotationPolicy {
  std::int64_t max_seconds = 300;          // reference: tcpdump -G 300 / 300 s in the line workers
  std::uint64_t max_bytes = 256ull << 20;  // 0: no size limit
  bool rotate_at_midnight = true;          // files never span two day directories
};

// <root>/<sensor>/<type>/YYYY/MM/DD[/<sub>] in local time (or UTC), e.g. root/<uuid>/1/2024/05/01.
fs::path day_directory(const fs::path& root, std::string_view sensor, std::string_view type, std::time_t t,
                       bool utc, std::string_view sub = {});
// As fresh_file_name, and creates the (empty) file atomically so concurrent writers never share it.
fs::path reserve_fresh_file(const fs::path& dir, std::string_view sensor, std::time_t t, bool utc,
                            std::string_view suffix);
// <dir>/<sensor>-YYYY-MM-DD-HHMMSS<suffix>; when that name (or a compressed form of it) is taken,
// -HHMMSS-1, -2... so that a rotation within the same second never overwrites a file.
fs::path fresh_file_name(const fs::path& dir, std::string_view sensor, std::time_t t, bool utc,
                         std::string_view suffix);

// An append-only file with a large user-space buffer. offset() counts buffered bytes too; after
// flush() everything up to offset() is in the kernel (survives a crash of the process).
class ArchiveFile {
 public:
  ArchiveFile() = default;
  ArchiveFile(const ArchiveFile&) = delete;
  ArchiveFile& operator=(const ArchiveFile&) = delete;
  ArchiveFile(ArchiveFile&& o) noexcept;
  ArchiveFile& operator=(ArchiveFile&& o) noexcept;
  ~ArchiveFile();

  void create(const fs::path& path, std::time_t opened_at);  // creates parent directories
  // Crash recovery: reopens `path` and truncates it to `offset`, the last committed size.
  void reopen(const fs::path& path, std::uint64_t offset, std::time_t opened_at);
  void write(const void* data, std::size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void flush();
  void close();  // flush + close

  bool is_open() const { return fd_ >= 0; }
  const fs::path& path() const { return path_; }
  std::uint64_t offset() const { return offset_; }
  std::time_t opened_at() const { return opened_at_; }
  bool rotation_due(const RotationPolicy& p, std::time_t now, bool utc, std::uint64_t next_write = 0) const;
  // Whether the last byte written is '\n' (files of line types end at a record boundary).
  char last_byte() const { return last_byte_; }

 private:
  int fd_ = -1;
  fs::path path_;
  std::uint64_t offset_ = 0;
  std::time_t opened_at_ = 0;
  char last_byte_ = '\n';
  std::vector<char> buffer_;
  // Start of the day after opened_at_ (computed once: localtime per record is costly).
  mutable std::time_t day_end_ = 0;
};

// Compresses `path` to `path<suffix>` (through a temporary file renamed at the end, then removes
// `path`). Idempotent: if `path` is gone and the compressed file exists, it only returns its
// name, so an interrupted compression can simply be redone. With Compression::None returns path.
fs::path compress_file(const fs::path& path, Compression c, int level);

// Writes `data` to `path` atomically (temporary file + rename) unless it already exists;
// content-addressed files (names from a hash) make this idempotent.
void write_file_once(const fs::path& path, std::string_view data);

}  // namespace d4::workers
