#include "alerts/channel_names.hpp"

#include <cctype>
#include <set>

#include "core/config.hpp"

namespace d4::alerts {

namespace {
void check_channel_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (!ok)
    throw core::ConfigError("alert channel name '" + name + "' must be 1-64 letters, digits, '-' or '_'");
}
}  // namespace

std::vector<std::string> channel_names(const toml::table& root, std::string_view section) {
  std::vector<std::string> out;
  if (const auto* t = core::get_table(root, section))
    for (const auto& [k, v] : *t) {
      if (!v.is_table())
        throw core::ConfigError("option " + std::string(section) + "." + std::string(k.str()) +
                                " must be a table");
      check_channel_name(std::string(k.str()));
      out.emplace_back(k.str());
    }
  return out;
}

std::vector<std::string> all_channel_names(const toml::table& root) {
  auto out = channel_names(root, "alerts.webhook");
  std::set<std::string> seen(out.begin(), out.end());
  for (auto& name : channel_names(root, "alerts.email")) {
    if (!seen.insert(name).second) throw core::ConfigError("alert channel name '" + name + "' is used twice");
    out.push_back(std::move(name));
  }
  return out;
}

}  // namespace d4::alerts
