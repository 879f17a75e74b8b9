// /api/v1/misp-feed/{file}: the caller's organisation's MISP feed, as d4-misp-feed writes it
// (<[sharing.misp] feed_dir>/<organisation uuid>/: manifest.json, hashes.csv, <event uuid>.json),
// for a MISP instance that pulls it with the feed URL https://<host>/api/v1/misp-feed and the
// header "Authorization: <API token>" (docs/sharing.md#serving-the-feed-from-d4-web).
#include <fstream>
#include <iterator>

#include "core/organisations.hpp"
#include "protocol/uuid.hpp"
#include "web/api/helpers.hpp"

namespace d4::web::api {

namespace {
// The files of a feed directory: nothing else is served (no path, no other names).
bool feed_file_name(const std::string& name) {
  if (name == "manifest.json" || name == "hashes.csv") return true;
  constexpr std::string_view kSuffix = ".json";
  if (name.size() != 36 + kSuffix.size() || name.compare(36, kSuffix.size(), kSuffix) != 0) return false;
  auto u = protocol::Uuid::parse(name.substr(0, 36));
  return u && u->dashed() == name.substr(0, 36);
}

// Event files are bounded by d4-misp-feed's own budgets; this bound keeps a stray file from
// being read into memory whole.
constexpr std::uintmax_t kMaxFeedFileBytes = 256ull << 20;
}  // namespace

void misp_feed(WebApp& app, Routes& r) {
  r.file("/api/v1/misp-feed/{file}", Role::User, [&app](http::Request& req, const Identity& id) {
    const std::string& name = req.params["file"];
    if (!feed_file_name(name)) throw ApiError(404, "404 Not Found");
    // The caller's organisation; an administrator may name another one (?org=).
    std::string org = core::OrganisationStore(app.db().meta).user_org(id.user);
    std::string asked = Input(req).str("org");
    if (!asked.empty() && role_allows(id.role, Role::Admin)) org = asked;
    auto uuid = protocol::Uuid::parse(org);
    if (!uuid) throw ApiError(404, "404 Not Found");
    auto path = app.config().misp_feed_dir / uuid->dashed() / name;
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (ec || !std::filesystem::is_regular_file(path) || size > kMaxFeedFileBytes)
      throw ApiError(404, "404 Not Found");
    std::ifstream f(path, std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return http::Response::text(200, std::move(body),
                                name == "hashes.csv" ? "text/csv; charset=utf-8" : "application/json");
  });
}

}  // namespace d4::web::api
