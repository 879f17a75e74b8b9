// /queues — The analyzer queue list with statistics.
#include "web/models/queues.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {
Html row(const models::QueueView& v) {
  const auto& q = v.info;
  Html h = "<tr><td>"_h;
  h << html::link("/queues/" + q.id, q.id, "mono") << "</td><td>"_h
    << (q.target.type == 254 ? "254: " + q.target.extended_type : type_label(q.target.type)) << "</td><td>"_h
    << (!v.granted_by.empty() ? "granted by " + v.granted_by_name
        : q.group             ? std::to_string(q.sensors.size()) + " sensors"
                              : "all sensors")
    << "</td><td>"_h << q.description << "</td><td class=\"num\">"_h << v.stats.length
    << "</td><td class=\"num\">"_h << v.effective_max_size << "</td><td class=\"num\">"_h << v.stats.pushed
    << "</td><td class=\"num\">"_h << v.stats.dropped << "</td><td>"_h
    << html::format_time(static_cast<long long>(v.stats.last_push)) << "</td></tr>"_h;
  return h;
}
}  // namespace

void queues(WebApp& app, Routes& r) {
  r.page("/queues", Role::User, [&app](http::Request& req, const Identity& id) {
    auto list = models::Queues(app.db()).list(Scope::of(app.db(), id));
    Html b =
        "<p><a class=\"btn primary\" href=\"/queues/new\">Create a queue</a></p><div class=\"scroll\"><table>"_h;
    b << table_head({"Queue", "Receives", "Group", "Description", "Length", "Max size", "Pushed", "Dropped",
                     "Last push"})
      << "<tbody>"_h;
    for (const auto& q : list.items) b << row(q);
    if (list.items.empty()) b << empty_row(9, "No analyzer queue yet.");
    b << "</tbody></table></div>"_h;
    return html::layout(opts(req, "Analyzer queues", "queues"), &id, b);
  });
}

}  // namespace d4::web::pages
