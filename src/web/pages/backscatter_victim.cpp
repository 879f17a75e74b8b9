// /backscatter/{ip} — One backscatter victim: flags, services, intensity chart.
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

void backscatter_victim(WebApp& app, http::Router& r) {
  app.page(r, "/backscatter/{ip}", Role::User, [&app](http::Request& req, const Identity& id) {
    auto v = app.backscatter_victim(app.db(), req.params["ip"], 50);
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
}

}  // namespace d4::web::pages
