// filewatcherjson: each line is a JSON document; stored under the sensor's day directory by the
// SHA-256 of its text, and the file's path is queued.
#include "workers/archive.hpp"
#include "workers/extended/extended_type.hpp"

namespace d4::workers {
namespace {

class FileWatcherJsonHandler : public ExtendedTypeHandler {
 public:
  explicit FileWatcherJsonHandler(const nlohmann::json&) {}
  void on_record(std::string_view record, ExtendedContext& ctx) override {
    if (record.empty()) return;
    auto path = ctx.sensor_directory() / "files" / (sha256_hex(record) + ".json");
    write_file_once(path, record);
    ctx.push(path.string());
  }
  bool whole_file_records() const override { return true; }
};

}  // namespace
}  // namespace d4::workers

D4_REGISTER_EXTENDED_TYPE("filewatcherjson", d4::workers::FileWatcherJsonHandler)
