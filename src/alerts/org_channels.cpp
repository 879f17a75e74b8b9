// Organisations' own notification channels (org_channels.hpp).
#include "alerts/org_channels.hpp"

#include <stdexcept>

#include "core/config.hpp"

namespace d4::alerts {

OrgChannelPolicy read_org_channel_policy(const toml::table& root) {
  OrgChannelPolicy p;
  p.allow_http = core::get_bool(root, "alerts", "org_webhook_allow_http", false);
  p.email_relay = !core::get_string(root, "alerts.org_email", "url", "").empty();
  auto max = core::get_int(root, "alerts", "max_org_channels", 10);
  if (max < 1) throw core::ConfigError("option alerts.max_org_channels must be at least 1");
  p.max_per_organisation = static_cast<std::size_t>(max);
  return p;
}

bool valid_org_channel_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

namespace {
std::vector<std::string> org_channel_strings(const nlohmann::json& j, const char* key, std::size_t max) {
  std::vector<std::string> out;
  if (!j.contains(key)) return out;
  const auto& v = j[key];
  if (!v.is_array()) throw std::invalid_argument(std::string(key) + " must be a list of strings");
  for (const auto& e : v) {
    if (!e.is_string()) throw std::invalid_argument(std::string(key) + " must be a list of strings");
    auto s = e.get<std::string>();
    if (s.empty() || s.size() > 1000 || s.find_first_of("\r\n") != std::string::npos)
      throw std::invalid_argument(std::string(key) + ": an entry is empty, too long or has a line break");
    out.push_back(std::move(s));
  }
  if (out.size() > max) throw std::invalid_argument("at most " + std::to_string(max) + " " + key);
  return out;
}
}  // namespace

OrgChannelSpec parse_org_channel(const nlohmann::json& j, const OrgChannelPolicy& policy) {
  if (!j.is_object()) throw std::invalid_argument("a channel is an object");
  OrgChannelSpec s;
  s.type = j.value("type", "");
  if (s.type == "webhook") {
    s.url = j.value("url", "");
    const bool https = s.url.rfind("https://", 0) == 0, http = s.url.rfind("http://", 0) == 0;
    if (!https && !(http && policy.allow_http))
      throw std::invalid_argument(policy.allow_http ? "url must be an http:// or https:// URL"
                                                    : "url must be an https:// URL");
    if (s.url.size() > 2000 || s.url.find_first_of(" \r\n") != std::string::npos)
      throw std::invalid_argument("url is too long or has spaces");
    s.headers = org_channel_strings(j, "headers", 10);
    for (const auto& h : s.headers)
      if (h.find(':') == std::string::npos) throw std::invalid_argument("headers are \"Name: value\"");
  } else if (s.type == "email") {
    if (!policy.email_relay)
      throw std::invalid_argument("e-mail channels need the server's relay ([alerts.org_email] url)");
    s.to = org_channel_strings(j, "to", 20);
    if (s.to.empty()) throw std::invalid_argument("to: at least one recipient");
    for (const auto& t : s.to)
      if (t.find('@') == std::string::npos || t.find_first_of(" <>,") != std::string::npos)
        throw std::invalid_argument("to: '" + t + "' is not an e-mail address");
  } else {
    throw std::invalid_argument("type must be \"webhook\" or \"email\"");
  }
  return s;
}

nlohmann::json to_json(const OrgChannelSpec& s) {
  if (s.type == "email") return {{"type", s.type}, {"to", s.to}};
  return {{"type", s.type}, {"url", s.url}, {"headers", s.headers}};
}

std::string org_channel_summary(const OrgChannelSpec& s) {
  if (s.type == "email") return "e-mail to " + std::to_string(s.to.size()) + " recipient(s)";
  auto scheme_end = s.url.find("://");
  auto host_end = s.url.find_first_of("/?#", scheme_end == std::string::npos ? 0 : scheme_end + 3);
  return "webhook to " + s.url.substr(0, host_end);
}

std::string org_channel_full_name(std::string_view org, std::string_view name) {
  return "org:" + std::string(org) + "/" + std::string(name);
}

}  // namespace d4::alerts
