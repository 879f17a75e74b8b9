// /sensors/{uuid} — One sensor: status, actions, settings, key, statistics, types, connections, errors.
#include "web/models/alerts.hpp"
#include "web/models/sensors.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

using models::SensorDetail;

using SensorPage = ViewPage<SensorDetail>;

// The sensor's API resource (where its forms post) and page (where they come back to).
std::string api(const SensorPage& p) {
  return "/api/v1/sensors/" + p.view.info.uuid;
}
std::string here(const SensorPage& p) {
  return "/sensors/" + p.view.info.uuid;
}

Html status_badges(const SensorDetail& s) {
  Html h = s.connected ? html::badge("connected", "ok") : html::badge("not connected", "");
  if (s.info.pending) h << html::badge("pending approval", "warn");
  if (s.info.registered) h << html::badge("registered", "");
  if (s.info.blocked) h << html::badge("UUID blocked", "bad");
  if (s.info.ips_blocked) h << html::badge("its IPs are blocked", "bad");
  if (s.info.temp_blocked) h << html::badge("kicked (temporarily refused)", "warn");
  if (s.monitoring.in_error) h << html::badge("silent for too long", "bad");
  return h;
}

Html facts(const SensorDetail& s) {
  Html h = "<p class=\"mono big\">"_h;
  h << s.info.uuid << "</p><section class=\"cards\">"_h << stat_card(status_badges(s), "status", true)
    << stat_card(html::format_time(s.info.first_seen), "first seen", true)
    << stat_card(html::format_time(s.info.last_seen), "last seen", true)
    << stat_card(s.info.error.empty() ? "none" : s.info.error, "last error", true);
  return h << "</section>"_h;
}

Html actions(const SensorPage& p) {
  const auto& s = p.view;
  auto button = [&](std::string_view method, const std::string& path, std::string_view label,
                    std::string_view confirm = {}, std::string_view css = "btn") {
    return html::api_button(p.id, method, path, here(p), label, confirm, css);
  };
  Html h = "<section><h2>Actions</h2><div class=\"actions\">"_h;
  if (s.info.pending && p.admin) {
    h << button("POST", api(p) + "/approve", "Approve registration", "", "btn primary")
      << button("POST", api(p) + "/reject", "Reject registration", "Reject this pending registration?",
                "btn danger");
  } else if (!s.info.registered && p.admin) {
    h << button("POST", api(p) + "/approve", "Register (approve)");
  } else if (p.admin) {
    h << button("POST", api(p) + "/unregister", "Unregister", "Unregister this sensor?");
  }
  if (p.admin && s.connected)
    h << button("POST", api(p) + "/kick", "Kick", "Close this sensor's connections?");
  if (p.admin) {
    h << (s.info.blocked
              ? button("DELETE", api(p) + "/block", "Unblock UUID")
              : button("POST", api(p) + "/block", "Block UUID", "Refuse this sensor?", "btn danger"));
    h << (s.info.ips_blocked ? button("DELETE", api(p) + "/block-ips", "Stop blocking its IPs")
                             : button("POST", api(p) + "/block-ips", "Block its IPs",
                                      "Block every IP presenting this UUID?", "btn danger"));
  }
  if (!s.info.errors.empty() || !s.info.rejects.empty() || !s.info.backpressure.empty())
    h << button("DELETE", api(p) + "/errors", "Clear errors");
  if (p.admin)
    h << html::api_button(p.id, "DELETE", api(p), "/sensors", "Delete sensor",
                          "Delete this sensor's registration, key and metadata?", "btn danger");
  return h << "</div></section>"_h;
}

// A form that PUTs one field of the sensor and reloads the page.
Html put_form(const SensorPage& p, const std::string& path) {
  return html::api_form_open(p.id, "PUT", api(p) + path, here(p), "data-reload"_h);
}

Html description_and_tags(const SensorPage& p) {
  std::string tags;
  for (const auto& t : p.view.info.tags) tags += (tags.empty() ? "" : ", ") + t;
  Html h = "<div class=\"card\"><h2>Description and tags</h2>"_h;
  h << put_form(p, "/description")
    << "<label for=\"description\">Description</label><input id=\"description\" name=\"description\" "
       "maxlength=\"1000\""_h
    << html::attribute("value", p.view.info.description)
    << "><button class=\"btn\" type=\"submit\">Save description</button></form>"_h << put_form(p, "/tags")
    << "<label for=\"tags\">Tags (comma separated)</label><input id=\"tags\" name=\"tags\""_h
    << html::attribute("value", tags)
    << "><button class=\"btn\" type=\"submit\">Save tags</button></form></div>"_h;
  return h;
}

Html limits_and_monitoring(const SensorPage& p) {
  const auto& s = p.view;
  Html h = "<div class=\"card\"><h2>Limits and monitoring</h2>"_h;
  if (p.admin)
    h << put_form(p, "/backlog")
      << "<label for=\"limit\">Backlog limit (packets per session; empty: server default)</label><input "
         "id=\"limit\" name=\"limit\" type=\"number\" min=\"1\""_h
      << html::attribute("value", number_or_empty(s.info.backlog_limit))
      << "><button class=\"btn\" type=\"submit\">Save limit</button></form>"_h;
  else
    h << "<p>Backlog limit: "_h
      << (s.info.backlog_limit ? std::to_string(*s.info.backlog_limit) : "server default") << "</p>"_h;
  h << put_form(p, "/monitoring")
    << "<label for=\"delta_time\">Alert when silent for more than (seconds)</label><input "
       "id=\"delta_time\" name=\"delta_time\" type=\"number\" min=\"1\" required"_h
    << html::attribute("value", number_or_empty(s.monitoring.delta_time))
    << "><button class=\"btn\" type=\"submit\">"_h << (s.monitoring.enabled ? "Update monitoring" : "Monitor")
    << "</button></form>"_h;
  if (s.monitoring.enabled)
    h << html::api_button(p.id, "DELETE", api(p) + "/monitoring", here(p), "Stop monitoring");
  return h << "</div>"_h;
}

Html key_card(const SensorPage& p) {
  Html h = "<section class=\"card\"><h2>HMAC key</h2><p>"_h;
  h << (p.view.info.has_own_key ? "This sensor has its own key."_h
                                : "This sensor uses the server's default key."_h)
    << "</p><p><button type=\"button\" class=\"btn\""_h << html::attribute("data-reveal-key", api(p) + "/key")
    << " aria-controls=\"key-value\">Reveal key</button> "
       "<output id=\"key-value\" class=\"mono secret\">••••••••</output></p>"_h
    << put_form(p, "/key")
    << "<label for=\"key\">New key (stored exactly as typed)</label><input id=\"key\" name=\"key\" "
       "autocomplete=\"off\" required><button class=\"btn\" type=\"submit\">Set key</button></form>"
       "<div class=\"actions\">"_h
    << html::api_form_open(p.id, "POST", api(p) + "/key/rotate", here(p), "data-show-secret=\"key\""_h)
    << "<button class=\"btn\" type=\"submit\">Generate a new random key</button></form>"_h;
  if (p.view.info.has_own_key)
    h << html::api_button(p.id, "DELETE", api(p) + "/key", here(p), "Use the default key",
                          "Switch this sensor to the default key?");
  return h << "</div></section>"_h;
}

Html settings(const SensorPage& p) {
  Html h = "<section class=\"grid2\">"_h;
  h << description_and_tags(p) << limits_and_monitoring(p) << "</section>"_h;
  if (p.admin) h << key_card(p);
  return h;
}

Html types_and_connections(const SensorDetail& s) {
  Html h = "<section class=\"grid2\"><div><h2>Types</h2><table>"_h;
  h << table_head({"Type", "Connected", "First seen", "Last seen"}) << "<tbody>"_h;
  auto type_row = [&](const std::string& label, const models::SensorType& t) {
    h << "<tr><td>"_h << label << "</td><td>"_h << yesno(t.connected) << "</td><td>"_h
      << html::format_time(t.first_seen) << "</td><td>"_h << html::format_time(t.last_seen) << "</td></tr>"_h;
  };
  for (const auto& t : s.types) type_row(type_label(t.name), t);
  for (const auto& t : s.extended_types) type_row("254: " + t.name, t);
  if (s.types.empty() && s.extended_types.empty()) h << empty_row(4, "No data yet.");
  h << "</tbody></table></div><div><h2>Connection history</h2><table>"_h << table_head({"IP", "Time"})
    << "<tbody>"_h;
  for (const auto& c : s.connection_history)
    h << "<tr><td class=\"mono\">"_h << c.ip << "</td><td>"_h << c.time << "</td></tr>"_h;
  if (s.connection_history.empty()) h << empty_row(2, "No connection recorded.");
  return h << "</tbody></table></div></section>"_h;
}

// Admission limits of d4-server that held the sensor's sessions (cause -> times), next to its
// rejects, and what it has stored that the workers have not processed yet.
Html backpressure(const SensorDetail& s) {
  Html h = "<table>"_h;
  h << table_head({"Held back by", "Times"}) << "<tbody>"_h;
  for (const auto& [cause, count] : s.info.backpressure)
    h << "<tr><td>"_h << cause << "</td><td class=\"num\">"_h << count << "</td></tr>"_h;
  if (s.info.backpressure.empty()) h << empty_row(2, "Never held back.");
  return h << "</tbody></table><p>Stored, not yet processed: "_h << human_bytes(s.info.backlog_bytes)
           << ".</p>"_h;
}

Html rejects_and_errors(const SensorDetail& s) {
  Html h = "<section><h2>Rejects and errors</h2><table>"_h;
  h << table_head({"Reason", "Count"}) << "<tbody>"_h;
  for (const auto& [reason, count] : s.info.rejects)
    h << "<tr><td>"_h << reason << "</td><td class=\"num\">"_h << count << "</td></tr>"_h;
  if (s.info.rejects.empty()) h << empty_row(2, "No rejects.");
  h << "</tbody></table>"_h << backpressure(s) << "<div class=\"scroll\"><table>"_h
    << table_head({"Time", "Reason", "Detail", "IP", "Source"}) << "<tbody>"_h;
  for (const auto* list : {&s.info.errors, &s.info.unauthenticated_errors})
    for (const auto& e : *list)
      h << "<tr><td>"_h << html::format_time(e.time) << "</td><td>"_h << e.reason << "</td><td>"_h << e.detail
        << "</td><td class=\"mono\">"_h << e.ip << "</td><td>"_h << e.source << "</td></tr>"_h;
  if (s.info.errors.empty() && s.info.unauthenticated_errors.empty()) h << empty_row(5, "No errors.");
  return h << "</tbody></table></div></section>"_h;
}

Html history(const SensorPage& p) {
  const std::string stats = api(p) + "/stats?days=7";
  Html h = "<section class=\"charts\">"_h;
  h << chart(stats, "packets_by_type", "Packets per type, last 7 days", "bar")
    << chart(stats, "bytes_by_type", "Bytes per type, last 7 days", "bar") << "</section>"_h
    << types_and_connections(p.view) << rejects_and_errors(p.view);
  if (!p.view.info.user_mail.empty())
    h << "<p>Registered by "_h << p.view.info.user_mail << (p.view.info.third_party ? " (third party)" : "")
      << ".</p>"_h;
  return h;
}

}  // namespace

void sensor(WebApp& app, Routes& r) {
  r.page("/sensors/{uuid}", Role::User, [&app](http::Request& req, const Identity& id) {
    auto u = require_uuid(req.params["uuid"]);
    auto s = models::Sensors(app.db()).detail(u);
    SensorPage p{s, id, role_allows(id.role, Role::Admin)};
    Html b = facts(s);
    b << actions(p) << settings(p) << history(p) << "<section><h2>Alerts</h2>"_h
      << alert_table(models::Alerts(app.db(), app.config()).list({{}, u, {}}, Scope::of(app.db(), id)).items)
      << "<p><a class=\"btn\""_h << html::attribute("href", "/alerts/rules/new?scope=sensor:" + u)
      << ">Add an alert rule for this sensor</a></p></section>"_h;
    return html::layout(opts(req, "Sensor", "sensors"), &id, b);
  });
}

}  // namespace d4::web::pages
