#include <map>
#include <mutex>

#include "workers/extended/extended_type.hpp"

namespace d4::workers {
namespace {

std::map<std::string, ExtendedHandlerFactory>& registry() {
  static std::map<std::string, ExtendedHandlerFactory> r;  // filled during static initialisation
  return r;
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

}  // namespace d4::workers
