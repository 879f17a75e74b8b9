// /alerts/channels — An organisation's own notification channels: the webhooks and e-mail
// recipients through which d4-alerts notifies the organisation's rules (docs/alerts.md).
#include "core/organisations.hpp"
#include "web/models/org_channels.hpp"
#include "web/models/organisations.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

Html channel_form(const Identity& id, const models::OrgChannelList& l) {
  const std::string here = "/alerts/channels?org=" + l.org;
  Html h = "<section class=\"card\"><h2>Add or replace a channel</h2>"_h;
  h << html::api_form_open(id, "PUT", "/api/v1/organisations/" + l.org + "/channels/{name}", here,
                           "data-reload data-path-field=\"name\""_h)
    << "<label for=\"ch-name\">Name</label><input id=\"ch-name\" name=\"name\" required maxlength=\"64\" "
       "pattern=\"[A-Za-z0-9_-]{1,64}\"><label for=\"ch-type\">Type</label><select id=\"ch-type\" "
       "name=\"type\">"
       "<option value=\"webhook\">webhook (JSON POST, Slack/Mattermost text)</option>"_h;
  if (l.email_relay) h << "<option value=\"email\">e-mail (sent by the server's relay)</option>"_h;
  h << "</select><label for=\"ch-url\">Webhook URL ("_h << (l.allow_http ? "http:// or https://" : "https://")
    << ")</label><input id=\"ch-url\" name=\"url\" maxlength=\"2000\"><label for=\"ch-headers\">Webhook "
       "headers (one \"Name: value\" per line)</label><textarea id=\"ch-headers\" name=\"headers\" "
       "rows=\"2\">"
       "</textarea><label for=\"ch-to\">E-mail recipients (one per line)</label><textarea id=\"ch-to\" "
       "name=\"to\" rows=\"2\"></textarea><button class=\"btn primary\" type=\"submit\">Save the channel"
       "</button></form></section>"_h;
  return h;
}

Html org_picker(const std::vector<models::OrganisationView>& orgs, const std::string& current) {
  Html h =
      "<form method=\"get\" action=\"/alerts/channels\" class=\"inline\"><label for=\"ch-org\">"
      "Organisation</label><select id=\"ch-org\" name=\"org\">"_h;
  for (const auto& o : orgs)
    h << "<option"_h << html::attribute("value", o.uuid) << html::when(o.uuid == current, " selected"_h)
      << ">"_h << o.name << "</option>"_h;
  return h << "</select> <button class=\"btn small\" type=\"submit\">Show</button></form>"_h;
}

}  // namespace

void alert_channels(WebApp& app, Routes& r) {
  r.page("/alerts/channels", Role::User, [&app](http::Request& req, const Identity& id) {
    auto& d = app.db();
    std::string org = param(req, "org");
    if (org.empty()) org = core::OrganisationStore(d.meta).user_org(id.user);
    auto l = models::OrgChannels(d, app.config()).list(id, org);
    Html b;
    if (role_allows(id.role, Role::Admin))
      b << org_picker(models::Organisations(d).list(true, {}).items, l.org);
    b << "<p>The rules of "_h << l.org_name << " (scope <code>org:"_h << l.org
      << "</code>) notify through these channels only, never through the server's.</p><div "
         "class=\"scroll\"><table>"_h
      << table_head({"Name", "Type", "Sends to", "Actions"}) << "<tbody>"_h;
    for (const auto& c : l.items) {
      b << "<tr><td>"_h << c.name << "</td><td>"_h << c.type << "</td><td>"_h << c.summary
        << "</td><td class=\"actions\">"_h;
      if (l.may_manage)
        b << html::api_button(id, "DELETE", "/api/v1/organisations/" + l.org + "/channels/" + c.name,
                              "/alerts/channels?org=" + l.org, "Remove", "Remove this channel?",
                              "btn small danger");
      b << "</td></tr>"_h;
    }
    if (l.items.empty())
      b << empty_row(4, "No channel: the organisation's alerts are shown here and in the metrics only.");
    b << "</tbody></table></div>"_h;
    if (l.may_manage) b << channel_form(id, l);
    return html::layout(opts(req, "Alert channels", "alerts"), &id, b);
  });
}

}  // namespace d4::web::pages
