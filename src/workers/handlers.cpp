// Session handlers per D4 type: 1 (pcap), 5 (pcapng), 3/4/6/8 (records), 2+254 (meta header and
// extended types); 7 (IPFIX) is in ipfix/handler.cpp.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "protocol/metaheader.hpp"
#include "workers/archive_slot.hpp"
#include "workers/extended/extended_type.hpp"
#include "workers/ipfix/handler.hpp"
#include "workers/session.hpp"

namespace d4::workers {
namespace {

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
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

bool has_session_handler(int type) {
  return type >= 1 && type <= 8;
}

std::unique_ptr<SessionHandler> make_session_handler(int type, const WorkerSettings& settings) {
  switch (type) {
    case 1:
      return std::make_unique<PcapHandler>(settings);
    case 2:
      return std::make_unique<MetaHandler>(settings);
    case 5:
      return std::make_unique<PcapngHandler>(settings);
    case 7:
      return ipfix::make_session_handler(settings);
    case 3:
    case 4:
    case 6:
    case 8:
      return std::make_unique<RecordHandler>(type, settings);
    default:
      return nullptr;
  }
}

}  // namespace d4::workers
