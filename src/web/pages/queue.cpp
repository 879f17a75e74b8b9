// /queues/{id} — One analyzer queue: statistics, settings, preview.
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

void queue(WebApp& app, http::Router& r) {
  app.page(r, "/queues/{id}", Role::User, [&app](http::Request& req, const Identity& id) {
    auto& d = app.db();
    auto q = d.queue_store.get(req.params["id"]);
    if (!q) throw ApiError(404, "There is no such analyzer queue.");
    auto j = app.queue_json(d, *q);
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
}

}  // namespace d4::web::pages
