#pragma once
// Handlers of type-254 data, selected by the extended type announced in the meta header.
//
// Adding an extended type = one .cpp file in src/workers/extended/ (listed in
// src/workers/CMakeLists.txt) that implements ExtendedTypeHandler and registers itself:
//
//   class MyHandler : public ExtendedTypeHandler {
//    public:
//     explicit MyHandler(const nlohmann::json& meta) {}
//     void on_record(std::string_view line, ExtendedContext& ctx) override { ctx.push(line); }
//   };
//   D4_REGISTER_EXTENDED_TYPE("my-type", MyHandler);
//
// The extended type must also be accepted by the server (meta set server:accepted_extended_type).
// Records are the newline-separated lines of the 254 stream, reassembled across packets.
// Handlers must be deterministic per record (a record can be replayed after a crash) and must
// never build a path from sensor-supplied text: use ExtendedContext's directories and
// content hashes for file names.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/digest.hpp"
#include "protocol/encoding.hpp"

namespace d4::workers {

class ExtendedContext {
 public:
  virtual ~ExtendedContext() = default;
  virtual const std::string& sensor() const = 0;         // dashless sensor id
  virtual const std::string& extended_type() const = 0;  // validated name
  virtual const nlohmann::json& meta_header() const = 0;
  // <archive root>/<sensor>/254/YYYY/MM/DD/<extended type> (today, server time).
  virtual std::filesystem::path sensor_directory() const = 0;
  // <archive root>/datas/<extended type>: data shared by all sensors (reference layout).
  virtual std::filesystem::path shared_directory() const = 0;
  // Queues an item for the analyzer queues of this extended type.
  virtual void push(std::string_view item) = 0;
  // Counts a rejected record (per sensor and reason) with an explanation.
  virtual void reject(std::string_view reason, std::string_view detail) = 0;
};

class ExtendedTypeHandler {
 public:
  virtual ~ExtendedTypeHandler() = default;
  virtual void on_record(std::string_view record, ExtendedContext& ctx) = 0;
  // Whether the raw 254 stream is also archived to rotated, compressed files.
  virtual bool archives_raw_stream() const { return false; }
  // Whether a record is a whole file (filewatcher): the larger limit
  // [workers] max_file_record_bytes applies instead of max_record_bytes.
  virtual bool whole_file_records() const { return false; }
};

using ExtendedHandlerFactory =
    std::function<std::unique_ptr<ExtendedTypeHandler>(const nlohmann::json& meta)>;

bool register_extended_type(const std::string& name, ExtendedHandlerFactory factory);
// The registered handler, or the default line handler for any other accepted extended type.
std::unique_ptr<ExtendedTypeHandler> make_extended_handler(const std::string& name,
                                                           const nlohmann::json& meta);
bool has_specific_extended_handler(const std::string& name);

// Helpers for handlers: the project's digests and Base64 (core/digest.hpp, protocol/encoding.hpp).
using core::sha1_hex;
using core::sha256_hex;
using protocol::base64_decode;

}  // namespace d4::workers

#define D4_EXTENDED_CAT2(a, b) a##b
#define D4_EXTENDED_CAT(a, b) D4_EXTENDED_CAT2(a, b)
#define D4_REGISTER_EXTENDED_TYPE(name, Class)                                                     \
  namespace {                                                                                      \
  [[maybe_unused]] const bool D4_EXTENDED_CAT(d4_registered_, __LINE__) =                          \
      ::d4::workers::register_extended_type(name, [](const nlohmann::json& meta) {                 \
        return std::unique_ptr<::d4::workers::ExtendedTypeHandler>(std::make_unique<Class>(meta)); \
      });                                                                                          \
  }
