// Types 2 + 254: the meta header and the extended type's data that follows it in the same session.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "protocol/metaheader.hpp"
#include "workers/extended/extended_type.hpp"
#include "workers/handlers/record_archive.hpp"
#include "workers/handlers/registry.hpp"

namespace d4::workers {
namespace {

// Type 2 + 254: the meta header (stream:2:<session>) announces the extended type of the data
// that follows in stream:254:<session> of the same session.
class MetaHandler : public SessionHandler, private ExtendedContext {
 public:
  explicit MetaHandler(const WorkerSettings& s)
      : settings_(s), archive_("254", ".txt", false), lines_(s.max_record_bytes) {}

  int current_stream() const override { return phase_ == Phase::Header ? 2 : 254; }
  std::vector<int> streams() const override { return {2, 254}; }
  bool failed() const override { return phase_ == Phase::Failed; }

  void on_entry(int stream, std::string_view payload, SessionContext& ctx, BatchOutput& out) override {
    if (phase_ == Phase::Failed) return;
    if (stream == 2) {
      if (phase_ != Phase::Header) return;  // later meta headers are ignored, like the reference
      feed_header(payload, ctx, out);
      return;
    }
    if (phase_ != Phase::Data) return;
    ctx_ = &ctx;
    out_ = &out;
    if (handler_->archives_raw_stream()) archive_.write(payload, ctx, out);
    lines_.feed(
        payload, [&](std::string_view r) { on_record(r); }, [&](std::size_t n) { on_oversized(n); });
  }
  void on_idle(SessionContext& ctx, BatchOutput& out) override {
    if (phase_ == Phase::Data && handler_->archives_raw_stream()) archive_.idle(ctx, out);
  }
  void on_end(SessionContext& ctx, BatchOutput& out) override {
    if (phase_ == Phase::Header && assembler_.received() > 0)
      out.rejects.push_back(
          {"meta-incomplete", fmt::format("session ended before its meta header was complete "
                                          "({} bytes received)",
                                          assembler_.received())});
    if (phase_ == Phase::Data) {
      ctx_ = &ctx;
      out_ = &out;
      lines_.finish([&](std::string_view r) { on_record(r); }, [&](std::size_t n) { on_oversized(n); });
    }
    archive_.slot().close(out);
  }
  void flush() override { archive_.slot().file().flush(); }
  // While the header is incomplete its type-2 entries stay in the stream and are fed again after
  // a restore: the progress saved at each commit stays a few fields, however the header grows.
  bool keeps_entries(int stream) const override { return stream == 2 && phase_ == Phase::Header; }
  void save(Fields& f) const override {
    f["phase"] = std::to_string(static_cast<int>(phase_));
    // "meta_text" (the header text saved at each commit by earlier versions) is left as it is
    // while the header is incomplete: it holds the part of the header trimmed from the stream.
    if (phase_ != Phase::Header) f["meta_text"] = std::string();
    f["meta"] = phase_ == Phase::Data ? meta_.dump() : std::string();
    archive_.slot().save(f);
    lines_.save(f, "lines_");
  }
  void load(const Fields& f, SessionContext&, BatchOutput& out) override {
    auto phase = progress_field(f, "phase");
    phase_ = phase.empty() ? Phase::Header : static_cast<Phase>(std::stoi(phase));
    if (phase_ == Phase::Header) {
      // Progress written by an earlier version; the entries after it are replayed by the runner.
      auto legacy = progress_field(f, "meta_text");
      if (!legacy.empty()) assembler_.feed(legacy);
    } else if (phase_ == Phase::Data) {
      meta_ = nlohmann::json::parse(progress_field(f, "meta"));
      start_data(meta_["type"].get<std::string>());
    }
    lines_.load(f, "lines_");
    archive_.slot().load(f, out);
  }

 private:
  enum class Phase { Header = 0, Data = 1, Failed = 2 };

  void feed_header(std::string_view payload, SessionContext& ctx, BatchOutput& out) {
    auto st = assembler_.feed(payload);
    if (st == protocol::MetaHeaderAssembler::State::Incomplete) return;
    if (st == protocol::MetaHeaderAssembler::State::Error) {
      fail(out, "meta-invalid", assembler_.error(), "Error: Type=2, Incorrect JSON object");
      return;
    }
    const auto& m = assembler_.result();
    if (!ctx.is_accepted_extended_type(m.type)) {
      fail(out, "meta-unsupported-type", "extended type \"" + m.type + "\" is not accepted",
           "Error: Type=2, Unsupported extended_type: " + m.type);
      return;
    }
    meta_ = m.json;
    start_data(m.type);
    sensor_ = ctx.sensor();
    // Reference steps 3, 5, 6: active extended type, meta header saved as JSON, per-sensor record.
    ctx.record_extended_type(ext_, meta_.dump());
    auto now = ctx.now();
    auto dir = day_directory(settings_.archive_root, ctx.sensor(), "254", now, settings_.utc_paths, ext_);
    write_file_once(fresh_file_name(dir, ctx.sensor(), now, settings_.utc_paths, ".json"), meta_.dump());
  }
  void start_data(const std::string& ext) {
    ext_ = ext;
    phase_ = Phase::Data;
    handler_ = make_extended_handler(ext_, meta_);
    archive_.slot().set_subdirectory(ext_);
    lines_ = LineSplitter(handler_->whole_file_records() ? settings_.max_file_record_bytes
                                                         : settings_.max_record_bytes);
  }
  void fail(BatchOutput& out, std::string reason, std::string detail, std::string text) {
    phase_ = Phase::Failed;
    out.fatal = Reject{std::move(reason), std::move(detail)};
    out.fatal_text = std::move(text);
  }
  void on_record(std::string_view record) {
    if (!record.empty()) handler_->on_record(record, *this);
  }
  void on_oversized(std::size_t n) {
    out_->rejects.push_back(
        {"record-oversized", fmt::format("{} record of {} bytes exceeds the limit; dropped", ext_, n)});
  }

  // ExtendedContext
  const std::string& sensor() const override { return ctx_->sensor(); }
  const std::string& extended_type() const override { return ext_; }
  const nlohmann::json& meta_header() const override { return meta_; }
  std::filesystem::path sensor_directory() const override {
    return day_directory(settings_.archive_root, ctx_->sensor(), "254", ctx_->now(), settings_.utc_paths,
                         ext_);
  }
  std::filesystem::path shared_directory() const override { return settings_.archive_root / "datas" / ext_; }
  void push(std::string_view item) override { out_->push(ext_, item); }
  void reject(std::string_view reason, std::string_view detail) override {
    out_->rejects.push_back({std::string(reason), std::string(detail)});
  }

  const WorkerSettings& settings_;
  Phase phase_ = Phase::Header;
  protocol::MetaHeaderAssembler assembler_;
  nlohmann::json meta_;
  std::string ext_;
  std::string sensor_;
  std::unique_ptr<ExtendedTypeHandler> handler_;
  RecordArchive archive_;
  LineSplitter lines_;
  SessionContext* ctx_ = nullptr;
  BatchOutput* out_ = nullptr;
};

}  // namespace

std::unique_ptr<SessionHandler> session_handler_meta(protocol::PacketType, const WorkerSettings& settings) {
  return std::make_unique<MetaHandler>(settings);
}

}  // namespace d4::workers
