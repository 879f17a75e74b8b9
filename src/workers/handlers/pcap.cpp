// Type 1 (pcap): one libpcap stream per session, validated record by record and archived in
// rotated files that each start with the global header. See docs/workers.md, "Types".
#include <fmt/format.h>

#include "workers/archive_slot.hpp"
#include "workers/handlers/registry.hpp"

namespace d4::workers {
namespace {

class PcapHandler : public SessionHandler {
 public:
  explicit PcapHandler(const WorkerSettings& s) : pcap_(s.max_pcap_snaplen), archive_("1", ".cap") {}

  int current_stream() const override { return 1; }
  std::vector<int> streams() const override { return {1}; }
  bool failed() const override { return failed_; }
  std::optional<std::string> compressed_file_target() const override { return "1"; }

  void on_entry(int, std::string_view payload, SessionContext& ctx, BatchOutput& out) override {
    if (failed_) return;
    bool ok = pcap_.feed(
        payload, [](std::string_view) {},
        [&](std::string_view record) {
          if (archive_.is_open() && archive_.rotation_due(ctx, record.size())) archive_.close(out);
          if (!archive_.is_open()) {
            archive_.open(ctx);
            archive_.file().write(pcap_.global_header());
          }
          archive_.file().write(record);
        });
    if (!ok) {
      failed_ = true;
      out.fatal = Reject{"pcap-invalid", pcap_.error()};
      out.fatal_text = "Error: Type=1, Incorrect file format";
      archive_.close(out);
    }
  }
  void on_idle(SessionContext& ctx, BatchOutput& out) override {
    if (archive_.is_open() && pcap_.buffered() == 0 && archive_.rotation_due(ctx)) archive_.close(out);
  }
  void on_end(SessionContext&, BatchOutput& out) override {
    if (!failed_ && pcap_.buffered() > 0)
      out.rejects.push_back(
          {"pcap-truncated",
           fmt::format("session ended inside a libpcap {}: {} bytes discarded",
                       pcap_.has_global_header() ? "record" : "global header", pcap_.buffered())});
    archive_.close(out);
  }
  void flush() override { archive_.file().flush(); }
  void save(Fields& f) const override {
    archive_.save(f);
    pcap_.save(f, "pcap_");
    f["failed"] = failed_ ? "1" : "";
  }
  void load(const Fields& f, SessionContext&, BatchOutput& out) override {
    pcap_.load(f, "pcap_");
    failed_ = progress_field(f, "failed") == "1";
    archive_.load(f, out);
  }

 private:
  PcapReassembler pcap_;
  ArchiveSlot archive_;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<SessionHandler> session_handler_pcap(protocol::PacketType, const WorkerSettings& settings) {
  return std::make_unique<PcapHandler>(settings);
}

}  // namespace d4::workers
