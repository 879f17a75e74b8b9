#pragma once
// What a worker does with one session: a SessionHandler per session rebuilds the data of its
// type from the stream entries, writes archives and produces queue items. The runner (runner.hpp)
// feeds it entries, commits its output together with its saved state, and restores it after a
// restart, so handlers never talk to Redis for their data path.
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workers/archive.hpp"
#include "workers/records.hpp"

namespace d4::workers {

namespace ipfix {
class InformationModel;
}

// Type 7 (IPFIX, e.g. from YAF): the template budget of a session and what its queues receive.
struct IpfixSettings {
  std::size_t max_templates = 4096;          // templates + options templates, all domains of a session
  std::size_t max_template_bytes = 1 << 20;  // their definitions' total size
  bool queue_records = true;                 // one JSON object per data record
  bool queue_files = true;                   // the path of each compressed archive, as for type 1
  std::shared_ptr<const ipfix::InformationModel> model;  // element names; nullptr: the default registries
};

struct WorkerSettings {
  fs::path archive_root = "d4-data/archive";  // <root>/<sensor>/<type>/YYYY/MM/DD/...
  bool utc_paths = false;                     // reference: server local time in paths
  RotationPolicy rotation;
  Compression compression = Compression::Gzip;
  int compression_level = 6;
  std::size_t max_record_bytes = 1 << 20;        // line types, dnscap blocks, 254 lines
  std::size_t max_file_record_bytes = 64 << 20;  // filewatcher: one line is a whole base64 file
  std::uint32_t max_pcap_snaplen = 1 << 20;      // larger declared snaplens are rejected
  std::uint32_t max_pcapng_block = 16 << 20;
  IpfixSettings ipfix;
};

// A rejected piece of data: counted per sensor and reason, and listed in the sensor's errors.
struct Reject {
  std::string reason;  // short machine code, e.g. "pcap-invalid", "record-oversized"
  std::string detail;  // human explanation
};

// The output of processing a batch of entries; committed atomically with the handler's state.
struct BatchOutput {
  std::map<std::string, std::vector<std::string>> items;  // queue target ("8", "ja3-jl") -> items
  std::vector<fs::path> closed_files;                     // archives to compress
  std::vector<Reject> rejects;
  std::optional<Reject> fatal;  // the stream is broken: the server must close the session
  std::string fatal_text;       // reference text for metadata_uuid:<uuid> Error

  void push(const std::string& target, std::string_view item) {
    if (!item.empty()) items[target].emplace_back(item);
  }
  bool empty() const { return items.empty() && closed_files.empty() && rejects.empty() && !fatal; }
};

// Services of the runner that handlers may use.
class SessionContext {
 public:
  virtual ~SessionContext() = default;
  virtual const WorkerSettings& settings() const = 0;
  virtual const std::string& session() const = 0;
  virtual const std::string& sensor() const = 0;  // dashless sensor id
  virtual std::time_t now() const = 0;
  virtual bool is_accepted_extended_type(const std::string& ext) = 0;
  // Records a session's extended type as the reference worker does (active extended types,
  // session map, per-sensor first/last seen), and keeps the sensor's latest meta header of that
  // type (its tags and organisation travel into the MISP feed).
  virtual void record_extended_type(const std::string& ext, const std::string& meta_header_json) = 0;
};

class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  // The stream of the session to read next (type 2 sessions: 2, then 254).
  virtual int current_stream() const = 0;
  // Streams owned by the session, deleted when it ends.
  virtual std::vector<int> streams() const = 0;
  virtual void on_entry(int stream_type, std::string_view payload, SessionContext& ctx, BatchOutput& out) = 0;
  // Called when no data arrived for a while: time-based rotation of idle archives.
  virtual void on_idle(SessionContext& ctx, BatchOutput& out) = 0;
  // The session ended and every entry was processed.
  virtual void on_end(SessionContext& ctx, BatchOutput& out) = 0;
  // Writes buffered archive data to the kernel before a commit records its size.
  virtual void flush() = 0;
  virtual void save(Fields& f) const = 0;
  virtual void load(const Fields& f, SessionContext& ctx, BatchOutput& out) = 0;
  // Queue target that receives the paths of compressed archives (types 1 and 5), if any.
  virtual std::optional<std::string> compressed_file_target() const { return std::nullopt; }
  // After a fatal error the handler ignores further data.
  virtual bool failed() const = 0;
  // Entries of `stream` that the runner must not trim after a commit: it feeds them through
  // on_entry again after load(), instead of the handler saving what it built from them.
  virtual bool keeps_entries(int /*stream*/) const { return false; }
};

}  // namespace d4::workers
