#pragma once
// Passwords out of messages: "redis://user:secret@host:6380/0" -> "redis://user:***@host:6380/0".
// Header-only, so the sensor client (built without the core library) uses the same rule.
#include <string>
#include <string_view>

namespace d4::core {

// `text` with the credentials of a "scheme://user:password@..." URL masked; "password@" (no user,
// as several Redis clients accept) is masked whole. Text without credentials is returned as is.
inline std::string redact_endpoint(std::string_view text) {
  auto scheme = text.find("://");
  if (scheme == std::string_view::npos) return std::string(text);
  auto at = text.rfind('@');
  if (at == std::string_view::npos || at < scheme) return std::string(text);
  auto colon = text.find(':', scheme + 3);
  std::size_t secret_from = colon != std::string_view::npos && colon < at ? colon + 1 : scheme + 3;
  return std::string(text.substr(0, secret_from)) + "***" + std::string(text.substr(at));
}

}  // namespace d4::core
