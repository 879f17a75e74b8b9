// /queues/new — The form that creates an analyzer queue.
#include "web/models/server.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

void queue_new(WebApp& app, Routes& r) {
  r.page("/queues/new", Role::User, [&app](http::Request& req, const Identity& id) {
    auto info = models::Server(app.db(), app.config()).view(Scope::of(app.db(), id));
    Html b = html::api_form_open(id, "POST", "/api/v1/queues", "/queues",
                                 "data-goto=\"/queues/{queue.id}\" class=\"card\""_h);
    b << "<label for=\"type\">Type</label><select id=\"type\" name=\"type\"><option value=\"\">(extended "
         "type below)</option>"_h;
    for (int t : info.accepted_types)
      if (t != 2 && t != 254)
        b << "<option"_h << html::attribute("value", std::to_string(t)) << ">"_h << type_label(t)
          << "</option>"_h;
    b << "</select><label for=\"extended_type\">or extended type (type 254)</label><select "
         "id=\"extended_type\" name=\"extended_type\"><option value=\"\">(none)</option>"_h;
    for (const auto& t : info.accepted_extended_types) b << "<option>"_h << t << "</option>"_h;
    b << "</select><label for=\"qid\">Queue UUID (empty: random)</label><input id=\"qid\" name=\"id\" "
         "pattern=\"[0-9A-Fa-f-]{32,36}\">"
         "<label for=\"qdesc\">Description</label><input id=\"qdesc\" name=\"description\" "
         "maxlength=\"1000\">"
         "<label for=\"qmax\">Max size (elements; empty: default)</label><input id=\"qmax\" "
         "name=\"max_size\" "
         "type=\"number\" min=\"1\">"
         "<label for=\"qsensors\">Sensor group: only these sensor UUIDs (comma or newline separated; empty: "
         "every sensor)</label>"
         "<textarea id=\"qsensors\" name=\"sensors\" rows=\"3\"></textarea>"
         "<button class=\"btn primary\" type=\"submit\">Create queue</button></form>"_h;
    return html::layout(opts(req, "Create an analyzer queue", "queues"), &id, b);
  });
}

}  // namespace d4::web::pages
