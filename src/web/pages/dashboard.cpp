// / — The dashboard: today's traffic, connected sensors, server health. Built with the escaping
// HTML builder from the typed DashboardView (the same struct /api/v1/dashboard serialises).
#include "web/models/dashboard.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

using models::DashboardView;
using models::HealthView;

Html cards(const DashboardView& d) {
  Html h = "<section class=\"cards\">"_h;
  h << stat_card(html::text(std::to_string(d.connected_sensors.size())), "connected sensors", false,
                 "connected-count")
    << stat_card(std::to_string(d.sensors_seen_today), "sensors seen today")
    << stat_card(std::to_string(d.registered_sensors) + " / " + std::to_string(d.pending_sensors),
                 "registered / pending")
    << stat_card(std::to_string(d.health.backlog_packets), "stream entries waiting for workers");
  return h << "</section>"_h;
}

Html traffic(const DashboardView& d) {
  Html h = "<section><h2>Today by type ("_h;
  h << d.date << ")</h2><table>"_h << table_head({"Type", "Packets", "Bytes"}) << "<tbody>"_h;
  for (const auto& t : d.types_today)
    h << "<tr><td>"_h << type_label(t.type) << "</td><td class=\"num\">"_h << t.packets
      << "</td><td class=\"num\">"_h << human_bytes(t.bytes) << "</td></tr>"_h;
  if (d.types_today.empty()) h << empty_row(3, "No data received today.");
  h << "</tbody></table></section><section class=\"charts\">"_h;
  const std::string url = "/api/v1/stats/daily?days=14";
  h << chart(url, "packets_by_type", "Packets per type, last 14 days")
    << chart(url, "bytes_by_type", "Bytes per type, last 14 days")
    << chart(url, "packets_by_sensor", "Packets per sensor (top sensors), last 14 days");
  return h << "</section>"_h;
}

Html sensor_lists(const DashboardView& d) {
  Html h = "<section><h2>Connected sensors</h2><ul class=\"plain\">"_h;
  for (const auto& u : d.connected_sensors) h << "<li>"_h << sensor_link(u) << "</li>"_h;
  if (d.connected_sensors.empty()) h << "<li>None.</li>"_h;
  h << "</ul><h2>Sensors in error</h2><ul class=\"plain\">"_h;
  for (const auto& u : d.sensors_in_error)
    h << "<li>"_h << sensor_link(u) << " <span class=\"badge bad\">silent</span></li>"_h;
  if (d.sensors_in_error.empty()) h << "<li>None.</li>"_h;
  return h << "</ul></section>"_h;
}

Html health_table(const HealthView& hv) {
  Html h = "<section><h2>Server health</h2><table>"_h;
  h << table_head({"Component", "State", "Detail"}) << "<tbody>"_h;
  for (const auto& p : hv.redis)
    h << "<tr><td>Redis "_h << p.name << "</td><td>"_h
      << (p.ok ? "<span class=\"badge ok\">up</span>"_h : "<span class=\"badge bad\">down</span>"_h)
      << "</td><td>"_h << p.endpoint << ", ping "_h << std::to_string(p.latency_ms).substr(0, 5)
      << " ms</td></tr>"_h;
  for (const auto& w : hv.workers)
    h << "<tr><td>Workers type "_h << type_label(w.type) << "</td><td>"_h << w.working_sessions
      << " working / "_h << w.sessions << " sessions</td><td>"_h << w.backlog_packets
      << " stream entries waiting</td></tr>"_h;
  h << "<tr><td>Ingest server metrics</td><td>"_h
    << (hv.ingest.reachable ? "<span class=\"badge ok\">reachable</span>"_h
                            : "<span class=\"badge\">not reachable</span>"_h)
    << "</td><td>"_h << hv.ingest.url << "</td></tr>"_h;
  std::uint64_t refused = 0;
  Html detail;
  for (const auto& [name, count] : hv.web) {
    if (name == "open_connections" || name == "login_failures") continue;
    refused += count;
    if (count > 0) detail << (detail.empty() ? ""_h : ", "_h) << name << " "_h << count;
  }
  h << "<tr><td>Web interface budgets</td><td>"_h << refused << " refused</td><td>"_h
    << (detail.empty() ? "nothing refused"_h : detail) << "</td></tr></tbody></table></section>"_h;
  return h;
}

}  // namespace

void dashboard(WebApp& app, Routes& r) {
  r.page("/", Role::User, [&app](http::Request& req, const Identity& id) {
    models::Statistics stats(app.db());
    auto scope = Scope::of(app.db(), id);
    auto d =
        stats.dashboard(stats.health(app.config().ingest_metrics_url, app.budget_counters(), scope), scope);
    Html body = cards(d) + traffic(d) + sensor_lists(d) + health_table(d.health);
    return html::layout(opts(req, "Dashboard", "dashboard"), &id, body);
  });
}

}  // namespace d4::web::pages
