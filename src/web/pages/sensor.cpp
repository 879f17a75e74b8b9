// /sensors/{uuid} — One sensor: status, actions, settings, key, statistics, types, connections, errors.
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

std::string actions(const json& d, const Identity& id, const std::string& base, const std::string& here,
                    bool admin) {
  std::string b;
  // Actions.
  b += "<section><h2>Actions</h2><div class=\"actions\">";
  if (d["pending"].get<bool>() && admin) {
    b += html::api_button(id, "POST", base + "/approve", here, "Approve registration", "", "btn primary");
    b += html::api_button(id, "POST", base + "/reject", here, "Reject registration",
                          "Reject this pending registration?", "btn danger");
  } else if (!d["registered"].get<bool>() && admin) {
    b += html::api_button(id, "POST", base + "/approve", here, "Register (approve)", "", "btn");
  } else if (admin) {
    b += html::api_button(id, "POST", base + "/unregister", here, "Unregister", "Unregister this sensor?",
                          "btn");
  }
  if (admin && d["connected"].get<bool>())
    b +=
        html::api_button(id, "POST", base + "/kick", here, "Kick", "Close this sensor's connections?", "btn");
  if (admin) {
    b += d["blocked"].get<bool>() ? html::api_button(id, "DELETE", base + "/block", here, "Unblock UUID")
                                  : html::api_button(id, "POST", base + "/block", here, "Block UUID",
                                                     "Refuse this sensor?", "btn danger");
    b += d["ips_blocked"].get<bool>()
             ? html::api_button(id, "DELETE", base + "/block-ips", here, "Stop blocking its IPs")
             : html::api_button(id, "POST", base + "/block-ips", here, "Block its IPs",
                                "Block every IP presenting this UUID?", "btn danger");
  }
  if (!d["errors"].empty() || !d["rejects"].empty() || !d["backpressure"].empty())
    b += html::api_button(id, "DELETE", base + "/errors", here, "Clear errors");
  if (admin)
    b += html::api_button(id, "DELETE", base, "/sensors", "Delete sensor",
                          "Delete this sensor's registration, key and metadata?", "btn danger");
  b += "</div></section>";

  return b;
}

// Admission limits of d4-server that held the sensor's sessions (cause -> times), next to its
// rejects, and what it has stored that the workers have not processed yet.
std::string backpressure(const json& d) {
  std::string b = "<table>" + table_head({"Held back by", "Times"}) + "<tbody>";
  for (auto& [cause, count] : d["backpressure"].items())
    b += "<tr><td>" + esc(cause) + "</td><td class=\"num\">" + n(count) + "</td></tr>";
  if (d["backpressure"].empty()) b += empty_row(2, "Never held back.");
  return b +
         "</tbody></table><p>Stored, not yet processed: " + human_bytes(d["backlog_bytes"].get<long long>()) +
         ".</p>";
}

std::string settings(const json& d, const Identity& id, const std::string& base, const std::string& here,
                     bool admin) {
  std::string b;
  // Settings.
  b += "<section class=\"grid2\"><div class=\"card\"><h2>Description and tags</h2>";
  b += html::api_form_open(id, "PUT", base + "/description", here, "data-reload") +
       "<label for=\"description\">Description</label><input id=\"description\" name=\"description\" "
       "maxlength=\"1000\" value=\"" +
       esc(s(d["description"])) + "\"><button class=\"btn\" type=\"submit\">Save description</button></form>";
  std::string tags;
  for (const auto& t : d["tags"]) tags += (tags.empty() ? "" : ", ") + s(t);
  b += html::api_form_open(id, "PUT", base + "/tags", here, "data-reload") +
       "<label for=\"tags\">Tags (comma separated)</label><input id=\"tags\" name=\"tags\" value=\"" +
       esc(tags) + "\"><button class=\"btn\" type=\"submit\">Save tags</button></form></div>";

  b += "<div class=\"card\"><h2>Limits and monitoring</h2>";
  if (admin)
    b += html::api_form_open(id, "PUT", base + "/backlog", here, "data-reload") +
         "<label for=\"limit\">Backlog limit (packets per session; empty: server default)</label><input "
         "id=\"limit\" name=\"limit\" type=\"number\" min=\"1\" value=\"" +
         n(d["backlog_limit"]) + "\"><button class=\"btn\" type=\"submit\">Save limit</button></form>";
  else
    b += "<p>Backlog limit: " +
         (d["backlog_limit"].is_null() ? std::string("server default") : n(d["backlog_limit"])) + "</p>";
  b += html::api_form_open(id, "PUT", base + "/monitoring", here, "data-reload") +
       "<label for=\"delta_time\">Alert when silent for more than (seconds)</label><input "
       "id=\"delta_time\" name=\"delta_time\" type=\"number\" min=\"1\" required value=\"" +
       n(d["monitoring"]["delta_time"]) + "\"><button class=\"btn\" type=\"submit\">" +
       (d["monitoring"]["enabled"].get<bool>() ? "Update monitoring" : "Monitor") + "</button></form>";
  if (d["monitoring"]["enabled"].get<bool>())
    b += html::api_button(id, "DELETE", base + "/monitoring", here, "Stop monitoring");
  b += "</div></section>";

  if (admin) {
    b += "<section class=\"card\"><h2>HMAC key</h2><p>" +
         std::string(d["has_own_key"].get<bool>() ? "This sensor has its own key."
                                                  : "This sensor uses the server's default key.") +
         "</p>";
    b += "<p><button type=\"button\" class=\"btn\" data-reveal-key=\"" + esc(base + "/key") +
         "\" aria-controls=\"key-value\">Reveal key</button> "
         "<output id=\"key-value\" class=\"mono secret\">••••••••</output></p>";
    b += html::api_form_open(id, "PUT", base + "/key", here, "data-reload") +
         "<label for=\"key\">New key (stored exactly as typed)</label><input id=\"key\" name=\"key\" "
         "autocomplete=\"off\" required>"
         "<button class=\"btn\" type=\"submit\">Set key</button></form>";
    b += "<div class=\"actions\">" +
         html::api_form_open(id, "POST", base + "/key/rotate", here, "data-show-secret=\"key\"") +
         "<button class=\"btn\" type=\"submit\">Generate a new random key</button></form>";
    if (d["has_own_key"].get<bool>())
      b += html::api_button(id, "DELETE", base + "/key", here, "Use the default key",
                            "Switch this sensor to the default key?");
    b += "</div></section>";
  }

  return b;
}

std::string history(const json& d, const std::string& base) {
  std::string b;
  b += "<section class=\"charts\">" +
       chart(base + "/stats?days=7", "packets_by_type", "Packets per type, last 7 days", "bar") +
       chart(base + "/stats?days=7", "bytes_by_type", "Bytes per type, last 7 days", "bar") + "</section>";

  b += "<section class=\"grid2\"><div><h2>Types</h2><table>" +
       table_head({"Type", "Connected", "First seen", "Last seen"}) + "<tbody>";
  auto type_row = [&](const std::string& label, const json& t) {
    b += "<tr><td>" + esc(label) + "</td><td>" + yesno(t["connected"].get<bool>()) + "</td><td>" +
         html::format_time(t["first_seen"]) + "</td><td>" + html::format_time(t["last_seen"]) + "</td></tr>";
  };
  for (const auto& t : d["types"])
    type_row(t["type"].is_number() ? type_label(t["type"].get<int>()) : s(t["type"]), t);
  for (const auto& t : d["extended_types"]) type_row("254: " + s(t["name"]), t);
  if (d["types"].empty() && d["extended_types"].empty()) b += empty_row(4, "No data yet.");
  b += "</tbody></table></div><div><h2>Connection history</h2><table>" + table_head({"IP", "Time"}) +
       "<tbody>";
  for (const auto& c : d["connection_history"])
    b += "<tr><td class=\"mono\">" + esc(s(c["ip"])) + "</td><td>" + esc(s(c["time"])) + "</td></tr>";
  if (d["connection_history"].empty()) b += empty_row(2, "No connection recorded.");
  b += "</tbody></table></div></section>";

  b += "<section><h2>Rejects and errors</h2><table>" + table_head({"Reason", "Count"}) + "<tbody>";
  for (auto& [reason, count] : d["rejects"].items())
    b += "<tr><td>" + esc(reason) + "</td><td class=\"num\">" + n(count) + "</td></tr>";
  if (d["rejects"].empty()) b += empty_row(2, "No rejects.");
  b += "</tbody></table>" + backpressure(d) + "<div class=\"scroll\"><table>" +
       table_head({"Time", "Reason", "Detail", "IP", "Source"}) + "<tbody>";
  for (const auto* list : {&d["errors"], &d["unauthenticated_errors"]})
    for (const auto& e : *list)
      b += "<tr><td>" + html::format_time(e["time"]) + "</td><td>" + esc(s(e["reason"])) + "</td><td>" +
           esc(s(e["detail"])) + "</td><td class=\"mono\">" + esc(s(e["ip"])) + "</td><td>" +
           esc(s(e["source"])) + "</td></tr>";
  if (d["errors"].empty() && d["unauthenticated_errors"].empty()) b += empty_row(5, "No errors.");
  b += "</tbody></table></div></section>";
  if (!s(d["user_mail"]).empty())
    b += "<p>Registered by " + esc(s(d["user_mail"])) +
         (d["third_party"].get<bool>() ? " (third party)" : "") + ".</p>";
  return b;
}

}  // namespace

void sensor(WebApp& app, http::Router& r) {
  app.page(r, "/sensors/{uuid}", Role::User, [&app](http::Request& req, const Identity& id) {
    auto u = require_uuid(req.params["uuid"]);
    auto d = app.sensor(app.db(), u);
    const std::string base = "/api/v1/sensors/" + u;
    const std::string here = "/sensors/" + u;
    const bool admin = role_allows(id.role, Role::Admin);
    std::string b = "<p class=\"mono big\">" + esc(u) + "</p><section class=\"cards\">";
    auto fact = [&](const std::string& label, const std::string& value) {
      b += stat_card(value, label, true);
    };
    std::string st;
    if (d["connected"].get<bool>())
      st += html::badge("connected", "ok");
    else
      st += html::badge("not connected", "");
    if (d["pending"].get<bool>()) st += html::badge("pending approval", "warn");
    if (d["registered"].get<bool>()) st += html::badge("registered", "");
    if (d["blocked"].get<bool>()) st += html::badge("UUID blocked", "bad");
    if (d["ips_blocked"].get<bool>()) st += html::badge("its IPs are blocked", "bad");
    if (d["temp_blocked"].get<bool>()) st += html::badge("kicked (temporarily refused)", "warn");
    if (d["monitoring"]["in_error"].get<bool>()) st += html::badge("silent for too long", "bad");
    fact("status", st);
    fact("first seen", esc(html::format_time(d["first_seen"])));
    fact("last seen", esc(html::format_time(d["last_seen"])));
    fact("last error", esc(s(d["error"]).empty() ? "none" : s(d["error"])));
    b += "</section>";

    b += actions(d, id, base, here, admin) + settings(d, id, base, here, admin) + history(d, base);
    return html::layout(opts(req, "Sensor", "sensors"), &id, b);
  });
}

}  // namespace d4::web::pages
