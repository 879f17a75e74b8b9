// /misp-feed — The organisation's MISP feed: how a MISP instance pulls it (URL and header), the
// events d4-misp-feed wrote for the organisation (its manifest.json) and the exporter's last run
// (docs/sharing.md#serving-the-feed-from-d4-web).
#include <algorithm>
#include <fstream>

#include "core/keys.hpp"
#include "core/organisations.hpp"
#include "protocol/uuid.hpp"
#include "web/models/organisations.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

struct FeedEvent {
  std::string uuid, info, date;
  long long timestamp = 0;
};

// The events of the organisation's manifest.json, newest first (at most `max`); none when
// d4-misp-feed has not written it.
std::vector<FeedEvent> feed_events(const std::filesystem::path& manifest, std::size_t max) {
  std::vector<FeedEvent> out;
  std::ifstream f(manifest);
  if (!f) return out;
  auto j = nlohmann::json::parse(f, nullptr, false);
  if (!j.is_object()) return out;
  for (const auto& [uuid, e] : j.items()) {
    if (!e.is_object()) continue;
    FeedEvent ev{uuid, e.value("info", ""), e.value("date", ""), 0};
    auto ts = e.value("timestamp", nlohmann::json());
    ev.timestamp = ts.is_string()   ? std::atoll(ts.get<std::string>().c_str())
                   : ts.is_number() ? ts.get<long long>()
                                    : 0;
    out.push_back(std::move(ev));
  }
  std::sort(out.begin(), out.end(), [](const FeedEvent& a, const FeedEvent& b) {
    return a.date != b.date ? a.date > b.date : a.info < b.info;
  });
  if (out.size() > max) out.resize(max);
  return out;
}

Html pull_settings(const http::Request& req) {
  std::string host = req.header("Host");
  if (host.empty()) host = "<d4-web host>";
  Html h =
      "<section class=\"card\"><h2>Pull it from MISP</h2><p>In MISP, <em>Sync Actions → Feeds → Add Feed"
      "</em>:</p><table><tbody>"_h;
  h << "<tr><th scope=\"row\">URL</th><td class=\"mono\">https://"_h << host
    << "/api/v1/misp-feed</td></tr><tr><th scope=\"row\">Source Format</th><td>MISP Feed</td></tr>"
       "<tr><th scope=\"row\">Headers</th><td class=\"mono\">Authorization: &lt;an API token of your "
       "organisation&gt;</td></tr></tbody></table><p>Create the token on <a href=\"/profile\">My account</a>."
       "</p></section>"_h;
  return h;
}

}  // namespace

void misp_feed(WebApp& app, Routes& r) {
  r.page("/misp-feed", Role::User, [&app](http::Request& req, const Identity& id) {
    auto& d = app.db();
    core::OrganisationStore store(d.meta);
    std::string org = store.user_org(id.user);
    const bool admin = role_allows(id.role, Role::Admin);
    if (admin && !param(req, "org").empty()) org = param(req, "org");
    auto o = store.get(org);
    if (!o) throw ApiError(404, "no such organisation");
    auto dashed = protocol::Uuid::parse(o->uuid)->dashed();
    Html b = "<p>What d4-misp-feed publishes for "_h;
    b << o->name << " (MISP organisation <span class=\"mono\">"_h << dashed
      << "</span>): its sensors' backscatter, passive DNS and passive SSL results as MISP events.</p>"_h;
    if (admin) {
      b << "<form method=\"get\" action=\"/misp-feed\" class=\"inline\"><label for=\"feed-org\">Organisation"
           "</label><select id=\"feed-org\" name=\"org\">"_h;
      for (const auto& other : store.list())
        b << "<option"_h << html::attribute("value", other.uuid)
          << html::when(other.uuid == o->uuid, " selected"_h) << ">"_h << other.name << "</option>"_h;
      b << "</select> <button class=\"btn small\" type=\"submit\">Show</button></form>"_h;
    }
    auto stats =
        d.meta.command({"HMGET", core::keys::kMispFeedStats, "last_run", "last_success", "last_error"});
    auto field = [&](std::size_t i) {
      return i < stats.elements.size() && !stats.elements[i].is_nil() ? stats.elements[i].str : std::string();
    };
    b << "<section class=\"cards\">"_h
      << stat_card(html::format_time(std::atoll(field(0).c_str())), "last export run", true)
      << stat_card(html::format_time(std::atoll(field(1).c_str())), "last successful export", true)
      << "</section>"_h;
    if (!field(2).empty()) b << "<p class=\"status error\">Last export error: "_h << field(2) << "</p>"_h;
    b << pull_settings(req);
    const std::string suffix = admin ? "?org=" + o->uuid : "";
    auto events = feed_events(app.config().misp_feed_dir / dashed / "manifest.json", 500);
    b << "<section><h2>Events</h2><div class=\"scroll\"><table>"_h << table_head({"Date", "Event", "UUID"})
      << "<tbody>"_h;
    for (const auto& e : events)
      b << "<tr><td>"_h << e.date << "</td><td>"_h << e.info << "</td><td>"_h
        << html::link("/api/v1/misp-feed/" + e.uuid + ".json" + suffix, e.uuid, "mono") << "</td></tr>"_h;
    if (events.empty())
      b << empty_row(3, "No event yet: d4-misp-feed has not exported anything for this organisation.");
    b << "</tbody></table></div><p>The feed's files: "_h
      << html::link("/api/v1/misp-feed/manifest.json" + suffix, "manifest.json") << ", "_h
      << html::link("/api/v1/misp-feed/hashes.csv" + suffix, "hashes.csv") << ".</p></section>"_h;
    return html::layout(opts(req, "MISP feed", "misp-feed"), &id, b);
  });
}

}  // namespace d4::web::pages
