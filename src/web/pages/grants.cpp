// /grants — Queue grants: the analyzer queues an organisation grants others on its sensors' data,
// the form that grants one, revocation and the audit trail (docs/web.md#queue-grants).
#include "web/models/grants.hpp"
#include "web/models/organisations.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

Html org_text(const models::OrgRef& o) {
  return Html() << (o.name.empty() ? o.uuid : o.name);
}

Html grant_row(const Identity& id, const models::GrantView& g) {
  Html h = "<tr><td>"_h;
  h << html::link("/queues/" + g.id, g.id, "mono") << "</td><td>"_h << org_text(g.from) << "</td><td>"_h
    << org_text(g.to) << "</td><td>"_h << (g.type == 254 ? "254: " + g.target : type_label(g.target))
    << "</td><td class=\"mono\">"_h << g.list_key << "</td><td>"_h;
  for (const auto& s : g.sensors) h << sensor_link(s) << " "_h;
  h << "</td><td>"_h << g.description << "</td><td>"_h << html::format_time(g.created) << " ("_h << g.by
    << ")</td><td class=\"actions\">"_h;
  if (g.may_revoke)
    h << html::api_button(id, "DELETE", "/api/v1/grants/" + g.id, "/grants", "Revoke",
                          "Revoke this grant? Its queue and the data waiting in it are deleted.",
                          "btn small danger");
  return h << "</td></tr>"_h;
}

// A select of the organisations (administrators), or a UUID field (an organisation's
// administrator names the organisation it grants to).
Html org_field(const std::string& name, const std::string& label,
               const std::vector<models::OrganisationView>& orgs) {
  const std::string field = "grant-" + name;
  Html h = "<label"_h;
  h << html::attribute("for", field) << ">"_h << label << "</label>"_h;
  if (orgs.empty())
    return h << "<input"_h << html::attribute("id", field) << html::attribute("name", name)
             << " required pattern=\"[0-9A-Fa-f-]{32,36}\" placeholder=\"organisation UUID\">"_h;
  h << "<select"_h << html::attribute("id", field) << html::attribute("name", name) << ">"_h;
  for (const auto& o : orgs)
    h << "<option"_h << html::attribute("value", o.uuid) << ">"_h << o.name << "</option>"_h;
  return h << "</select>"_h;
}

Html grant_form(const Identity& id, const std::vector<models::OrganisationView>& orgs) {
  Html h = "<section class=\"card\"><h2>Grant a queue</h2>"_h;
  h << html::api_form_open(id, "POST", "/api/v1/grants", "/grants", "data-reload"_h);
  if (!orgs.empty()) h << org_field("from", "Granting organisation", orgs);
  h << org_field("to", "Granted to (organisation)", orgs)
    << "<label for=\"grant-type\">Type (number)</label><input id=\"grant-type\" name=\"type\" "
       "type=\"number\" "
       "min=\"1\" max=\"255\"><label for=\"grant-ext\">or extended type</label><input id=\"grant-ext\" "
       "name=\"extended_type\" maxlength=\"64\"><label for=\"grant-sensors\">Sensors (UUIDs; empty: every "
       "sensor "
       "assigned to the organisation)</label><textarea id=\"grant-sensors\" name=\"sensors\" rows=\"3\">"
       "</textarea><label for=\"grant-desc\">Description</label><input id=\"grant-desc\" "
       "name=\"description\" "
       "maxlength=\"1000\"><button class=\"btn primary\" type=\"submit\">Grant</button></form></section>"_h;
  return h;
}

Html audit_table(const models::GrantAudit& a) {
  Html h = "<section><h2>Audit trail</h2><p>Newest first; the last "_h;
  h << a.kept << " entries are kept.</p><div class=\"scroll\"><table>"_h
    << table_head({"Time", "Action", "By", "Queue", "From", "To", "Type", "Sensors"}) << "<tbody>"_h;
  for (const auto& e : a.items) {
    h << "<tr><td>"_h << html::format_time(e.time) << "</td><td>"_h << e.action << "</td><td>"_h << e.by
      << "</td><td class=\"mono\">"_h << e.grant << "</td><td>"_h << org_text(e.from) << "</td><td>"_h
      << org_text(e.to) << "</td><td>"_h << e.target << "</td><td class=\"mono\">"_h;
    for (const auto& s : e.sensors) h << s << " "_h;
    h << "</td></tr>"_h;
  }
  if (a.items.empty()) h << empty_row(8, "Nothing granted or revoked yet.");
  return h << "</tbody></table></div></section>"_h;
}

}  // namespace

void grants(WebApp& app, Routes& r) {
  r.page("/grants", Role::User, [&app](http::Request& req, const Identity& id) {
    models::Grants model(app.db(), app.config());
    auto list = model.list(id);
    const bool admin = role_allows(id.role, Role::Admin);
    Html b =
        "<p>An organisation grants another an analyzer queue on its sensors' data: the other organisation's "
        "analyzers pop the queue, its users see the queue and nothing else of the sensors. Revoking a grant "
        "deletes the queue.</p><div class=\"scroll\"><table>"_h;
    b << table_head(
             {"Queue", "From", "To", "Receives", "List", "Sensors", "Description", "Granted", "Actions"})
      << "<tbody>"_h;
    for (const auto& g : list.items) b << grant_row(id, g);
    if (list.items.empty()) b << empty_row(9, "No queue granted from or to your organisation.");
    b << "</tbody></table></div>"_h;
    if (list.may_grant) {
      std::vector<models::OrganisationView> orgs;
      if (admin) orgs = models::Organisations(app.db()).list(true, {}).items;
      b << grant_form(id, orgs) << audit_table(model.audit(id));
    }
    return html::layout(opts(req, "Queue grants", "grants"), &id, b);
  });
}

}  // namespace d4::web::pages
