#pragma once
// Static files (src/web/static/*, docs/api/openapi.json) embedded into the binary at build time
// by embed_assets.cmake, so that d4-web needs no installed asset directory.
#include <span>
#include <string_view>

namespace d4::web {

struct EmbeddedAsset {
  std::string_view name;  // "app.js", "openapi.json"
  std::string_view content_type;
  std::string_view data;
  std::string_view etag;  // quoted SHA-256 prefix of the content
};

std::span<const EmbeddedAsset> embedded_assets();
const EmbeddedAsset* find_asset(std::string_view name);

}  // namespace d4::web
