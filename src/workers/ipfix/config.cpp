#include "workers/ipfix/config.hpp"

#include <filesystem>

#include "core/config.hpp"
#include "workers/ipfix/information_model.hpp"

namespace d4::workers::ipfix {

IpfixSettings read_settings(const toml::table& root, std::vector<std::string>& warnings) {
  IpfixSettings s;
  auto positive = [&](std::string_view key, long long def) {
    long long v = core::get_int(root, "workers", key, def);
    if (v < 1) throw core::ConfigError("option workers." + std::string(key) + " must be at least 1");
    return static_cast<std::size_t>(v);
  };
  s.max_templates = positive("ipfix_max_templates", static_cast<long long>(s.max_templates));
  s.max_template_bytes = positive("ipfix_max_template_bytes", static_cast<long long>(s.max_template_bytes));
  auto queue = core::get_string(root, "workers", "ipfix_queue", "both");
  if (queue != "both" && queue != "records" && queue != "files")
    throw core::ConfigError("option workers.ipfix_queue must be \"both\", \"records\" or \"files\"");
  s.queue_records = queue != "files";
  s.queue_files = queue != "records";
  // Explicitly listed files must exist; the default one is optional (libfixbuf-tools installs it).
  bool listed = false;
  if (auto* w = core::get_table(root, "workers"); w && w->get("ipfix_registry_files")) listed = true;
  auto files = core::get_string_list(root, "workers", "ipfix_registry_files",
                                     InformationModel::default_registry_files());
  std::vector<std::string> present;
  for (const auto& f : files) {
    if (std::filesystem::exists(f))
      present.push_back(f);
    else if (listed)
      throw core::ConfigError("option workers.ipfix_registry_files: " + f + " does not exist");
    else
      warnings.push_back("IPFIX registry " + f +
                         " not found (install libfixbuf-tools): YAF's elements are output as pen:6871:<id>");
  }
  s.model = InformationModel::load(present, warnings);
  return s;
}

}  // namespace d4::workers::ipfix
