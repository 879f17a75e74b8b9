// /api/v1/organisations/{id}/channels: an organisation's own notification channels, through which
// d4-alerts notifies the organisation's org:<uuid> rules (docs/alerts.md#organisations-channels,
// docs/api/openapi.json).
#include "web/models/org_channels.hpp"
#include "web/api/helpers.hpp"

namespace d4::web::api {

namespace {
// A list field: a JSON array, or text with one entry per line (a header has spaces).
std::vector<std::string> org_channel_lines(const Input& in, const std::string& key) {
  if (in.body().contains(key) && in.body()[key].is_array()) return in.list(key);
  std::vector<std::string> out;
  std::string text = in.str(key), line;
  for (std::size_t start = 0; start <= text.size();) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    line = text.substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
    start = end + 1;
  }
  return out;
}

// The channel's fields from a JSON body or a form (headers and recipients one per line).
json org_channel_body(const Input& in) {
  json spec = {{"type", in.str("type")}};
  if (in.has("url")) spec["url"] = in.str("url");
  if (in.has("headers")) spec["headers"] = org_channel_lines(in, "headers");
  if (in.has("to")) spec["to"] = org_channel_lines(in, "to");
  return spec;
}
}  // namespace

void org_channels(WebApp& app, Routes& r) {
  auto model = [&app] { return models::OrgChannels(app.db(), app.config()); };
  r.api("GET", "/api/v1/organisations/{id}/channels", Role::User,
        [model](http::Request& req, const Identity& id) { return json(model().list(id, req.params["id"])); });
  r.api("PUT", "/api/v1/organisations/{id}/channels/{name}", Role::User,
        [model](http::Request& req, const Identity& id) {
          const std::string name = path_or_field(req, "name");
          model().set(id, path_or_field(req, "id"), name, org_channel_body(Input(req)));
          return ok("channel " + name + " saved");
        });
  r.api("DELETE", "/api/v1/organisations/{id}/channels/{name}", Role::User,
        [model](http::Request& req, const Identity& id) {
          model().remove(id, req.params["id"], req.params["name"]);
          return ok("channel removed");
        });
}

}  // namespace d4::web::api
