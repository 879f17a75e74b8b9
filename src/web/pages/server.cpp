// /server — Server management: registrations, accepted types, blocklists, kicks, refusals.
#include <algorithm>
#include <utility>
#include <vector>

#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

// Every refusal of d4-server with its reason (also those before authentication, which no sensor's
// page shows), the source networks refused most before authentication, and back-pressure.
void refusals_section(std::string& b, const json& r) {
  std::vector<std::pair<std::string, long long>> reasons;
  for (auto& [reason, count] : r["all_time"].items()) reasons.emplace_back(reason, count.get<long long>());
  std::sort(reasons.begin(), reasons.end(), [](auto& x, auto& y) { return x.second > y.second; });
  b += "<section class=\"grid2\"><div class=\"card\"><h2>Refused connections and packets</h2><table>" +
       table_head({"Reason", "Today", "All time"}) + "<tbody>";
  for (auto& [reason, count] : reasons)
    b += "<tr><td>" + esc(reason) + "</td><td>" + std::to_string(r["today"].value(reason, 0LL)) +
         "</td><td>" + std::to_string(count) + "</td></tr>";
  if (reasons.empty()) b += empty_row(3, "None.");
  b += "</tbody></table><h3>Back-pressure (times a session was held)</h3><ul class=\"plain\">";
  for (auto& [cause, count] : r["backpressure"].items()) b += "<li>" + esc(cause) + ": " + n(count) + "</li>";
  if (r["backpressure"].empty()) b += "<li>None.</li>";
  b += "</ul></div><div class=\"card\"><h2>Networks refused most before authentication</h2><p>" +
       n(r["ranked_sources"]) +
       " networks (IPv4 /24, IPv6 /64) ranked; the 20 highest (estimates: a newcomer inherits the count "
       "of the network it replaces).</p><table>" +
       table_head({"Network", "Refusals"}) + "<tbody>";
  for (const auto& src : r["top_sources"])
    b += "<tr><td class=\"mono\">" + esc(s(src["network"])) + "</td><td>" + n(src["rejects"]) + "</td></tr>";
  if (r["top_sources"].empty()) b += empty_row(2, "None.");
  b += "</tbody></table></div></section>";
}

}  // namespace

void server(WebApp& app, http::Router& r) {
  app.page(r, "/server", Role::User, [&app](http::Request& req, const Identity& id) {
    auto& d = app.db();
    auto info = app.server_info(d);
    const bool admin = role_allows(id.role, Role::Admin);
    std::string ipq = param(req, "ipq"), uq = param(req, "uq");
    long long ipp = int_param(req, "ippage", 1), up = int_param(req, "upage", 1);
    auto ips = app.blocklist(d, true, ipq, ipp, 100);
    auto uuids = app.blocklist(d, false, uq, up, 100);
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
      b += "<li>" + esc(type_label(t.get<int>()));
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
    refusals_section(b, info["refusals"]);
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
}

}  // namespace d4::web::pages
