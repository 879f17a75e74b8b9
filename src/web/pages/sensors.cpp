// /sensors — The sensor list: search, status filter, pages.
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

void sensors(WebApp& app, http::Router& r) {
  app.page(r, "/sensors", Role::User, [&app](http::Request& req, const Identity& id) {
    std::string q = param(req, "q"), status = param(req, "status", "all");
    long long pg = int_param(req, "page", 1);
    auto list = app.sensors(app.db(), q, status, pg, 50);
    std::string b =
        "<form class=\"search\" method=\"get\" action=\"/sensors\" role=\"search\"><label "
        "for=\"q\">Search</label>"
        "<input id=\"q\" name=\"q\" type=\"search\" value=\"" +
        esc(q) +
        "\" placeholder=\"UUID, description, tag, IP\">"
        "<label for=\"status\">Status</label><select id=\"status\" name=\"status\">";
    for (const char* st : {"all", "connected", "registered", "pending", "blocked", "error"})
      b += std::string("<option") + (status == st ? " selected" : "") + ">" + st + "</option>";
    b += "</select><button class=\"btn\" type=\"submit\">Filter</button></form>";
    b += "<p>" + n(list["total"]) + " sensors.</p><div class=\"scroll\"><table class=\"sensors\">" +
         table_head({"UUID", "Description / tags", "Status", "First seen", "Last seen", "Types", "Last IP",
                     "Error"}) +
         "<tbody>";
    for (const auto& row : list["items"]) {
      std::string st;
      if (row["connected"].get<bool>()) st += html::badge("connected", "ok");
      if (row["pending"].get<bool>()) st += html::badge("pending", "warn");
      if (row["registered"].get<bool>()) st += html::badge("registered", "");
      if (row["blocked"].get<bool>()) st += html::badge("blocked", "bad");
      if (row["monitoring_error"].get<bool>()) st += html::badge("silent", "bad");
      std::string tags;
      for (const auto& t : row["tags"]) tags += html::badge(s(t), "tag");
      std::string types;
      for (const auto& t : row["types"]) types += (types.empty() ? "" : ", ") + esc(s(t));
      b += "<tr><td>" + sensor_link(s(row["uuid"])) + "</td><td>" + esc(s(row["description"])) + " " + tags +
           "</td><td>" + st + "</td><td>" + html::format_time(row["first_seen"]) + "</td><td>" +
           html::format_time(row["last_seen"]) + "</td><td>" + types + "</td><td class=\"mono\">" +
           esc(s(row["last_ip"])) + "</td><td>" + esc(s(row["error"])) + "</td></tr>";
    }
    b += "</tbody></table></div>" +
         html::pager("/sensors?q=" + http::url_encode(q) + "&status=" + http::url_encode(status), pg, 50,
                     list["total"].get<long long>());
    return html::layout(opts(req, "Sensors", "sensors"), &id, b);
  });
}

}  // namespace d4::web::pages
