// /sensors — The sensor list: search, status filter, pages.
#include "web/models/sensors.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

Html search_form(const std::string& q, const std::string& status) {
  Html h =
      "<form class=\"search\" method=\"get\" action=\"/sensors\" role=\"search\"><label "
      "for=\"q\">Search</label>"
      "<input id=\"q\" name=\"q\" type=\"search\""_h;
  h << html::attribute("value", q)
    << " placeholder=\"UUID, description, tag, IP\"><label for=\"status\">Status</label>"
       "<select id=\"status\" name=\"status\">"_h;
  for (const char* st : {"all", "connected", "registered", "pending", "blocked", "error"})
    h << "<option"_h << html::when(status == st, " selected"_h) << ">"_h << st << "</option>"_h;
  return h << "</select><button class=\"btn\" type=\"submit\">Filter</button></form>"_h;
}

Html status_badges(const models::SensorRow& s) {
  Html h;
  if (s.connected) h << html::badge("connected", "ok");
  if (s.pending) h << html::badge("pending", "warn");
  if (s.registered) h << html::badge("registered", "");
  if (s.blocked) h << html::badge("blocked", "bad");
  if (s.monitoring_error) h << html::badge("silent", "bad");
  return h;
}

Html row(const models::SensorRow& s) {
  Html h = "<tr><td>"_h;
  h << sensor_link(s.uuid) << "</td><td>"_h << s.description << " "_h;
  for (const auto& t : s.tags) h << html::badge(t, "tag");
  h << "</td><td>"_h << status_badges(s) << "</td><td>"_h << html::format_time(s.first_seen) << "</td><td>"_h
    << html::format_time(s.last_seen) << "</td><td>"_h;
  for (std::size_t i = 0; i < s.types.size(); ++i) h << (i ? ", " : "") << type_label(s.types[i]);
  return h << "</td><td class=\"mono\">"_h << s.last_ip << "</td><td>"_h << s.error << "</td></tr>"_h;
}

}  // namespace

void sensors(WebApp& app, Routes& r) {
  r.page("/sensors", Role::User, [&app](http::Request& req, const Identity& id) {
    std::string q = param(req, "q"), status = param(req, "status", "all");
    long long pg = int_param(req, "page", 1);
    auto list = models::Sensors(app.db()).list({q, status, pg, 50}, Scope::of(app.db(), id));
    Html b = search_form(q, status);
    b << "<p>"_h << list.total << " sensors.</p><div class=\"scroll\"><table class=\"sensors\">"_h
      << table_head(
             {"UUID", "Description / tags", "Status", "First seen", "Last seen", "Types", "Last IP", "Error"})
      << "<tbody>"_h;
    for (const auto& s : list.items) b << row(s);
    b << "</tbody></table></div>"_h
      << html::pager("/sensors?q=" + http::url_encode(q) + "&status=" + http::url_encode(status), pg, 50,
                     list.total);
    return html::layout(opts(req, "Sensors", "sensors"), &id, b);
  });
}

}  // namespace d4::web::pages
