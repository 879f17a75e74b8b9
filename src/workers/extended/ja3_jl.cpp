// ja3-jl (sensor-d4-tls-fingerprinting): one JSON object per line describing a TLS session with
// its certificates. Certificates are stored by the SHA-1 of their DER, the line by the SHA-256 of
// its text (never by the sensor's Timestamp string, which the reference used as a file name), and
// the JSON file's path is queued for analyzer-d4-passivessl.
#include "workers/archive.hpp"
#include "workers/extended/extended_type.hpp"

namespace d4::workers {
namespace {

class Ja3JlHandler : public ExtendedTypeHandler {
 public:
  explicit Ja3JlHandler(const nlohmann::json&) {}

  void on_record(std::string_view record, ExtendedContext& ctx) override {
    if (record.empty()) return;
    nlohmann::json j = nlohmann::json::parse(record, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ctx.reject("ja3-jl-invalid-json", "a ja3-jl line is not a JSON object");
      return;
    }
    auto certs = j.find("Certificates");
    if (certs != j.end() && certs->is_array()) {
      for (const auto& cert : *certs) {
        if (!cert.is_object() || !cert.contains("Raw") || !cert["Raw"].is_string()) {
          ctx.reject("ja3-jl-invalid-certificate", "certificate without a base64 Raw field");
          continue;
        }
        auto der = base64_decode(cert["Raw"].get_ref<const std::string&>());
        if (!der || der->empty()) {
          ctx.reject("ja3-jl-invalid-certificate", "certificate Raw field is not valid base64");
          continue;
        }
        write_file_once(ctx.shared_directory() / "certs" / (sha1_hex(*der) + ".crt"), *der);
      }
    }
    auto path = ctx.shared_directory() / "jsons" / (sha256_hex(record) + ".json");
    write_file_once(path, record);
    ctx.push(path.string());
  }
};

}  // namespace
}  // namespace d4::workers

D4_REGISTER_EXTENDED_TYPE("ja3-jl", d4::workers::Ja3JlHandler)
