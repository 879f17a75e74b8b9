// /organisations — Organisations (admin): create, rename, delete, and assign sensors and users
// (docs/web.md#organisations).
#include "web/models/organisations.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

using models::OrganisationView;

Html rename_form(const Identity& id, const OrganisationView& o, const std::string& api) {
  const std::string field = "org-name-" + o.uuid;
  Html h = html::api_form_open(id, "PUT", api, "/organisations", "data-reload class=\"inline\""_h);
  return h << "<label class=\"sr\""_h << html::attribute("for", field) << ">Name</label><input"_h
           << html::attribute("id", field) << html::attribute("value", o.name)
           << " name=\"name\" required maxlength=\"200\"><button class=\"btn small\" "
              "type=\"submit\">Rename</button></form>"_h;
}

Html member_list(const std::vector<std::string>& items, bool sensors, bool is_default) {
  Html h = "<ul class=\"plain\">"_h;
  for (const auto& s : items) h << "<li>"_h << (sensors ? sensor_link(s) : Html() << s) << "</li>"_h;
  if (is_default)
    h << "<li><em>and every one not assigned to another organisation</em></li>"_h;
  else if (items.empty())
    h << "<li>None.</li>"_h;
  return h << "</ul>"_h;
}

Html row(const Identity& id, const OrganisationView& o) {
  const std::string api = "/api/v1/organisations/" + o.uuid;
  Html h = "<tr><td>"_h;
  h << rename_form(id, o, api) << html::when(o.is_default, " "_h + html::badge("default", "ok"))
    << "</td><td class=\"mono\">"_h << o.uuid << "</td><td>"_h << member_list(o.sensors, true, o.is_default)
    << "</td><td>"_h << member_list(o.users, false, o.is_default) << "</td><td class=\"actions\">"_h;
  if (!o.is_default)
    h << html::api_button(id, "DELETE", api, "/organisations", "Delete",
                          "Delete this organisation? Its sensors and users go to the default organisation.",
                          "btn small danger");
  return h << "</td></tr>"_h;
}

// A form that assigns a sensor (`what` = "sensors", field uuid) or a user ("users", field email).
Html assign_form(const Identity& id, const std::vector<OrganisationView>& orgs, const std::string& what) {
  const bool sensors = what == "sensors";
  const std::string field = sensors ? "uuid" : "email";
  Html h = "<section class=\"card\"><h2>"_h;
  h << (sensors ? "Assign a sensor" : "Assign a user") << "</h2>"_h
    << html::api_form_open(id, "POST", "/api/v1/organisations/{id}/" + what, "/organisations",
                           "data-reload data-path-field=\"id\""_h)
    << "<label"_h << html::attribute("for", "assign-org-" + what) << ">Organisation</label><select"_h
    << html::attribute("id", "assign-org-" + what) << " name=\"id\">"_h;
  for (const auto& o : orgs)
    h << "<option"_h << html::attribute("value", o.uuid) << ">"_h << o.name << "</option>"_h;
  h << "</select><label"_h << html::attribute("for", "assign-" + field) << ">"_h
    << (sensors ? "Sensor UUID" : "User e-mail") << "</label><input"_h
    << html::attribute("id", "assign-" + field) << html::attribute("name", field)
    << " required maxlength=\"299\">"_h
    << "<button class=\"btn primary\" type=\"submit\">Assign</button></form></section>"_h;
  return h;
}

}  // namespace

void organisations(WebApp& app, Routes& r) {
  r.page("/organisations", Role::Admin, [&app](http::Request& req, const Identity& id) {
    auto list = models::Organisations(app.db()).list(true, {});
    Html b =
        "<p>Each organisation sees only its own sensors, their statistics, errors, queues and alerts; "
        "administrators see everything.</p><div class=\"scroll\"><table>"_h;
    b << table_head({"Name", "UUID (MISP organisation)", "Sensors", "Users", "Actions"}) << "<tbody>"_h;
    for (const auto& o : list.items) b << row(id, o);
    b << "</tbody></table></div><section class=\"grid2\"><section class=\"card\"><h2>Create an "
         "organisation</h2>"_h
      << html::api_form_open(id, "POST", "/api/v1/organisations", "/organisations", "data-reload"_h)
      << "<label for=\"org-name\">Name</label><input id=\"org-name\" name=\"name\" required "
         "maxlength=\"200\">"
         "<label for=\"org-uuid\">UUID (its MISP organisation UUID; empty: random)</label><input "
         "id=\"org-uuid\" name=\"uuid\" pattern=\"[0-9A-Fa-f-]{32,36}\">"
         "<button class=\"btn primary\" type=\"submit\">Create</button></form></section>"_h
      << assign_form(id, list.items, "sensors") << assign_form(id, list.items, "users") << "</section>"_h;
    return html::layout(opts(req, "Organisations", "organisations"), &id, b);
  });
}

}  // namespace d4::web::pages
