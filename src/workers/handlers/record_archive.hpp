#pragma once
// Raw archive of a record stream (types 3, 4, 6, 8 and 254), shared by the record handlers and
// the meta handler.
#include <string>
#include <string_view>

#include "workers/archive_slot.hpp"
#include "workers/session.hpp"

namespace d4::workers {

// Raw archive of a record stream, rotated only at record boundaries so that every file ends with
// a complete record; the concatenation of the files equals the stream byte for byte.
class RecordArchive {
 public:
  RecordArchive(std::string type_part, std::string suffix, bool dnscap)
      : slot_(std::move(type_part), std::move(suffix)), dnscap_(dnscap) {}
  ArchiveSlot& slot() { return slot_; }
  const ArchiveSlot& slot() const { return slot_; }

  void write(std::string_view data, SessionContext& ctx, BatchOutput& out) {
    while (!data.empty()) {
      if (!slot_.is_open()) slot_.open(ctx);
      if (!slot_.rotation_due(ctx, data.size())) {
        slot_.file().write(data);
        return;
      }
      if (at_boundary(data.front())) {
        slot_.close(out);
        continue;
      }
      std::size_t cut = boundary(data);
      if (cut == std::string_view::npos) {  // no boundary yet: the file grows until one comes
        slot_.file().write(data);
        return;
      }
      slot_.file().write(data.substr(0, cut));
      slot_.close(out);
      data.remove_prefix(cut);
    }
  }
  // Rotation without new data: only at a boundary, so the next record starts a new file.
  void idle(SessionContext& ctx, BatchOutput& out) {
    if (slot_.is_open() && slot_.file().last_byte() == '\n' && !dnscap_ && slot_.rotation_due(ctx))
      slot_.close(out);
  }

 private:
  bool at_boundary(char next) const {
    return slot_.file().offset() == 0 || (slot_.file().last_byte() == '\n' && (!dnscap_ || next == '['));
  }
  std::size_t boundary(std::string_view data) const {
    if (!dnscap_) {
      auto nl = data.find('\n');
      return nl == std::string_view::npos ? nl : nl + 1;
    }
    auto p = data.find("\n[");
    return p == std::string_view::npos ? p : p + 1;
  }

  ArchiveSlot slot_;
  bool dnscap_;
};

}  // namespace d4::workers
