// /queues/{id} — One analyzer queue: statistics, settings, preview.
#include "web/models/queues.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {
Html cards(const models::QueueView& v) {
  const auto& st = v.stats;
  Html h = "<p class=\"mono big\">"_h;
  h << v.info.id << "</p><p>Analyzers pop <code>"_h << v.info.list_key()
    << "</code> in the analyzer database.</p><section class=\"cards\">"_h;
  for (auto [label, value] : {std::pair<const char*, long long>{"length", st.length},
                              {"pushed", st.pushed},
                              {"dropped", st.dropped},
                              {"consumed", st.consumed}})
    h << stat_card(std::to_string(value), label);
  return h << stat_card(html::format_time(static_cast<long long>(st.last_push)), "last push", true)
           << "</section>"_h;
}

Html preview(const std::string& api) {
  return "<section><h2>Newest elements</h2><div"_h
         << html::attribute("data-preview", api + "/preview?count=11&max_line_len=500")
         << "><pre class=\"preview\">Loading…</pre></div></section>"_h;
}

// The settings form, and the buttons that empty or delete the queue (admin).
Html settings(const models::QueueView& v, const Identity& id, long long default_max_size) {
  const auto& q = v.info;
  const std::string api = "/api/v1/queues/" + q.id, here = "/queues/" + q.id;
  Html h = html::api_form_open(id, "PUT", api, here, "data-reload class=\"card\""_h);
  h << "<label for=\"qdesc\">Description</label><input id=\"qdesc\" name=\"description\" maxlength=\"1000\""_h
    << html::attribute("value", q.description) << "><label for=\"qmax\">Max size (empty: default "_h
    << default_max_size << ")</label><input id=\"qmax\" name=\"max_size\" type=\"number\" min=\"1\""_h
    << html::attribute("value", number_or_empty(q.max_size)) << ">"_h;
  if (q.group) {
    std::string sensors;
    for (const auto& s : q.sensors) sensors += s + "\n";
    h << "<label for=\"qsensors\">Sensors of the group</label><textarea id=\"qsensors\" name=\"sensors\" "
         "rows=\"4\">"_h
      << sensors << "</textarea>"_h;
  }
  return h << "<button class=\"btn primary\" type=\"submit\">Save</button></form><div class=\"actions\">"_h
           << html::api_button(id, "POST", api + "/empty", here, "Empty the queue",
                               "Delete every element waiting in this queue?", "btn danger")
           << html::api_button(id, "DELETE", api, "/queues", "Delete the queue",
                               "Delete this queue and its data?", "btn danger")
           << "</div>"_h;
}
}  // namespace

void queue(WebApp& app, Routes& r) {
  r.page("/queues/{id}", Role::User, [&app](http::Request& req, const Identity& id) {
    auto& d = app.db();
    auto v = models::Queues(d).find(req.params["id"], Scope::of(d, id));
    if (!v) throw ApiError(404, "There is no such analyzer queue.");
    Html b = cards(*v);
    if (!v->granted_by.empty())
      b << "<p>Granted to your organisation by "_h << v->granted_by_name
        << " (<a href=\"/grants\">queue grants</a>).</p>"_h;
    if (role_allows(id.role, Role::Admin))
      b << settings(*v, id, d.queue_store.default_max_size());
    else
      b << "<p>"_h << v->info.description << "</p><p>Max size: "_h << v->effective_max_size << "</p>"_h;
    b << preview("/api/v1/queues/" + v->info.id);
    return html::layout(opts(req, "Analyzer queue", "queues"), &id, b);
  });
}

}  // namespace d4::web::pages
