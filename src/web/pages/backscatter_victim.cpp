// /backscatter/{ip} — One backscatter victim: flags, services, intensity chart.
#include <cstdio>

#include "web/models/backscatter.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

using models::VictimDetail;

// "12.5 %" of the victim's packets.
class Share {
 public:
  explicit Share(const VictimDetail& v) : total_(std::max(1.0, static_cast<double>(v.packets.value_or(0)))) {}
  std::string operator()(long long count) const {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f %%", 100.0 * static_cast<double>(count) / total_);
    return buf;
  }

 private:
  double total_;
};

Html cards(const VictimDetail& v) {
  Html h = "<p class=\"mono big\">"_h;
  h << v.victim << "</p>"_h;
  if (v.expired)
    h << "<p class=\"status\">The details of this victim expired (no backscatter for longer than the "
         "victim retention of d4-pibs); only its totals remain.</p>"_h;
  h << "<section class=\"cards\">"_h << stat_card(number_or_empty(v.packets), "backscatter packets")
    << stat_card(html::format_time(v.first_seen), "first seen", true)
    << stat_card(html::format_time(v.last_seen), "last seen", true)
    << stat_card(std::to_string(v.distinct_ports), "source ports (attacked services)") << "</section>"_h
    << "<section class=\"charts\">"_h
    << chart("/api/v1/backscatter/victims/" + http::url_encode(v.victim) + "/series", "intensity",
             "Attack intensity: backscatter packets over time", "line", "time steps")
    << "</section>"_h;
  return h;
}

Html flag_mix(const VictimDetail& v, const Share& share) {
  Html h = "<div><h2>Flag mix</h2><table>"_h;
  h << table_head({"Answer", "Packets", "Share"}) << "<tbody>"_h;
  const auto& f = v.flags;
  for (auto [count, label] : {std::pair<long long, const char*>{f.syn_ack, "SYN-ACK (port open)"},
                              {f.rst_ack, "RST-ACK (port closed)"},
                              {f.rst, "RST"},
                              {f.ack, "ACK"},
                              {f.other, "other flags"},
                              {f.ece, "of which ECE set"}})
    h << "<tr><td>"_h << label << "</td><td class=\"num\">"_h << count << "</td><td class=\"num\">"_h
      << share(count) << "</td></tr>"_h;
  return h << "</tbody></table></div>"_h;
}

Html services(const VictimDetail& v, const Share& share) {
  Html h = "<div><h2>Attacked services (source ports)</h2><table>"_h;
  h << table_head({"Port", "Service", "Packets", "Share"}) << "<tbody>"_h;
  for (const auto& p : v.ports)
    h << "<tr><td class=\"num\">"_h << p.port << "</td><td>"_h << p.service.value_or("")
      << "</td><td class=\"num\">"_h << p.packets << "</td><td class=\"num\">"_h << share(p.packets)
      << "</td></tr>"_h;
  if (v.ports.empty()) h << empty_row(4, "No port recorded.");
  h << "</tbody></table>"_h;
  if (v.distinct_ports > static_cast<long long>(v.ports.size()))
    h << "<p>The "_h << v.ports.size() << " most answered of "_h << v.distinct_ports << " ports.</p>"_h;
  return h << "</div>"_h;
}

}  // namespace

void backscatter_victim(WebApp& app, Routes& r) {
  r.page("/backscatter/{ip}", Role::User, [&app](http::Request& req, const Identity& id) {
    Scope::of(app.db(), id).require_unrestricted();  // server-wide results (api/backscatter.cpp)
    auto v = models::Backscatter(app.db(), app.config()).victim(req.params["ip"], 50);
    Share share(v);
    const std::string api = "/api/v1/backscatter/victims/";
    Html b = cards(v);
    b << "<section class=\"grid2\">"_h << flag_mix(v, share) << services(v, share)
      << "</section><p><a href=\"/backscatter\">All victims</a> · the same data as JSON: "_h
      << html::link(api + http::url_encode(v.victim), api + v.victim) << "</p>"_h;
    return html::layout(opts(req, "Backscatter victim", "backscatter"), &id, b);
  });
}

}  // namespace d4::web::pages
