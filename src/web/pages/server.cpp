// /server — Server management: registrations, accepted types, blocklists, kicks, refusals.
#include <algorithm>
#include <utility>
#include <vector>

#include "web/models/server.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

using models::ServerView;

using ServerPage = ViewPage<ServerView>;

// A form posting to `action` that reloads the page; its fields and button follow.
Html post_form(const ServerPage& p, std::string_view action) {
  return html::api_form_open(p.id, "POST", action, "/server", "data-reload"_h);
}

Html cards(const ServerView& v) {
  Html h = "<section class=\"cards\">"_h;
  h << stat_card(v.mode, "server mode", true) << stat_card(v.default_key.status, "default HMAC key", true)
    << stat_card(std::to_string(v.registered_count), "registered sensors")
    << stat_card(std::to_string(v.pending_count), "pending registrations");
  return h << "</section>"_h;
}

Html registrations(const ServerPage& p) {
  Html h = "<section><h2>Pending registrations</h2><table>"_h;
  h << table_head({"UUID", "Actions"}) << "<tbody>"_h;
  for (const auto& u : p.view.pending) {
    std::string base = "/api/v1/sensors/" + u;
    h << "<tr><td>"_h << sensor_link(u) << "</td><td class=\"actions\">"_h;
    if (p.admin)
      h << html::api_button(p.id, "POST", base + "/approve", "/server", "Approve", "", "btn primary")
        << html::api_button(p.id, "POST", base + "/reject", "/server", "Reject", "Reject this registration?",
                            "btn danger");
    h << "</td></tr>"_h;
  }
  if (p.view.pending.empty()) h << empty_row(2, "None.");
  h << "</tbody></table>"_h;
  if (p.admin)
    h << html::api_form_open(p.id, "POST", "/api/v1/sensors/{uuid}/approve", "/server",
                             "data-reload data-path-field=\"uuid\""_h)
      << "<label for=\"approve-uuid\">Approve a sensor by UUID</label><input id=\"approve-uuid\" "
         "name=\"uuid\" required pattern=\"[0-9A-Fa-f-]{32,36}\">"
         "<button class=\"btn\" type=\"submit\">Approve</button></form>"_h;
  return h << "</section>"_h;
}

// One list of accepted types: the entries with a remove button, and the add form.
template <typename T>
Html accepted_card(const ServerPage& p, std::string_view title, const std::vector<T>& entries,
                   const std::string& api, std::string_view confirm, const Html& add_form) {
  Html h = "<div class=\"card\"><h2>"_h;
  h << title << "</h2><ul class=\"plain\">"_h;
  for (const auto& entry : entries) {
    std::string key, label;  // in the path of the remove button; shown
    if constexpr (std::is_same_v<T, int>) {
      key = std::to_string(entry);
      label = type_label(entry);
    } else {
      key = label = entry;
    }
    h << "<li>"_h << label;
    if (p.admin)
      h << html::api_button(p.id, "DELETE", api + "/" + http::url_encode(key), "/server", "Remove", confirm,
                            "btn small");
    h << "</li>"_h;
  }
  h << "</ul>"_h;
  if (p.admin) h << post_form(p, api) << add_form;
  return h << "</div>"_h;
}

Html accepted_types(const ServerPage& p) {
  Html h = "<section class=\"grid2\">"_h;
  h << accepted_card(p, "Accepted types", p.view.accepted_types, "/api/v1/server/types",
                     "Stop accepting this type?",
                     "<label for=\"new-type\">Add a type (1–254)</label><input id=\"new-type\" name=\"type\" "
                     "type=\"number\" min=\"1\" max=\"254\" required>"
                     "<button class=\"btn\" type=\"submit\">Add type</button></form>"_h)
    << accepted_card(p, "Accepted extended types", p.view.accepted_extended_types,
                     "/api/v1/server/extended-types", "Stop accepting this extended type?",
                     "<label for=\"new-ext\">Add an extended type</label><input id=\"new-ext\" name=\"name\" "
                     "required maxlength=\"64\">"
                     "<button class=\"btn\" type=\"submit\">Add extended type</button></form>"_h);
  return h << "</section>"_h;
}

// One blocklist: add form, search, entries with an unblock button, pages.
struct BlocklistCard {
  std::string_view title, api, field, add_label, input_id;
  Html input_attributes, list_attributes;
  std::string query_name, page_name;  // the search and page parameters of this list
  bool may_change;
  Html (*entry)(std::string_view);
};

Html mono(std::string_view text) {
  return "<span class=\"mono\">"_h << text << "</span>"_h;
}

Html blocklist_card(const ServerPage& p, const BlocklistCard& c, const std::string& query, long long page,
                    const models::Blocklist& list, const Html& footer = {}) {
  using html::attribute;
  Html h = "<div class=\"card\"><h2>"_h;
  h << c.title << " ("_h << list.total << ")</h2>"_h;
  if (c.may_change)
    h << post_form(p, c.api) << "<label"_h << attribute("for", c.input_id) << ">"_h << c.add_label
      << "</label><input"_h << attribute("id", c.input_id) << attribute("name", c.field) << " required"_h
      << c.input_attributes << "><button class=\"btn danger\" type=\"submit\">Block</button></form>"_h;
  h << "<form method=\"get\" action=\"/server\" role=\"search\"><label"_h << attribute("for", c.query_name)
    << ">Search</label><input"_h << attribute("id", c.query_name) << attribute("name", c.query_name)
    << " type=\"search\""_h << attribute("value", query)
    << "><button class=\"btn small\" type=\"submit\">Search</button></form><ul class=\"plain\""_h
    << c.list_attributes << ">"_h;
  for (const auto& e : list.items) {
    h << "<li>"_h << c.entry(e) << " "_h;
    if (c.may_change)
      h << html::api_form_open(p.id, "DELETE", c.api, "/server", "data-reload"_h)
        << "<input type=\"hidden\""_h << attribute("name", c.field) << attribute("value", e)
        << "><button class=\"btn small\" type=\"submit\">Unblock</button></form>"_h;
    h << "</li>"_h;
  }
  return h << "</ul>"_h
           << html::pager("/server?" + c.query_name + "=" + http::url_encode(query), page, 100, list.total,
                          c.page_name)
           << footer << "</div>"_h;
}

Html blocklists(const ServerPage& p, models::Server& model, const http::Request& req, const Scope& scope) {
  BlocklistCard ips{"Blocked IPs and networks",
                    "/api/v1/server/blocklist/ips",
                    "ip",
                    "Block an IP or CIDR network",
                    "block-ip",
                    " placeholder=\"192.0.2.0/24 or 2001:db8::/32\""_h,
                    " id=\"blocked-ips\""_h,
                    "ipq",
                    "ippage",
                    true,
                    mono};
  BlocklistCard uuids{"Blocked sensor UUIDs",
                      "/api/v1/server/blocklist/uuids",
                      "uuid",
                      "Block a sensor UUID",
                      "block-uuid",
                      {},
                      {},
                      "uq",
                      "upage",
                      p.admin,
                      sensor_link};
  Html by_uuid;
  if (!p.view.ips_blocked_by_uuid.empty()) {
    by_uuid << "<h3>Sensors whose IPs get blocked</h3><ul class=\"plain\">"_h;
    for (const auto& u : p.view.ips_blocked_by_uuid) by_uuid << "<li>"_h << sensor_link(u) << "</li>"_h;
    by_uuid << "</ul>"_h;
  }
  Html h = "<section class=\"grid2\">"_h;
  for (const auto* c : {&ips, &uuids}) {
    auto query = param(req, c->query_name);
    auto page = int_param(req, c->page_name, 1);
    auto kind = c == &ips ? models::BlocklistKind::Ips : models::BlocklistKind::Uuids;
    h << blocklist_card(p, *c, query, page, model.blocklist(kind, query, page, 100, scope),
                        c == &uuids ? by_uuid : Html());
  }
  return h << "</section>"_h;
}

// Every refusal of d4-server with its reason (also those before authentication, which no sensor's
// page shows), the source networks refused most before authentication, and back-pressure.
Html refusals(const models::Refusals& r) {
  std::vector<std::pair<std::string, long long>> reasons(r.all_time.begin(), r.all_time.end());
  std::stable_sort(reasons.begin(), reasons.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  Html h = "<section class=\"grid2\"><div class=\"card\"><h2>Refused connections and packets</h2><table>"_h;
  h << table_head({"Reason", "Today", "All time"}) << "<tbody>"_h;
  for (const auto& [reason, count] : reasons) {
    auto today = r.today.find(reason);
    h << "<tr><td>"_h << reason << "</td><td>"_h << (today == r.today.end() ? 0LL : today->second)
      << "</td><td>"_h << count << "</td></tr>"_h;
  }
  if (reasons.empty()) h << empty_row(3, "None.");
  h << "</tbody></table><h3>Back-pressure (times a session was held)</h3><ul class=\"plain\">"_h;
  for (const auto& [cause, count] : r.backpressure) h << "<li>"_h << cause << ": "_h << count << "</li>"_h;
  if (r.backpressure.empty()) h << "<li>None.</li>"_h;
  h << "</ul></div><div class=\"card\"><h2>Networks refused most before authentication</h2><p>"_h
    << r.ranked_sources << " networks (IPv4 /24, IPv6 /64) ranked; the "_h << models::kTopRefusedSources
    << " highest (estimates: a newcomer inherits the count of the network it replaces).</p><table>"_h
    << table_head({"Network", "Refusals"}) << "<tbody>"_h;
  for (const auto& s : r.top_sources)
    h << "<tr><td class=\"mono\">"_h << s.network << "</td><td>"_h << s.rejects << "</td></tr>"_h;
  if (r.top_sources.empty()) h << empty_row(2, "None.");
  return h << "</tbody></table></div></section>"_h;
}

Html kick_type(const ServerPage& p) {
  return "<section class=\"card\"><h2>Kick every connection of a type</h2>"_h
         << html::api_form_open(
                p.id, "POST", "/api/v1/server/kick-type/{type}", "/server",
                "data-reload data-path-field=\"type\" data-confirm=\"Close every connection of this type?\""_h)
         << "<label for=\"kick-type\">Type</label><input id=\"kick-type\" name=\"type\" type=\"number\" "
            "min=\"1\" max=\"255\" required>"
            "<button class=\"btn danger\" type=\"submit\">Kick</button></form></section>"_h;
}

}  // namespace

void server(WebApp& app, Routes& r) {
  r.page("/server", Role::User, [&app](http::Request& req, const Identity& id) {
    models::Server model(app.db(), app.config());
    auto scope = Scope::of(app.db(), id);
    auto view = model.view(scope);
    ServerPage p{view, id, role_allows(id.role, Role::Admin)};
    Html b = cards(view);
    b << registrations(p) << accepted_types(p) << blocklists(p, model, req, scope);
    if (scope.unrestricted()) b << refusals(view.refusals);
    if (p.admin) b << kick_type(p);
    return html::layout(opts(req, "Server management", "server"), &id, b);
  });
}

}  // namespace d4::web::pages
