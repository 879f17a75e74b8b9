#pragma once
// The configuration directory: one value per file, as in the C and Go clients (uuid, key, snaplen,
// version, type, source, destination, metaheader.json, rootCA.crt, ...).
#include <optional>
#include <string>
#include <string_view>

#include "protocol/uuid.hpp"

namespace d4::client {

// Removes trailing CR and LF characters only (keys may legitimately contain spaces).
std::string strip_line_end(std::string text);

// Reads a whole file (binary). Throws UsageError when it cannot be read or exceeds max_size.
std::string read_whole_file(const std::string& path, std::size_t max_size = 1 << 20);

// Replaces `path` with `content` atomically and durably (temporary file in the same directory,
// fsync, rename, fsync of the directory). Throws UsageError.
void write_file_atomically(const std::string& path, std::string_view content, unsigned mode = 0644);

class ConfigDir {
 public:
  explicit ConfigDir(std::string dir);

  const std::string& path() const { return dir_; }
  std::string file(const std::string& name) const;  // DIR/name
  bool exists(const std::string& name) const;
  // Value of DIR/name without trailing CR/LF; nullopt if the file is missing or empty after
  // stripping. Never creates files.
  std::optional<std::string> value(const std::string& name) const;

  // Writes DIR/uuid atomically (temporary file, mode 0600, fsync, rename). Throws UsageError.
  void persist_uuid(const protocol::Uuid& uuid) const;

 private:
  std::string dir_;
};

}  // namespace d4::client
