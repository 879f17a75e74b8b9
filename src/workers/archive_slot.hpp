#pragma once
// The archive file a session handler is currently writing, persisted in the session progress
// (path, committed size, opening time) so that a restarted worker reopens and truncates it.
#include <fmt/format.h>

#include <string>

#include "workers/session.hpp"

namespace d4::workers {

inline std::string progress_field(const Fields& f, const std::string& k) {
  auto it = f.find(k);
  return it == f.end() ? std::string() : it->second;
}

class ArchiveSlot {
 public:
  ArchiveSlot(std::string type_part, std::string suffix)
      : type_part_(std::move(type_part)), suffix_(std::move(suffix)) {}
  void set_subdirectory(std::string sub) { sub_ = std::move(sub); }

  ArchiveFile& file() { return file_; }
  const ArchiveFile& file() const { return file_; }
  bool is_open() const { return file_.is_open(); }

  void open(SessionContext& ctx) {
    const auto& s = ctx.settings();
    auto now = ctx.now();
    auto dir = day_directory(s.archive_root, ctx.sensor(), type_part_, now, s.utc_paths, sub_);
    file_.create(reserve_fresh_file(dir, ctx.sensor(), now, s.utc_paths, suffix_), now);
  }
  void close(BatchOutput& out) {
    if (!file_.is_open()) return;
    auto path = file_.path();
    bool empty = file_.offset() == 0;
    file_.close();
    if (empty) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    } else {
      out.closed_files.push_back(path);
    }
  }
  bool rotation_due(SessionContext& ctx, std::uint64_t next_write = 0) const {
    return file_.rotation_due(ctx.settings().rotation, ctx.now(), ctx.settings().utc_paths, next_write);
  }
  void save(Fields& f) const {
    f["file"] = file_.is_open() ? file_.path().string() : std::string();
    f["file_offset"] = std::to_string(file_.offset());
    f["file_opened"] = std::to_string(file_.opened_at());
  }
  void load(const Fields& f, BatchOutput& out) {
    std::string path = progress_field(f, "file");
    if (path.empty()) return;
    auto offset = std::stoull(progress_field(f, "file_offset"));
    auto opened = static_cast<std::time_t>(std::stoll(progress_field(f, "file_opened")));
    try {
      file_.reopen(path, offset, opened);
    } catch (const std::exception& e) {
      // The file vanished or shrank (deleted by hand, disk restored...): start a new file.
      out.rejects.push_back({"archive-lost", fmt::format("cannot resume archive: {}", e.what())});
    }
  }

 private:
  std::string type_part_, suffix_, sub_;
  ArchiveFile file_;
};

}  // namespace d4::workers
