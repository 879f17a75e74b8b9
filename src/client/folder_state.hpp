#pragma once
// The folder source's state file: which files of the watched folder were delivered whole (every
// byte acknowledged by the destination), so that a restart with --folder-existing sends the files
// already there without sending these again.
//
// A file is identified by its path relative to the folder, its size and its modification time
// (nanoseconds): a file rewritten after it was sent is a different file and is sent again.
// Format (text, one entry per line, later lines win): a first line "d4-client folder state 1",
// then "<mtime_ns> <size> <path>" with '%', '\n' and '\r' in the path written as %25, %0A, %0D.
// Entries are appended as deliveries are acknowledged (one write(2) each, so a killed process
// keeps them; fdatasync at most once a second and at close), and the file is rewritten without
// the entries of files that are gone (atomically: temporary file, fsync, rename) when it is
// opened and whenever appended lines outnumber the live entries by more than 1024.
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace d4::client {

struct FolderFileId {
  std::string path;  // relative to the watched folder's root
  std::int64_t mtime_ns = 0;
  std::uint64_t size = 0;
  friend bool operator==(const FolderFileId&, const FolderFileId&) = default;
};

class FolderState {
 public:
  // Loads `file` (missing: empty state, created on the first record). Throws UsageError when it
  // cannot be read or is not a state file.
  explicit FolderState(std::string file);
  ~FolderState();
  FolderState(const FolderState&) = delete;
  FolderState& operator=(const FolderState&) = delete;

  bool delivered(const FolderFileId& id) const;
  // Records a delivered file. Errors are logged (the file would be sent again after a restart).
  void record(const FolderFileId& id);
  // Rewrites the file with only the entries `keep` accepts; false (logged) when it cannot.
  bool compact(const std::function<bool(const FolderFileId&)>& keep);
  std::size_t size() const { return entries_.size(); }
  const std::string& file() const { return file_; }

 private:
  void open_for_append();
  void sync_if_due(bool force);

  std::string file_;
  std::map<std::string, FolderFileId> entries_;  // by path
  std::size_t appended_ = 0;                     // lines appended since the last rewrite
  int fd_ = -1;
  std::int64_t last_sync_ms_ = 0;
  bool dirty_ = false;
};

}  // namespace d4::client
