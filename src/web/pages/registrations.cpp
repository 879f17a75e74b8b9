// /registrations — Self-service sensor registration: an organisation's user registers a sensor,
// an administrator (or the organisation's, per [web] sensor_registration) approves it.
#include "web/models/registrations.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

Html request_form(const Identity& id) {
  return "<section class=\"card\"><h2>Register a sensor</h2>"_h
         << html::api_form_open(id, "POST", "/api/v1/registrations", "/registrations", "data-reload"_h)
         << "<label for=\"reg-uuid\">Sensor UUID</label><input id=\"reg-uuid\" name=\"uuid\" required "
            "pattern=\"[0-9A-Fa-f-]{32,36}\"><label for=\"reg-key\">HMAC key</label><input id=\"reg-key\" "
            "name=\"hmac_key\" required type=\"password\" autocomplete=\"off\"><label for=\"reg-desc\">"
            "Description</label><input id=\"reg-desc\" name=\"description\" maxlength=\"1000\">"
            "<button class=\"btn primary\" type=\"submit\">Request registration</button></form></section>"_h;
}

Html row(const Identity& id, const models::RegistrationView& v) {
  const std::string api = "/api/v1/registrations/" + v.uuid;
  Html h = "<tr><td class=\"mono\">"_h;
  h << v.uuid << "</td><td>"_h << v.description << "</td><td>"_h << v.by << "</td><td class=\"actions\">"_h;
  if (v.may_approve)
    h << html::api_button(id, "POST", api + "/approve", "/registrations", "Approve", "Approve this sensor?",
                          "btn small primary");
  if (v.may_approve || v.by == id.user)
    h << html::api_button(id, "DELETE", api, "/registrations", "Reject", "Reject this registration?",
                          "btn small danger");
  return h << "</td></tr>"_h;
}

}  // namespace

void registrations(WebApp& app, Routes& r) {
  r.page("/registrations", Role::User, [&app](http::Request& req, const Identity& id) {
    auto list = models::Registrations(app.db(), app.config()).list(id);
    Html b = "<p>Approval: "_h;
    b << list.mode << ". A sensor is accepted by the server once its registration is approved.</p>"_h;
    if (list.mode != "off") b << request_form(id);
    b << "<div class=\"scroll\"><table>"_h << table_head({"Sensor", "Description", "Requested by", "Actions"})
      << "<tbody>"_h;
    for (const auto& v : list.items) b << row(id, v);
    if (list.items.empty()) b << empty_row(4, "No registration waiting.");
    b << "</tbody></table></div>"_h;
    return html::layout(opts(req, "Sensor registrations", "registrations"), &id, b);
  });
}

}  // namespace d4::web::pages
