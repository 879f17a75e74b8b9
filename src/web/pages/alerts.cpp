// /alerts — The alerts of d4-alerts (firing first, since when) and the alert rules.
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {
std::string parameters_text(const alerts::Rule& rule) {
  json j = rule.to_json();
  std::string out;
  for (const char* k : {"target", "interval_seconds", "window_seconds", "threshold", "fill_ratio",
                        "stall_seconds", "reasons", "renotify_seconds", "resolve_seconds"})
    if (j.contains(k) && !(j[k].is_string() && j[k].get<std::string>().empty()) &&
        !(j[k].is_array() && j[k].empty()))
      out += (out.empty() ? "" : ", ") + std::string(k) + " " +
             (j[k].is_string() ? j[k].get<std::string>() : j[k].dump());
  return out;
}

Html rules_table(const models::RuleList& rules) {
  Html b = "<div class=\"scroll\"><table class=\"rules\">"_h;
  b << table_head({"Rule", "Kind", "Scope", "Parameters", "Channels", "Enabled", ""}) << "<tbody>"_h;
  for (const auto& v : rules.items) {
    const auto& rule = v.rule;
    std::string channels;
    for (const auto& c : rule.channels) channels += (channels.empty() ? "" : ", ") + c;
    b << "<tr><td>"_h << html::link("/alerts/rules/" + rule.id, rule.display_name()) << "</td><td>"_h
      << alerts::to_string(rule.kind) << "</td><td class=\"mono\">"_h << rule.scope.to_string()
      << "</td><td>"_h << parameters_text(rule) << "</td><td>"_h
      << (channels.empty() ? std::string("all") : channels) << "</td><td>"_h << yesno(rule.enabled)
      << "</td><td>"_h << (v.editable ? html::link("/alerts/rules/" + rule.id, "edit") : Html())
      << "</td></tr>"_h;
  }
  if (rules.items.empty()) b << empty_row(7, "No alert rule yet.");
  b << "</tbody></table></div>"_h;
  for (const auto& bad : rules.invalid)
    b << "<p class=\"status error\">A stored rule does not parse and is ignored: "_h << bad << "</p>"_h;
  return b;
}

Html status_links(const std::string& shown) {
  Html h = "<p>Show: "_h;
  for (const char* which : {"firing", "resolved", "all"})
    h << (which == shown ? "<strong>"_h << which << "</strong> "_h
                         : html::link(std::string("/alerts?status=") + which, which) << " "_h);
  return h << "</p>"_h;
}
}  // namespace

void alerts(WebApp& app, Routes& r) {
  r.page("/alerts", Role::User, [&app](http::Request& req, const Identity& id) {
    models::Alerts a(app.db(), app.config());
    std::string status = param(req, "status", "firing");
    if (status != "resolved" && status != "all") status = "firing";
    auto scope = Scope::of(app.db(), id);
    auto list = a.list({status == "all" ? "" : status, {}, {}}, scope);
    auto last = list.daemon.find("last_evaluation");
    Html b = "<section class=\"cards\">"_h;
    b << stat_card(std::to_string(list.firing), "firing")
      << stat_card(last == list.daemon.end() ? std::string("never")
                                             : html::format_time(models::to_ll(last->second)),
                   "last evaluation by d4-alerts", true)
      << "</section><section><h2>Alerts</h2>"_h << status_links(status) << alert_table(list.items)
      << "</section><section><h2>Rules</h2><p><a class=\"btn primary\" href=\"/alerts/rules/new\">Add a "
         "rule</a> <a class=\"btn\" href=\"/alerts/channels\">Organisation's channels</a></p>"_h
      << rules_table(a.rules(id.role, scope)) << "</section>"_h;
    return html::layout(opts(req, "Alerts", "alerts"), &id, b);
  });
}

}  // namespace d4::web::pages
