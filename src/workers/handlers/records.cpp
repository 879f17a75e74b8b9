// Types 3 (log lines), 4 (dnscap), 6 (NDJSON) and 8 (passive DNS): records split across packets,
// each queued; the raw stream archived and rotated at record boundaries. See docs/workers.md.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "workers/handlers/record_archive.hpp"
#include "workers/handlers/registry.hpp"

namespace d4::workers {
namespace {

class RecordHandler : public SessionHandler {
 public:
  RecordHandler(int type, const WorkerSettings& s)
      : type_(type),
        target_(std::to_string(type)),
        archive_(target_, suffix(type), type == 4),
        lines_(s.max_record_bytes),
        dnscap_(s.max_record_bytes),
        max_record_(s.max_record_bytes) {}

  static std::string suffix(int type) {
    switch (type) {
      case 3:
        return ".syslog.txt";
      case 4:
        return ".dnscap.txt";
      case 6:
        return ".ndjson";
      case 8:
        return ".passivedns.txt";
      default:
        return ".txt";
    }
  }

  int current_stream() const override { return type_; }
  std::vector<int> streams() const override { return {type_}; }
  bool failed() const override { return false; }

  void on_entry(int, std::string_view payload, SessionContext& ctx, BatchOutput& out) override {
    archive_.write(payload, ctx, out);
    auto emit = [&](std::string_view r) { on_record(out, r); };
    auto over = [&](std::size_t n) { on_oversized(out, n); };
    if (type_ == 4)
      dnscap_.feed(payload, emit, over);
    else
      lines_.feed(payload, emit, over);
  }
  void on_idle(SessionContext& ctx, BatchOutput& out) override { archive_.idle(ctx, out); }
  void on_end(SessionContext&, BatchOutput& out) override {
    auto emit = [&](std::string_view r) { on_record(out, r); };
    auto over = [&](std::size_t n) { on_oversized(out, n); };
    if (type_ == 4)
      dnscap_.finish(emit, over);
    else
      lines_.finish(emit, over);
    archive_.slot().close(out);
  }
  void flush() override { archive_.slot().file().flush(); }
  void save(Fields& f) const override {
    archive_.slot().save(f);
    lines_.save(f, "lines_");
    dnscap_.save(f, "dnscap_");
  }
  void load(const Fields& f, SessionContext&, BatchOutput& out) override {
    lines_.load(f, "lines_");
    dnscap_.load(f, "dnscap_");
    archive_.slot().load(f, out);
  }

 private:
  void on_record(BatchOutput& out, std::string_view record) {
    if (record.empty()) return;
    if (type_ == 6 && !nlohmann::json::accept(record)) {
      // Archived with the stream, but not handed to analyzers that expect JSON.
      out.rejects.push_back({"ndjson-invalid", fmt::format("line of {} bytes is not valid JSON: {}",
                                                           record.size(), record.substr(0, 80))});
      return;
    }
    out.push(target_, record);
  }
  void on_oversized(BatchOutput& out, std::size_t n) {
    out.rejects.push_back({"record-oversized", fmt::format("record of {} bytes exceeds max_record_bytes {}; "
                                                           "dropped, resynchronised at the next record",
                                                           n, max_record_)});
  }

  int type_;
  std::string target_;
  RecordArchive archive_;
  LineSplitter lines_;
  DnscapSplitter dnscap_;
  std::size_t max_record_;
};

}  // namespace

std::unique_ptr<SessionHandler> session_handler_records(protocol::PacketType type,
                                                        const WorkerSettings& settings) {
  return std::make_unique<RecordHandler>(static_cast<int>(type), settings);
}

}  // namespace d4::workers
