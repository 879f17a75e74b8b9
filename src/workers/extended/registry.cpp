#include <openssl/evp.h>

#include <map>
#include <mutex>
#include <optional>

#include "workers/extended/extended_type.hpp"

namespace d4::workers {
namespace {

std::map<std::string, ExtendedHandlerFactory>& registry() {
  static std::map<std::string, ExtendedHandlerFactory> r;  // filled during static initialisation
  return r;
}

std::string digest_hex(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, md, nullptr);
  static const char* hex = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (unsigned int i = 0; i < n; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

// The default handler (reference MetaTypesDefault): archive the raw stream, queue every line.
class DefaultHandler : public ExtendedTypeHandler {
 public:
  explicit DefaultHandler(const nlohmann::json&) {}
  void on_record(std::string_view record, ExtendedContext& ctx) override { ctx.push(record); }
  bool archives_raw_stream() const override { return true; }
};

}  // namespace

bool register_extended_type(const std::string& name, ExtendedHandlerFactory factory) {
  registry()[name] = std::move(factory);
  return true;
}

std::unique_ptr<ExtendedTypeHandler> make_extended_handler(const std::string& name,
                                                           const nlohmann::json& meta) {
  auto it = registry().find(name);
  if (it != registry().end()) return it->second(meta);
  return std::make_unique<DefaultHandler>(meta);
}

bool has_specific_extended_handler(const std::string& name) {
  return registry().count(name) > 0;
}

std::string sha1_hex(std::string_view data) {
  return digest_hex(EVP_sha1(), data);
}
std::string sha256_hex(std::string_view data) {
  return digest_hex(EVP_sha256(), data);
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes: remove them.
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

}  // namespace d4::workers
