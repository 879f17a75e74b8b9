// Type 7: the session stream is a sequence of IPFIX messages (what `yaf --out -` writes). The
// handler frames the messages across D4 packets, archives them rotated at message boundaries
// (each file starts with the templates known so far, so it decodes alone), decodes them and
// queues one JSON object per data record, and the compressed archive paths as for type 1.
// Saved state: the archive slot, the incomplete message and the template table (only when it
// changed, since it can be far larger than the rest of the progress).

#include <fmt/format.h>

#include "workers/archive_slot.hpp"
#include "workers/handlers/registry.hpp"
#include "workers/ipfix/decoder.hpp"
#include "workers/ipfix/record_json.hpp"

namespace d4::workers::ipfix {
namespace {

const std::string kTarget = "7";

class IpfixHandler : public SessionHandler, private RecordSink {
 public:
  explicit IpfixHandler(const WorkerSettings& s)
      : settings_(s),
        decoder_(s.ipfix.model ? s.ipfix.model : InformationModel::standard(),
                 TemplateLimits{s.ipfix.max_templates, s.ipfix.max_template_bytes}),
        renderer_(decoder_.templates(), decoder_.model()),
        archive_(kTarget, ".ipfix") {}

  int current_stream() const override { return 7; }
  std::vector<int> streams() const override { return {7}; }
  bool failed() const override { return failed_; }
  std::optional<std::string> compressed_file_target() const override {
    return settings_.ipfix.queue_files ? std::optional<std::string>(kTarget) : std::nullopt;
  }

  void on_entry(int, std::string_view payload, SessionContext& ctx, BatchOutput& out) override {
    if (failed_) return;
    ctx_ = &ctx;
    out_ = &out;
    if (!framer_.feed(payload, [&](std::string_view message) { on_message(message); })) {
      failed_ = true;
      out.fatal = Reject{"ipfix-invalid", framer_.error()};
      out.fatal_text = "Error: Type=7, Incorrect file format";
      archive_.close(out);
    }
  }
  void on_idle(SessionContext& ctx, BatchOutput& out) override {
    if (archive_.is_open() && framer_.buffered() == 0 && archive_.rotation_due(ctx)) archive_.close(out);
  }
  void on_end(SessionContext&, BatchOutput& out) override {
    if (!failed_ && framer_.buffered() > 0)
      out.rejects.push_back({"ipfix-truncated", fmt::format("session ended inside an IPFIX message: {} bytes "
                                                            "discarded",
                                                            framer_.buffered())});
    archive_.close(out);
  }
  void flush() override { archive_.file().flush(); }
  void save(Fields& f) const override {
    archive_.save(f);
    framer_.save(f, "ipfix_");
    f["failed"] = failed_ ? "1" : "";
    // A failed commit makes the runner forget this handler, so "saved" means "committed" here.
    if (decoder_.templates().version() != saved_version_) {
      f["ipfix_templates"] = decoder_.templates().serialize();
      saved_version_ = decoder_.templates().version();
    }
  }
  void load(const Fields& f, SessionContext&, BatchOutput& out) override {
    framer_.load(f, "ipfix_");
    decoder_.templates().deserialize(progress_field(f, "ipfix_templates"), decoder_.model());
    saved_version_ = decoder_.templates().version();
    failed_ = progress_field(f, "failed") == "1";
    archive_.load(f, out);
  }

 private:
  void on_message(std::string_view message) {
    auto h = MessageHeader::parse(message.data());
    if (archive_.is_open() && archive_.rotation_due(*ctx_, message.size())) archive_.close(*out_);
    if (!archive_.is_open()) {
      archive_.open(*ctx_);
      archive_.file().write(decoder_.templates().announcement(h.export_time, h.sequence));
    }
    archive_.file().write(message);
    decoder_.decode(message, *this);
  }
  void on_record(const MessageHeader& h, const Template& t, std::string_view record) override {
    if (!settings_.ipfix.queue_records) return;
    std::string json;
    json.reserve(256);
    renderer_.render(json, ctx_->sensor(), h, t, record);
    if (json.size() > settings_.max_record_bytes) {
      on_issue("record-oversized", fmt::format("domain {} template {}: JSON record of {} bytes exceeds "
                                               "max_record_bytes {}; dropped",
                                               h.domain, t.id, json.size(), settings_.max_record_bytes));
      return;
    }
    out_->items[kTarget].push_back(std::move(json));
  }
  void on_issue(std::string_view reason, std::string detail) override {
    out_->rejects.push_back({std::string(reason), std::move(detail)});
  }

  const WorkerSettings& settings_;
  MessageFramer framer_;
  MessageDecoder decoder_;
  RecordRenderer renderer_;
  ArchiveSlot archive_;
  bool failed_ = false;
  mutable std::uint64_t saved_version_ = 0;
  SessionContext* ctx_ = nullptr;
  BatchOutput* out_ = nullptr;
};

}  // namespace

}  // namespace d4::workers::ipfix

namespace d4::workers {

std::unique_ptr<SessionHandler> session_handler_ipfix(protocol::PacketType, const WorkerSettings& settings) {
  return std::make_unique<ipfix::IpfixHandler>(settings);
}

}  // namespace d4::workers
