// /queues — The analyzer queue list with statistics.
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

void queues(WebApp& app, http::Router& r) {
  app.page(r, "/queues", Role::User, [&app](http::Request& req, const Identity& id) {
    auto& d = app.db();
    std::string b =
        "<p><a class=\"btn primary\" href=\"/queues/new\">Create a queue</a></p><div "
        "class=\"scroll\"><table>" +
        table_head({"Queue", "Receives", "Group", "Description", "Length", "Max size", "Pushed", "Dropped",
                    "Last push"}) +
        "<tbody>";
    auto list = d.queue_store.list();
    for (const auto& q : list) {
      auto j = app.queue_json(d, q);
      b += "<tr><td><a class=\"mono\" href=\"/queues/" + esc(q.id) + "\">" + esc(q.id) + "</a></td><td>" +
           esc(q.target.type == 254 ? "254: " + q.target.extended_type : type_label(q.target.type)) +
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
}

}  // namespace d4::web::pages
