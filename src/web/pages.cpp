// HTML pages. They render the same data as the JSON API (data.cpp) and act through it.
#include <algorithm>
#include <ctime>

#include "web/html.hpp"
#include "web/users.hpp"

namespace d4::web {
namespace html {

std::string format_time(long long t) {
  if (t <= 0) return "";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string format_time(const json& v) {
  if (v.is_number()) return format_time(static_cast<long long>(v.get<double>()));
  return "never";
}

namespace {
std::string nav_link(const std::string& href, const std::string& label, const std::string& key,
                     const std::string& active) {
  return "<li><a href=\"" + href + "\"" + (key == active ? " aria-current=\"page\"" : "") + ">" + label +
         "</a></li>";
}
std::string badge(const std::string& text, const std::string& kind) {
  return "<span class=\"badge " + kind + "\">" + esc(text) + "</span>";
}
}  // namespace

http::Response layout(const PageOptions& o, const Identity* id, const std::string& body, int status) {
  std::string h;
  h.reserve(body.size() + 4096);
  h += "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
       "<title>" +
       esc(o.title) +
       " · D4</title>"
       "<link rel=\"stylesheet\" href=\"/static/style.css\">";
  if (id && id->via_session) h += "<meta name=\"csrf-token\" content=\"" + esc(id->csrf) + "\">";
  h += "<script type=\"module\" src=\"/static/app.js\"></script></head><body>"
       "<a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"top\"><a class=\"brand\" "
       "href=\"/\">D4</a>";
  if (id && !id->must_change_password) {
    h += "<nav aria-label=\"Main\"><ul>";
    h += nav_link("/", "Dashboard", "dashboard", o.active);
    h += nav_link("/sensors", "Sensors", "sensors", o.active);
    h += nav_link("/server", "Server", "server", o.active);
    h += nav_link("/queues", "Analyzer queues", "queues", o.active);
    h += nav_link("/backscatter", "Backscatter", "backscatter", o.active);
    if (role_allows(id->role, Role::Admin)) h += nav_link("/users", "Users", "users", o.active);
    h += nav_link("/profile", "My account", "profile", o.active);
    h += "</ul></nav>";
  }
  if (id && id->via_session)
    h += "<form class=\"logout\" method=\"post\" action=\"/logout\"><input type=\"hidden\" "
         "name=\"csrf_token\" value=\"" +
         esc(id->csrf) + "\"><span class=\"who\">" + esc(id->user) + " (" +
         esc(std::string(to_string(id->role))) +
         ")</span> <button type=\"submit\" class=\"btn small\">Sign out</button></form>";
  h += "</header><main id=\"main\"><h1>" + esc(o.title) + "</h1>";
  h += "<div id=\"status\" role=\"status\" aria-live=\"polite\" class=\"status";
  if (!o.error.empty())
    h += " error\">" + esc(o.error);
  else if (!o.flash.empty())
    h += " ok\">" + esc(o.flash);
  else
    h += "\">";
  h += "</div>" + body + "</main></body></html>";
  return http::Response::text(status, std::move(h), "text/html; charset=utf-8");
}

http::Response error_page(int status, const std::string& message, const Identity* id) {
  std::string title = status == 403   ? "Forbidden"
                      : status == 404 ? "Not found"
                                      : "Error " + std::to_string(status);
  return layout({title, "", "", ""}, id,
                "<p>" + esc(message) + "</p><p><a href=\"/\">Back to the dashboard</a></p>", status);
}

http::Response login_page(const std::string& next, const std::string& csrf, const std::string& error) {
  std::string b =
      "<form class=\"card narrow\" method=\"post\" action=\"/login\">"
      "<input type=\"hidden\" name=\"csrf_token\" value=\"" +
      esc(csrf) +
      "\">"
      "<input type=\"hidden\" name=\"next\" value=\"" +
      esc(next) +
      "\">"
      "<label for=\"username\">E-mail</label><input id=\"username\" name=\"username\" type=\"email\" "
      "autocomplete=\"username\" required autofocus>"
      "<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" "
      "autocomplete=\"current-password\" required>"
      "<button class=\"btn primary\" type=\"submit\">Sign in</button></form>";
  return layout({"Sign in", "", "", error}, nullptr, b);
}

http::Response change_password_page(const Identity& id, const std::string& error) {
  std::string b;
  if (id.must_change_password) b += "<p>You must choose a new password before going on.</p>";
  b += "<form class=\"card narrow\" method=\"post\" action=\"/change_password\">"
       "<input type=\"hidden\" name=\"csrf_token\" value=\"" +
       esc(id.csrf) +
       "\">"
       "<label for=\"current_password\">Current password</label><input id=\"current_password\" "
       "name=\"current_password\" type=\"password\" autocomplete=\"current-password\" required>"
       "<label for=\"password1\">New password</label><input id=\"password1\" name=\"password1\" "
       "type=\"password\" autocomplete=\"new-password\" minlength=\"10\" maxlength=\"100\" required "
       "aria-describedby=\"pwrule\">"
       "<p id=\"pwrule\" class=\"hint\">10 to 100 characters, with at least 2 digits, 1 lower-case and 1 "
       "upper-case letter.</p>"
       "<label for=\"password2\">New password again</label><input id=\"password2\" name=\"password2\" "
       "type=\"password\" autocomplete=\"new-password\" required>"
       "<button class=\"btn primary\" type=\"submit\">Change password</button></form>";
  return layout({"Change password", "profile", "", error}, &id, b);
}

std::string api_form_open(const Identity& id, const std::string& method, const std::string& action,
                          const std::string& next, const std::string& extra) {
  std::string f = "<form method=\"post\" class=\"api\" action=\"" + esc(action) + "\" data-method=\"" +
                  esc(method) + "\"" + (extra.empty() ? "" : " " + extra) +
                  "><input type=\"hidden\" name=\"csrf_token\" value=\"" + esc(id.csrf) +
                  "\"><input type=\"hidden\" name=\"next\" value=\"" + esc(next) + "\">";
  if (method != "POST") f += "<input type=\"hidden\" name=\"_method\" value=\"" + esc(method) + "\">";
  return f;
}

std::string api_button(const Identity& id, const std::string& method, const std::string& action,
                       const std::string& next, const std::string& label, const std::string& confirm,
                       const std::string& css_class) {
  std::string extra = "data-reload";
  if (!confirm.empty()) extra += " data-confirm=\"" + esc(confirm) + "\"";
  return api_form_open(id, method, action, next, extra) + "<button type=\"submit\" class=\"" +
         esc(css_class) + "\">" + esc(label) + "</button></form>";
}

std::string pager(const std::string& base, long long page, long long per_page, long long total,
                  const std::string& page_param) {
  long long pages = std::max<long long>(1, (total + per_page - 1) / per_page);
  if (pages <= 1) return "";
  std::string sep = base.find('?') == std::string::npos ? "?" : "&";
  std::string h = "<nav class=\"pager\" aria-label=\"Pages\">";
  if (page > 1)
    h += "<a href=\"" + esc(base + sep + page_param + "=" + std::to_string(page - 1)) + "\">Previous</a> ";
  h += "<span>page " + std::to_string(page) + " of " + std::to_string(pages) + "</span>";
  if (page < pages)
    h += " <a href=\"" + esc(base + sep + page_param + "=" + std::to_string(page + 1)) + "\">Next</a>";
  return h + "</nav>";
}

}  // namespace html

using html::esc;

namespace {
html::PageOptions opts(const http::Request& req, std::string title, std::string active) {
  html::PageOptions o{std::move(title), std::move(active), "", ""};
  if (auto it = req.query.find("flash"); it != req.query.end()) o.flash = it->second;
  if (auto it = req.query.find("error"); it != req.query.end()) o.error = it->second;
  return o;
}
std::string s(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
}
std::string n(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return std::to_string(static_cast<long long>(v.get<double>()));
  return s(v);
}
std::string human_bytes(long long b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int i = 0;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", v, units[i]);
  return buf;
}
std::string yesno(bool b) {
  return b ? "yes" : "no";
}
std::string sensor_link(const std::string& u) {
  return "<a class=\"mono\" href=\"/sensors/" + esc(u) + "\">" + esc(u) + "</a>";
}
std::string param(const http::Request& req, const std::string& k, const std::string& def = {}) {
  auto it = req.query.find(k);
  return it == req.query.end() ? def : it->second;
}
long long int_param(const http::Request& req, const std::string& k, long long def) {
  try {
    auto v = param(req, k);
    return v.empty() ? def : std::stoll(v);
  } catch (const std::exception&) {
    return def;
  }
}
std::string chart(const std::string& url, const std::string& field, const std::string& label,
                  const std::string& kind = "line", const std::string& x_unit = "days") {
  return "<figure class=\"chart\" data-chart=\"" + esc(url) + "\" data-field=\"" + esc(field) +
         "\" data-kind=\"" + kind + "\" data-unit=\"" + esc(x_unit) + "\"><figcaption>" + esc(label) +
         "</figcaption><div class=\"plot\" aria-hidden=\"true\"></div>"
         "<noscript>Charts need JavaScript; the same data is at <a href=\"" +
         esc(url) + "\">" + esc(url) + "</a>.</noscript></figure>";
}
// A figure with its label; `value_html` is already escaped.
std::string stat_card(const std::string& value_html, const std::string& label, bool small = false,
                      const std::string& value_id = {}) {
  return std::string("<div class=\"card stat\"><span class=\"value") + (small ? " small" : "") + "\"" +
         (value_id.empty() ? "" : " id=\"" + esc(value_id) + "\"") + ">" + value_html +
         "</span><span class=\"label\">" + esc(label) + "</span></div>";
}
std::string table_head(std::initializer_list<std::string> columns) {
  std::string h = "<thead><tr>";
  for (const auto& c : columns) h += "<th scope=\"col\">" + esc(c) + "</th>";
  return h + "</tr></thead>";
}
std::string empty_row(int columns, const std::string& text) {
  return "<tr><td colspan=\"" + std::to_string(columns) + "\">" + esc(text) + "</td></tr>";
}
std::string victim_link(const std::string& ip) {
  return "<a class=\"mono\" href=\"/backscatter/" + esc(http::url_encode(ip)) + "\">" + esc(ip) + "</a>";
}
}  // namespace

void WebApp::add_page_routes(http::Router& r) {
  // ---- dashboard ----
  page(r, "/", Role::User, [this](http::Request& req, const Identity& id) {
    auto d = dashboard(db());
    std::string b = "<section class=\"cards\">";
    b += stat_card(std::to_string(d["connected_sensors"].size()), "connected sensors", false,
                   "connected-count");
    b += stat_card(n(d["sensors_seen_today"]), "sensors seen today");
    b += stat_card(n(d["registered_sensors"]) + " / " + n(d["pending_sensors"]), "registered / pending");
    b += stat_card(n(d["health"]["backlog_packets"]), "packets waiting for workers") + "</section>";

    b += "<section><h2>Today by type (" + esc(s(d["date"])) + ")</h2><table>" +
         table_head({"Type", "Packets", "Bytes"}) + "<tbody>";
    for (const auto& t : d["types_today"])
      b += "<tr><td>" + esc(s(t["type"])) + "</td><td class=\"num\">" + n(t["packets"]) +
           "</td><td class=\"num\">" + human_bytes(t["bytes"].get<long long>()) + "</td></tr>";
    if (d["types_today"].empty()) b += empty_row(3, "No data received today.");
    b += "</tbody></table></section>";
    b += "<section class=\"charts\">" +
         chart("/api/v1/stats/daily?days=14", "packets_by_type", "Packets per type, last 14 days") +
         chart("/api/v1/stats/daily?days=14", "bytes_by_type", "Bytes per type, last 14 days") +
         chart("/api/v1/stats/daily?days=14", "packets_by_sensor",
               "Packets per sensor (top sensors), last 14 days") +
         "</section>";

    b += "<section><h2>Connected sensors</h2><ul class=\"plain\">";
    for (const auto& u : d["connected_sensors"]) b += "<li>" + sensor_link(s(u)) + "</li>";
    if (d["connected_sensors"].empty()) b += "<li>None.</li>";
    b += "</ul><h2>Sensors in error</h2><ul class=\"plain\">";
    for (const auto& u : d["sensors_in_error"])
      b += "<li>" + sensor_link(s(u)) + " " + html::badge("silent", "bad") + "</li>";
    if (d["sensors_in_error"].empty()) b += "<li>None.</li>";
    b += "</ul></section>";

    const auto& h = d["health"];
    b += "<section><h2>Server health</h2><table>" + table_head({"Component", "State", "Detail"}) + "<tbody>";
    for (auto& [name, v] : h["redis"].items())
      b += "<tr><td>Redis " + esc(name) + "</td><td>" +
           (v["ok"].get<bool>() ? "<span class=\"badge ok\">up</span>"
                                : "<span class=\"badge bad\">down</span>") +
           "</td><td>" + esc(s(v["endpoint"])) + ", ping " +
           std::to_string(v["latency_ms"].get<double>()).substr(0, 5) + " ms</td></tr>";
    for (const auto& w : h["workers"])
      b += "<tr><td>Workers type " + n(w["type"]) + "</td><td>" + n(w["working_sessions"]) + " working / " +
           n(w["sessions"]) + " sessions</td><td>" + n(w["backlog_packets"]) + " packets waiting</td></tr>";
    b += "<tr><td>Ingest server metrics</td><td>" +
         std::string(h["ingest"]["reachable"].get<bool>() ? "<span class=\"badge ok\">reachable</span>"
                                                          : "<span class=\"badge\">not reachable</span>") +
         "</td><td>" + esc(s(h["ingest"]["url"])) + "</td></tr>";
    long long refused = 0;
    std::string detail;
    for (auto& [name, v] : h["web"].items()) {
      if (name == "open_connections" || name == "login_failures") continue;
      refused += v.get<long long>();
      if (v.get<long long>() > 0) detail += (detail.empty() ? "" : ", ") + esc(name) + " " + n(v);
    }
    b += "<tr><td>Web interface budgets</td><td>" + std::to_string(refused) + " refused</td><td>" +
         (detail.empty() ? std::string("nothing refused") : detail) + "</td></tr></tbody></table></section>";
    return html::layout(opts(req, "Dashboard", "dashboard"), &id, b);
  });

  // ---- sensors ----
  page(r, "/sensors", Role::User, [this](http::Request& req, const Identity& id) {
    std::string q = param(req, "q"), status = param(req, "status", "all");
    long long pg = int_param(req, "page", 1);
    auto list = sensors(db(), q, status, pg, 50);
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

  page(r, "/sensors/{uuid}", Role::User, [this](http::Request& req, const Identity& id) {
    auto u = require_uuid(req.params["uuid"]);
    auto d = sensor(db(), u);
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
      b += html::api_button(id, "POST", base + "/kick", here, "Kick", "Close this sensor's connections?",
                            "btn");
    if (admin) {
      b += d["blocked"].get<bool>() ? html::api_button(id, "DELETE", base + "/block", here, "Unblock UUID")
                                    : html::api_button(id, "POST", base + "/block", here, "Block UUID",
                                                       "Refuse this sensor?", "btn danger");
      b += d["ips_blocked"].get<bool>()
               ? html::api_button(id, "DELETE", base + "/block-ips", here, "Stop blocking its IPs")
               : html::api_button(id, "POST", base + "/block-ips", here, "Block its IPs",
                                  "Block every IP presenting this UUID?", "btn danger");
    }
    if (!d["errors"].empty() || !d["rejects"].empty())
      b += html::api_button(id, "DELETE", base + "/errors", here, "Clear errors");
    if (admin)
      b += html::api_button(id, "DELETE", base, "/sensors", "Delete sensor",
                            "Delete this sensor's registration, key and metadata?", "btn danger");
    b += "</div></section>";

    // Settings.
    b += "<section class=\"grid2\"><div class=\"card\"><h2>Description and tags</h2>";
    b += html::api_form_open(id, "PUT", base + "/description", here, "data-reload") +
         "<label for=\"description\">Description</label><input id=\"description\" name=\"description\" "
         "maxlength=\"1000\" value=\"" +
         esc(s(d["description"])) +
         "\"><button class=\"btn\" type=\"submit\">Save description</button></form>";
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

    b += "<section class=\"charts\">" +
         chart(base + "/stats?days=7", "packets_by_type", "Packets per type, last 7 days", "bar") +
         chart(base + "/stats?days=7", "bytes_by_type", "Bytes per type, last 7 days", "bar") + "</section>";

    b += "<section class=\"grid2\"><div><h2>Types</h2><table>" +
         table_head({"Type", "Connected", "First seen", "Last seen"}) + "<tbody>";
    auto type_row = [&](const std::string& label, const json& t) {
      b += "<tr><td>" + esc(label) + "</td><td>" + yesno(t["connected"].get<bool>()) + "</td><td>" +
           html::format_time(t["first_seen"]) + "</td><td>" + html::format_time(t["last_seen"]) +
           "</td></tr>";
    };
    for (const auto& t : d["types"]) type_row(s(t["type"]), t);
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
    b += "</tbody></table><div class=\"scroll\"><table>" +
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
    return html::layout(opts(req, "Sensor", "sensors"), &id, b);
  });

  // ---- server management ----
  page(r, "/server", Role::User, [this](http::Request& req, const Identity& id) {
    auto& d = db();
    auto info = server_info(d);
    const bool admin = role_allows(id.role, Role::Admin);
    std::string ipq = param(req, "ipq"), uq = param(req, "uq");
    long long ipp = int_param(req, "ippage", 1), up = int_param(req, "upage", 1);
    auto ips = blocklist(d, true, ipq, ipp, 100);
    auto uuids = blocklist(d, false, uq, up, 100);
    std::string b = "<section class=\"cards\">";
    b += stat_card(esc(s(info["mode"])), "server mode", true);
    b += stat_card(esc(s(info["default_key"]["status"])), "default HMAC key", true);
    b += stat_card(n(info["registered_count"]), "registered sensors");
    b += stat_card(n(info["pending_count"]), "pending registrations") + "</section>";

    b += "<section><h2>Pending registrations</h2><table>" + table_head({"UUID", "Actions"}) + "<tbody>";
    for (const auto& u : info["pending"]) {
      std::string base = "/api/v1/sensors/" + s(u);
      b += "<tr><td>" + sensor_link(s(u)) + "</td><td class=\"actions\">";
      if (admin)
        b += html::api_button(id, "POST", base + "/approve", "/server", "Approve", "", "btn primary") +
             html::api_button(id, "POST", base + "/reject", "/server", "Reject", "Reject this registration?",
                              "btn danger");
      b += "</td></tr>";
    }
    if (info["pending"].empty()) b += empty_row(2, "None.");
    b += "</tbody></table>";
    if (admin)
      b += html::api_form_open(id, "POST", "/api/v1/sensors/{uuid}/approve", "/server",
                               "data-reload data-path-field=\"uuid\"") +
           "<label for=\"approve-uuid\">Approve a sensor by UUID</label><input id=\"approve-uuid\" "
           "name=\"uuid\" required pattern=\"[0-9A-Fa-f-]{32,36}\">"
           "<button class=\"btn\" type=\"submit\">Approve</button></form>";
    b += "</section>";

    b += "<section class=\"grid2\"><div class=\"card\"><h2>Accepted types</h2><ul class=\"plain\">";
    for (const auto& t : info["accepted_types"]) {
      b += "<li>" + n(t);
      if (admin)
        b += html::api_button(id, "DELETE", "/api/v1/server/types/" + n(t), "/server", "Remove",
                              "Stop accepting this type?", "btn small");
      b += "</li>";
    }
    b += "</ul>";
    if (admin)
      b += html::api_form_open(id, "POST", "/api/v1/server/types", "/server", "data-reload") +
           "<label for=\"new-type\">Add a type (1–254)</label><input id=\"new-type\" name=\"type\" "
           "type=\"number\" min=\"1\" max=\"254\" required>"
           "<button class=\"btn\" type=\"submit\">Add type</button></form>";
    b += "</div><div class=\"card\"><h2>Accepted extended types</h2><ul class=\"plain\">";
    for (const auto& t : info["accepted_extended_types"]) {
      b += "<li>" + esc(s(t));
      if (admin)
        b += html::api_button(id, "DELETE", "/api/v1/server/extended-types/" + http::url_encode(s(t)),
                              "/server", "Remove", "Stop accepting this extended type?", "btn small");
      b += "</li>";
    }
    b += "</ul>";
    if (admin)
      b += html::api_form_open(id, "POST", "/api/v1/server/extended-types", "/server", "data-reload") +
           "<label for=\"new-ext\">Add an extended type</label><input id=\"new-ext\" name=\"name\" required "
           "maxlength=\"64\">"
           "<button class=\"btn\" type=\"submit\">Add extended type</button></form>";
    b += "</div></section>";

    // The two blocklists: add form, search, entries with an unblock button, pages.
    struct BlocklistCard {
      std::string title, api, field, add_label, input_id, input_attrs, query_name, query, list_attrs,
          page_name;
      const json& list;
      long long page;
      std::function<std::string(const std::string&)> entry_html;
      bool may_change;
    };
    auto blocklist_card = [&](const BlocklistCard& c) {
      b += "<div class=\"card\"><h2>" + esc(c.title) + " (" + n(c.list["total"]) + ")</h2>";
      if (c.may_change)
        b += html::api_form_open(id, "POST", c.api, "/server", "data-reload") + "<label for=\"" + c.input_id +
             "\">" + esc(c.add_label) + "</label><input id=\"" + c.input_id + "\" name=\"" + c.field +
             "\" required" + c.input_attrs +
             "><button class=\"btn danger\" type=\"submit\">Block</button></form>";
      b += "<form method=\"get\" action=\"/server\" role=\"search\"><label for=\"" + c.query_name +
           "\">Search</label><input id=\"" + c.query_name + "\" name=\"" + c.query_name +
           "\" type=\"search\" value=\"" + esc(c.query) +
           "\"><button class=\"btn small\" type=\"submit\">Search</button></form><ul class=\"plain\"" +
           c.list_attrs + ">";
      for (const auto& e : c.list["items"]) {
        b += "<li>" + c.entry_html(s(e)) + " ";
        if (c.may_change)
          b += html::api_form_open(id, "DELETE", c.api, "/server", "data-reload") +
               "<input type=\"hidden\" name=\"" + c.field + "\" value=\"" + esc(s(e)) +
               "\"><button class=\"btn small\" type=\"submit\">Unblock</button></form>";
        b += "</li>";
      }
      b += "</ul>" + html::pager("/server?" + c.query_name + "=" + http::url_encode(c.query), c.page, 100,
                                 c.list["total"].get<long long>(), c.page_name);
    };
    b += "<section class=\"grid2\">";
    blocklist_card(
        {"Blocked IPs and networks", "/api/v1/server/blocklist/ips", "ip", "Block an IP or CIDR network",
         "block-ip", " placeholder=\"192.0.2.0/24 or 2001:db8::/32\"", "ipq", ipq, " id=\"blocked-ips\"",
         "ippage", ips, ipp,
         [](const std::string& ip) { return "<span class=\"mono\">" + esc(ip) + "</span>"; }, true});
    b += "</div>";
    blocklist_card({"Blocked sensor UUIDs", "/api/v1/server/blocklist/uuids", "uuid", "Block a sensor UUID",
                    "block-uuid", "", "uq", uq, "", "upage", uuids, up, sensor_link, admin});
    if (!info["ips_blocked_by_uuid"].empty()) {
      b += "<h3>Sensors whose IPs get blocked</h3><ul class=\"plain\">";
      for (const auto& u : info["ips_blocked_by_uuid"]) b += "<li>" + sensor_link(s(u)) + "</li>";
      b += "</ul>";
    }
    b += "</div></section>";
    if (admin) {
      b += "<section class=\"card\"><h2>Kick every connection of a type</h2>" +
           html::api_form_open(
               id, "POST", "/api/v1/server/kick-type/{type}", "/server",
               "data-reload data-path-field=\"type\" data-confirm=\"Close every connection of this type?\"") +
           "<label for=\"kick-type\">Type</label><input id=\"kick-type\" name=\"type\" type=\"number\" "
           "min=\"1\" max=\"255\" required>"
           "<button class=\"btn danger\" type=\"submit\">Kick</button></form></section>";
    }
    return html::layout(opts(req, "Server management", "server"), &id, b);
  });

  // ---- analyzer queues ----
  page(r, "/queues", Role::User, [this](http::Request& req, const Identity& id) {
    auto& d = db();
    std::string b =
        "<p><a class=\"btn primary\" href=\"/queues/new\">Create a queue</a></p><div "
        "class=\"scroll\"><table>" +
        table_head({"Queue", "Receives", "Group", "Description", "Length", "Max size", "Pushed", "Dropped",
                    "Last push"}) +
        "<tbody>";
    auto list = d.queue_store.list();
    for (const auto& q : list) {
      auto j = queue_json(d, q);
      b += "<tr><td><a class=\"mono\" href=\"/queues/" + esc(q.id) + "\">" + esc(q.id) + "</a></td><td>" +
           esc(q.target.type == 254 ? "254: " + q.target.extended_type : std::to_string(q.target.type)) +
           "</td><td>" + (q.group ? std::to_string(q.sensors.size()) + " sensors" : "all sensors") +
           "</td><td>" + esc(q.description) + "</td><td class=\"num\">" + n(j["stats"]["length"]) +
           "</td><td class=\"num\">" + n(j["effective_max_size"]) + "</td><td class=\"num\">" +
           n(j["stats"]["pushed"]) + "</td><td class=\"num\">" + n(j["stats"]["dropped"]) + "</td><td>" +
           html::format_time(j["stats"]["last_push"]) + "</td></tr>";
    }
    if (list.empty()) b += empty_row(9, "No analyzer queue yet.");
    b += "</tbody></table></div>";
    return html::layout(opts(req, "Analyzer queues", "queues"), &id, b);
  });

  page(r, "/queues/new", Role::User, [this](http::Request& req, const Identity& id) {
    auto info = server_info(db());
    std::string b = html::api_form_open(id, "POST", "/api/v1/queues", "/queues",
                                        "data-goto=\"/queues/{queue.id}\" class=\"card\"");
    b += "<label for=\"type\">Type</label><select id=\"type\" name=\"type\"><option value=\"\">(extended "
         "type below)</option>";
    for (const auto& t : info["accepted_types"])
      if (t.get<int>() != 2 && t.get<int>() != 254) b += "<option>" + n(t) + "</option>";
    b += "</select><label for=\"extended_type\">or extended type (type 254)</label><select "
         "id=\"extended_type\" name=\"extended_type\"><option value=\"\">(none)</option>";
    for (const auto& t : info["accepted_extended_types"]) b += "<option>" + esc(s(t)) + "</option>";
    b +=
        "</select><label for=\"qid\">Queue UUID (empty: random)</label><input id=\"qid\" name=\"id\" "
        "pattern=\"[0-9A-Fa-f-]{32,36}\">"
        "<label for=\"qdesc\">Description</label><input id=\"qdesc\" name=\"description\" maxlength=\"1000\">"
        "<label for=\"qmax\">Max size (elements; empty: default)</label><input id=\"qmax\" name=\"max_size\" "
        "type=\"number\" min=\"1\">"
        "<label for=\"qsensors\">Sensor group: only these sensor UUIDs (comma or newline separated; empty: "
        "every sensor)</label>"
        "<textarea id=\"qsensors\" name=\"sensors\" rows=\"3\"></textarea>"
        "<button class=\"btn primary\" type=\"submit\">Create queue</button></form>";
    return html::layout(opts(req, "Create an analyzer queue", "queues"), &id, b);
  });

  page(r, "/queues/{id}", Role::User, [this](http::Request& req, const Identity& id) {
    auto& d = db();
    auto q = d.queue_store.get(req.params["id"]);
    if (!q) throw ApiError(404, "There is no such analyzer queue.");
    auto j = queue_json(d, *q);
    std::string base = "/api/v1/queues/" + q->id, here = "/queues/" + q->id;
    std::string b = "<p class=\"mono big\">" + esc(q->id) + "</p><p>Analyzers pop <code>" +
                    esc(q->list_key()) + "</code> in the analyzer database.</p><section class=\"cards\">";
    for (const char* k : {"length", "pushed", "dropped", "consumed"}) b += stat_card(n(j["stats"][k]), k);
    b += stat_card(esc(html::format_time(j["stats"]["last_push"])), "last push", true) + "</section>";
    std::string sensors;
    for (const auto& sn : q->sensors) sensors += sn + "\n";
    if (!role_allows(id.role, Role::Admin)) {
      b += "<p>" + esc(q->description) + "</p><p>Max size: " + n(j["effective_max_size"]) +
           "</p><section><h2>Newest elements</h2><div data-preview=\"" +
           esc(base + "/preview?count=11&max_line_len=500") +
           "\"><pre class=\"preview\">Loading…</pre></div></section>";
      return html::layout(opts(req, "Analyzer queue", "queues"), &id, b);
    }
    b += html::api_form_open(id, "PUT", base, here, "data-reload class=\"card\"") +
         "<label for=\"qdesc\">Description</label><input id=\"qdesc\" name=\"description\" "
         "maxlength=\"1000\" value=\"" +
         esc(q->description) + "\"><label for=\"qmax\">Max size (empty: default " +
         std::to_string(d.queue_store.default_max_size()) +
         ")</label><input id=\"qmax\" name=\"max_size\" type=\"number\" min=\"1\" value=\"" +
         n(j["max_size"]) + "\">";
    if (q->group)
      b += "<label for=\"qsensors\">Sensors of the group</label><textarea id=\"qsensors\" name=\"sensors\" "
           "rows=\"4\">" +
           esc(sensors) + "</textarea>";
    b += "<button class=\"btn primary\" type=\"submit\">Save</button></form><div class=\"actions\">";
    b += html::api_button(id, "POST", base + "/empty", here, "Empty the queue",
                          "Delete every element waiting in this queue?", "btn danger");
    b += html::api_button(id, "DELETE", base, "/queues", "Delete the queue",
                          "Delete this queue and its data?", "btn danger");
    b += "</div><section><h2>Newest elements</h2><div data-preview=\"" +
         esc(base + "/preview?count=11&max_line_len=500") +
         "\"><pre class=\"preview\">Loading…</pre></div></section>";
    return html::layout(opts(req, "Analyzer queue", "queues"), &id, b);
  });

  // ---- backscatter ----
  page(r, "/backscatter", Role::User, [this](http::Request& req, const Identity& id) {
    Input in(req);
    VictimQuery q = parse_victim_query(in);
    q.limit = 50;
    long long pg = in.integer("page").value_or(1);
    if (pg < 1 || pg > 100000) throw ApiError(400, "page must be 1..100000");
    q.offset = (pg - 1) * q.limit;
    auto& d = db();
    auto stats = backscatter_stats(d);
    auto list = backscatter_victims(d, q);
    std::string until_text = q.until_latest ? "latest" : q.until ? std::to_string(*q.until) : "";

    std::string b = "<section class=\"cards\">";
    b += stat_card(n(stats["victims"]), "victims (all time)");
    b += stat_card(n(stats["victims_last_hour"]), "victims seen in the last hour");
    b += stat_card(n(stats["counters"]["backscatter"]), "backscatter packets");
    b += stat_card(n(stats["counters"]["frames"]), "frames analysed");
    b += stat_card(n(stats["counters"]["syn_evicted"]), "SYN senders evicted (memory cap)");
    b += stat_card(esc(stats["latest"].is_null() ? "never" : html::format_time(stats["latest"])),
                   "newest backscatter", true);
    b += "</section>";

    b += "<form class=\"search\" method=\"get\" action=\"/backscatter\" role=\"search\">"
         "<label for=\"q\">Victim</label><input id=\"q\" name=\"q\" type=\"search\" maxlength=\"64\" "
         "value=\"" +
         esc(q.filter) +
         "\" placeholder=\"address, CIDR network or part of an address\">"
         "<label for=\"window\">Ranked by packets in</label><select id=\"window\" name=\"window\">";
    for (auto [secs, label] : {std::pair<long long, const char*>{3600, "the last hour"},
                               {6 * 3600, "the last 6 hours"},
                               {24 * 3600, "the last 24 hours"},
                               {7 * 24 * 3600, "the last 7 days"},
                               {0, "all time"}})
      b += "<option value=\"" + std::to_string(secs) + "\"" + (q.window == secs ? " selected" : "") + ">" +
           label + "</option>";
    b += "</select><label for=\"until\">Window ends</label><select id=\"until\" name=\"until\">"
         "<option value=\"\">now</option><option value=\"latest\"" +
         std::string(q.until_latest ? " selected" : "") + ">at the newest backscatter</option>";
    if (q.until)
      b += "<option value=\"" + std::to_string(*q.until) + "\" selected>" + esc(html::format_time(*q.until)) +
           "</option>";
    b += "</select><button class=\"btn\" type=\"submit\">Show</button></form>";

    if (stats["victims"].get<long long>() == 0) {
      b += "<section class=\"card empty\"><h2>No backscatter results yet</h2><p>d4-pibs writes them when "
           "run with <code>--redis</code> (or <code>redis_output = true</code>); this page reads <code>" +
           esc(s(stats["source"]["redis"])) + "</code> with the key prefix <code>" +
           esc(s(stats["source"]["key_prefix"])) + "</code>.</p></section>";
      return html::layout(opts(req, "Backscatter", "backscatter"), &id, b);
    }
    const bool windowed = q.window > 0;
    b += "<p>" + n(list["total"]) +
         (windowed ? " victims with backscatter between " +
                         esc(html::format_time(list["until"].get<long long>() - q.window)) + " and " +
                         esc(html::format_time(list["until"])) + "."
                   : " victims.");
    if (list["truncated"].get<bool>())
      b += " Only the most recently seen victims were examined; narrow the filter or the window.";
    b += "</p>";
    if (list["items"].empty()) {
      b += "<p class=\"card empty\">No victim matches.";
      if (windowed && !q.until_latest && !list["latest"].is_null())
        b += " The newest backscatter was seen " + esc(html::format_time(list["latest"])) + ": <a href=\"" +
             esc("/backscatter?window=" + std::to_string(q.window) +
                 "&until=latest&q=" + http::url_encode(q.filter)) +
             "\">show the window ending then</a>.";
      b += "</p>";
      return html::layout(opts(req, "Backscatter", "backscatter"), &id, b);
    }
    b += "<div class=\"scroll\"><table class=\"victims\">" +
         table_head({"#", "Victim", windowed ? "Packets in window" : "Packets", "Packets (all time)",
                     "Most answered service", "Source ports", "First seen", "Last seen"}) +
         "<tbody>";
    long long rank = q.offset;
    for (const auto& v : list["items"]) {
      std::string service = "";
      if (!v["top_port"].is_null())
        service = n(v["top_port"]["port"]) +
                  (v["top_port"]["service"].is_null() ? "" : " (" + esc(s(v["top_port"]["service"])) + ")");
      b += "<tr><td class=\"num\">" + std::to_string(++rank) + "</td><td>" + victim_link(s(v["victim"])) +
           "</td><td class=\"num\">" + n(v["packets"]) + "</td><td class=\"num\">" + n(v["packets_total"]) +
           "</td><td>" + service + "</td><td class=\"num\">" + n(v["distinct_ports"]) + "</td><td>" +
           html::format_time(v["first_seen"]) + "</td><td>" + html::format_time(v["last_seen"]) +
           "</td></tr>";
    }
    b += "</tbody></table></div>" +
         html::pager("/backscatter?window=" + std::to_string(q.window) +
                         "&until=" + http::url_encode(until_text) + "&q=" + http::url_encode(q.filter),
                     pg, q.limit, list["total"].get<long long>());
    return html::layout(opts(req, "Backscatter", "backscatter"), &id, b);
  });

  page(r, "/backscatter/{ip}", Role::User, [this](http::Request& req, const Identity& id) {
    auto v = backscatter_victim(db(), req.params["ip"], 50);
    const std::string ip = s(v["victim"]);
    std::string b = "<p class=\"mono big\">" + esc(ip) + "</p>";
    if (v["expired"].get<bool>())
      b += "<p class=\"status\">The details of this victim expired (no backscatter for longer than the "
           "victim retention of d4-pibs); only its totals remain.</p>";
    b += "<section class=\"cards\">";
    b += stat_card(n(v["packets"]), "backscatter packets");
    b += stat_card(esc(html::format_time(v["first_seen"])), "first seen", true);
    b += stat_card(esc(html::format_time(v["last_seen"])), "last seen", true);
    b += stat_card(n(v["distinct_ports"]), "source ports (attacked services)");
    b += "</section>";
    b += "<section class=\"charts\">" +
         chart("/api/v1/backscatter/victims/" + http::url_encode(ip) + "/series", "intensity",
               "Attack intensity: backscatter packets over time", "line", "time steps") +
         "</section>";

    const double total = std::max(1.0, v["packets"].is_number() ? v["packets"].get<double>() : 0.0);
    auto share = [&](const json& count) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.1f %%", 100.0 * count.get<double>() / total);
      return std::string(buf);
    };
    b += "<section class=\"grid2\"><div><h2>Flag mix</h2><table>" +
         table_head({"Answer", "Packets", "Share"}) + "<tbody>";
    for (auto [key, label] : {std::pair<const char*, const char*>{"syn_ack", "SYN-ACK (port open)"},
                              {"rst_ack", "RST-ACK (port closed)"},
                              {"rst", "RST"},
                              {"ack", "ACK"},
                              {"other", "other flags"},
                              {"ece", "of which ECE set"}})
      b += std::string("<tr><td>") + label + "</td><td class=\"num\">" + n(v["flags"][key]) +
           "</td><td class=\"num\">" + share(v["flags"][key]) + "</td></tr>";
    b += "</tbody></table></div><div><h2>Attacked services (source ports)</h2><table>" +
         table_head({"Port", "Service", "Packets", "Share"}) + "<tbody>";
    for (const auto& p : v["ports"])
      b += "<tr><td class=\"num\">" + n(p["port"]) + "</td><td>" + esc(s(p["service"])) +
           "</td><td class=\"num\">" + n(p["packets"]) + "</td><td class=\"num\">" + share(p["packets"]) +
           "</td></tr>";
    if (v["ports"].empty()) b += empty_row(4, "No port recorded.");
    b += "</tbody></table>";
    if (v["distinct_ports"].get<long long>() > static_cast<long long>(v["ports"].size()))
      b += "<p>The " + std::to_string(v["ports"].size()) + " most answered of " + n(v["distinct_ports"]) +
           " ports.</p>";
    b += "</div></section><p><a href=\"/backscatter\">All victims</a> · the same data as JSON: <a href=\"" +
         esc("/api/v1/backscatter/victims/" + http::url_encode(ip)) + "\">" +
         esc("/api/v1/backscatter/victims/" + ip) + "</a></p>";
    return html::layout(opts(req, "Backscatter victim", "backscatter"), &id, b);
  });

  // ---- users ----
  page(r, "/users", Role::Admin, [this](http::Request& req, const Identity& id) {
    std::string b = "<div class=\"scroll\"><table>" +
                    table_head({"User", "Role", "Must change password", "API tokens", "Actions"}) + "<tbody>";
    for (const auto& u : db().user_store.list()) {
      std::string base = "/api/v1/users/" + http::url_encode(u.email);
      b += "<tr><td>" + esc(u.email) + "</td><td>" +
           html::api_form_open(id, "PUT", base, "/users", "data-reload class=\"inline\"") +
           "<label class=\"sr\" for=\"role-" + esc(u.email) + "\">Role</label><select id=\"role-" +
           esc(u.email) + "\" name=\"role\">";
      for (Role r2 : {Role::Admin, Role::User, Role::SensorRegister})
        b += std::string("<option") + (r2 == u.role ? " selected" : "") + ">" + std::string(to_string(r2)) +
             "</option>";
      b += "</select><button class=\"btn small\" type=\"submit\">Save</button></form></td><td>" +
           yesno(u.must_change_password) + "</td><td><ul class=\"plain\">";
      for (const auto& t : u.tokens)
        b += "<li>" + esc(t.name) + " <span class=\"mono\">" + esc(t.id) + "</span> " +
             html::api_button(id, "DELETE", base + "/tokens/" + t.id, "/users", "Revoke",
                              "Revoke this token?", "btn small") +
             "</li>";
      b += "</ul></td><td class=\"actions\">" +
           html::api_form_open(id, "PUT", base, "/users", "data-show-secret=\"password\"") +
           "<input type=\"hidden\" name=\"reset_password\" value=\"1\"><button class=\"btn small\" "
           "type=\"submit\">Reset password</button></form>" +
           html::api_form_open(id, "POST", base + "/tokens", "/users", "data-show-secret=\"token\"") +
           "<input type=\"hidden\" name=\"name\" value=\"issued by admin\"><button class=\"btn small\" "
           "type=\"submit\">New token</button></form>";
      if (u.email != id.user)
        b +=
            html::api_button(id, "DELETE", base, "/users", "Delete", "Delete this user?", "btn small danger");
      b += "</td></tr>";
    }
    b += "</tbody></table></div><section class=\"card\"><h2>Create a user</h2>" +
         html::api_form_open(id, "POST", "/api/v1/users", "/users", "data-show-secret=\"password\"") +
         "<label for=\"email\">E-mail</label><input id=\"email\" name=\"email\" type=\"email\" required "
         "maxlength=\"299\">"
         "<label for=\"role\">Role</label><select id=\"role\" "
         "name=\"role\"><option>user</option><option>admin</option><option>sensor_register</option></select>"
         "<label for=\"upw\">Password (empty: generated and shown once; the user must change "
         "it)</label><input id=\"upw\" name=\"password\" type=\"password\" autocomplete=\"new-password\">"
         "<button class=\"btn primary\" type=\"submit\">Create user</button></form></section>"
         "<output id=\"secret\" class=\"secret-box\" hidden></output>";
    return html::layout(opts(req, "Users", "users"), &id, b);
  });

  page(r, "/profile", Role::User, [this](http::Request& req, const Identity& id) {
    auto u = db().user_store.get(id.user);
    if (!u) throw ApiError(404, "no such user");
    std::string b = "<p>Signed in as <strong>" + esc(u->email) + "</strong>, role <strong>" +
                    esc(std::string(to_string(u->role))) +
                    "</strong>. <a href=\"/change_password\">Change password</a></p><section "
                    "class=\"card\"><h2>API tokens</h2>"
                    "<p>Send a token as <code>Authorization: Bearer &lt;token&gt;</code>. A token is shown "
                    "once, when it is created.</p><ul class=\"plain\">";
    for (const auto& t : u->tokens)
      b += "<li>" + esc(t.name) + " <span class=\"mono\">" + esc(t.id) + "</span> created " +
           esc(html::format_time(t.created)) + " " +
           html::api_button(id, "DELETE", "/api/v1/me/tokens/" + t.id, "/profile", "Revoke",
                            "Revoke this token?", "btn small") +
           "</li>";
    if (u->tokens.empty()) b += "<li>No token.</li>";
    b += "</ul>" +
         html::api_form_open(id, "POST", "/api/v1/me/tokens", "/profile", "data-show-secret=\"token\"") +
         "<label for=\"tname\">Token name</label><input id=\"tname\" name=\"name\" maxlength=\"100\" "
         "value=\"api\">"
         "<button class=\"btn primary\" type=\"submit\">Create a token</button></form><output id=\"secret\" "
         "class=\"secret-box\" hidden></output></section>"
         "<p>The API is described by <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>";
    return html::layout(opts(req, "My account", "profile"), &id, b);
  });
}

}  // namespace d4::web
