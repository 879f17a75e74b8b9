#pragma once
// Passwords out of messages: "redis://user:secret@host:6380/0" -> "redis://user:***@host:6380/0",
// "...?sentinel_password=secret" -> "...?sentinel_password=***".
// Header-only, so the sensor client (built without the core library) uses the same rule.
#include <string>
#include <string_view>

namespace d4::core {

// `text` with the credentials of a "scheme://user:password@..." URL masked; "password@" (no user,
// as several Redis clients accept) is masked whole, and so is the value of every query parameter
// whose name ends in "password". Text without credentials is returned as is.
inline std::string redact_endpoint(std::string_view text) {
  auto scheme = text.find("://");
  if (scheme == std::string_view::npos) return std::string(text);
  std::string out(text);
  auto query = out.find('?', scheme);
  auto at = out.rfind('@', query);
  if (at != std::string::npos && at > scheme) {
    auto colon = out.find(':', scheme + 3);
    std::size_t secret_from = colon != std::string::npos && colon < at ? colon + 1 : scheme + 3;
    out = out.substr(0, secret_from) + "***" + out.substr(at);
    query = out.find('?', scheme);
  }
  for (std::size_t p = query; p != std::string::npos && p < out.size(); p = out.find('&', p + 1)) {
    auto eq = out.find('=', p);
    auto end = out.find('&', p + 1);
    if (eq == std::string::npos || (end != std::string::npos && eq > end)) continue;
    if (std::string_view(out).substr(p + 1, eq - p - 1).ends_with("password"))
      out = out.substr(0, eq + 1) + "***" + (end == std::string::npos ? "" : out.substr(end));
  }
  return out;
}

}  // namespace d4::core
