// filewatcher (the Go client's folder source): each line is one whole file in base64. The file is
// stored as <sha256>.<extension> (optionally gzip-compressed) under the sensor's day directory
// (segregate, the default) or the shared directory, and its path is queued.
// Meta header options: "compress" (bool), "extension" (string), "segregate" (bool). The extension
// comes from the sensor, so it must be 1..16 letters or digits; anything else is ignored and
// reported instead of being appended to a path (the reference allowed "../" there).
#include <zlib.h>

#include <algorithm>
#include <cctype>

#include "workers/archive.hpp"
#include "workers/extended/extended_type.hpp"

namespace d4::workers {
namespace {

std::string gzip_bytes(std::string_view in) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(zs.total_out);
  return out;
}

class FileWatcherHandler : public ExtendedTypeHandler {
 public:
  explicit FileWatcherHandler(const nlohmann::json& meta) {
    // Options come from the sensor: a value of the wrong JSON type (e.g. "compress": "yes") is
    // reported and the default used, instead of throwing for every record of the session.
    compress_ = bool_option(meta, "compress", false);
    segregate_ = bool_option(meta, "segregate", true);
    if (meta.contains("extension")) {
      const auto& e = meta["extension"];
      std::string ext = e.is_string() ? e.get<std::string>() : std::string("?");
      if (!ext.empty() && ext.front() == '.') ext.erase(0, 1);
      bool ok = !ext.empty() && ext.size() <= 16 &&
                std::all_of(ext.begin(), ext.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
      if (ok)
        extension_ = "." + ext;
      else
        bad_extension_ = !ext.empty();
    }
  }

  void on_record(std::string_view record, ExtendedContext& ctx) override {
    if (record.empty()) return;
    if (bad_extension_) {
      ctx.reject("filewatcher-invalid-extension",
                 "meta header extension is not 1..16 letters or digits; ignored");
      bad_extension_ = false;
    }
    if (!bad_options_.empty()) {
      ctx.reject("filewatcher-invalid-option",
                 "meta header option(s) " + bad_options_ + " not true or false; the default is used");
      bad_options_.clear();
    }
    auto content = base64_decode(record);
    if (!content) {
      ctx.reject("filewatcher-invalid-base64", "a filewatcher line is not valid base64");
      return;
    }
    auto dir = (segregate_ ? ctx.sensor_directory() : ctx.shared_directory()) / "files";
    std::string name = sha256_hex(*content) + extension_;
    std::filesystem::path path = dir / name;
    if (compress_) {
      path += ".gz";
      write_file_once(path, gzip_bytes(*content));
    } else {
      write_file_once(path, *content);
    }
    ctx.push(path.string());
  }
  bool whole_file_records() const override { return true; }

 private:
  bool bool_option(const nlohmann::json& meta, const char* name, bool def) {
    auto it = meta.find(name);
    if (it == meta.end()) return def;
    if (it->is_boolean()) return it->get<bool>();
    bad_options_ += (bad_options_.empty() ? "\"" : ", \"") + std::string(name) + "\"";
    return def;
  }

  std::string bad_options_;
  bool compress_ = false;
  bool segregate_ = true;
  bool bad_extension_ = false;
  std::string extension_;
};

}  // namespace
}  // namespace d4::workers

D4_REGISTER_EXTENDED_TYPE("filewatcher", d4::workers::FileWatcherHandler)
