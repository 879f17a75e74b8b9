// Type 5 (pcapng): validated block framing, rotated at block boundaries; every file starts with
// the section header and the interface descriptions seen so far. See docs/workers.md, "Types".
#include <fmt/format.h>

#include "workers/archive_slot.hpp"
#include "workers/handlers/registry.hpp"

namespace d4::workers {
namespace {

class PcapngHandler : public SessionHandler {
 public:
  explicit PcapngHandler(const WorkerSettings& s) : blocks_(s.max_pcapng_block), archive_("5", ".pcapng") {}

  int current_stream() const override { return 5; }
  std::vector<int> streams() const override { return {5}; }
  bool failed() const override { return failed_; }
  std::optional<std::string> compressed_file_target() const override { return "5"; }

  void on_entry(int, std::string_view payload, SessionContext& ctx, BatchOutput& out) override {
    if (failed_) return;
    std::string error;
    bool ok = blocks_.feed(payload, [&](std::string_view block, PcapngReassembler::BlockKind kind) {
      using K = PcapngReassembler::BlockKind;
      if (!error.empty()) return;
      if (archive_.is_open() && archive_.rotation_due(ctx, block.size())) archive_.close(out);
      if (!archive_.is_open()) {
        archive_.open(ctx);
        // Every file must be readable alone: it starts with the section header and the
        // interface descriptions seen so far in the section.
        if (kind != K::SectionHeader) archive_.file().write(section_);
      }
      archive_.file().write(block);
      if (kind == K::SectionHeader)
        section_.assign(block);
      else if (kind == K::InterfaceDescription)
        section_.append(block);
      if (section_.size() > kMaxSectionPrefix) error = "pcapng section header and interfaces exceed 1 MiB";
    });
    if (!ok || !error.empty()) {
      failed_ = true;
      out.fatal = Reject{"pcapng-invalid", ok ? error : blocks_.error()};
      out.fatal_text = "Error: Type=5, Incorrect file format";
      archive_.close(out);
    }
  }
  void on_idle(SessionContext& ctx, BatchOutput& out) override {
    if (archive_.is_open() && blocks_.buffered() == 0 && archive_.rotation_due(ctx)) archive_.close(out);
  }
  void on_end(SessionContext&, BatchOutput& out) override {
    if (!failed_ && blocks_.buffered() > 0)
      out.rejects.push_back(
          {"pcapng-truncated",
           fmt::format("session ended inside a pcapng block: {} bytes discarded", blocks_.buffered())});
    archive_.close(out);
  }
  void flush() override { archive_.file().flush(); }
  void save(Fields& f) const override {
    archive_.save(f);
    blocks_.save(f, "pcapng_");
    f["section"] = section_;
    f["failed"] = failed_ ? "1" : "";
  }
  void load(const Fields& f, SessionContext&, BatchOutput& out) override {
    blocks_.load(f, "pcapng_");
    section_ = progress_field(f, "section");
    failed_ = progress_field(f, "failed") == "1";
    archive_.load(f, out);
  }

 private:
  static constexpr std::size_t kMaxSectionPrefix = 1 << 20;
  PcapngReassembler blocks_;
  ArchiveSlot archive_;
  std::string section_;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<SessionHandler> session_handler_pcapng(protocol::PacketType, const WorkerSettings& settings) {
  return std::make_unique<PcapngHandler>(settings);
}

}  // namespace d4::workers
