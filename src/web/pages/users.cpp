// /users — User management (admin).
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

void users(WebApp& app, http::Router& r) {
  app.page(r, "/users", Role::Admin, [&app](http::Request& req, const Identity& id) {
    std::string b = "<div class=\"scroll\"><table>" +
                    table_head({"User", "Role", "Must change password", "API tokens", "Actions"}) + "<tbody>";
    for (const auto& u : app.db().user_store.list()) {
      std::string base = "/api/v1/users/" + http::url_encode(u.email);
      b += "<tr><td>" + esc(u.email) + "</td><td>" +
           html::api_form_open(id, "PUT", base, "/users", "data-reload class=\"inline\"") +
           "<label class=\"sr\" for=\"role-" + esc(u.email) + "\">Role</label><select id=\"role-" +
           esc(u.email) + "\" name=\"role\">";
      for (Role r2 : {Role::Admin, Role::User, Role::SensorRegister})
        b += std::string("<option") + (r2 == u.role ? " selected" : "") + ">" + std::string(to_string(r2)) +
             "</option>";
      b += "</select><button class=\"btn small\" type=\"submit\">Save</button></form></td><td>" +
           yesno(u.must_change_password) + "</td><td><ul class=\"plain\">";
      for (const auto& t : u.tokens)
        b += "<li>" + esc(t.name) + " <span class=\"mono\">" + esc(t.id) + "</span> " +
             html::api_button(id, "DELETE", base + "/tokens/" + t.id, "/users", "Revoke",
                              "Revoke this token?", "btn small") +
             "</li>";
      b += "</ul></td><td class=\"actions\">" +
           html::api_form_open(id, "PUT", base, "/users", "data-show-secret=\"password\"") +
           "<input type=\"hidden\" name=\"reset_password\" value=\"1\"><button class=\"btn small\" "
           "type=\"submit\">Reset password</button></form>" +
           html::api_form_open(id, "POST", base + "/tokens", "/users", "data-show-secret=\"token\"") +
           "<input type=\"hidden\" name=\"name\" value=\"issued by admin\"><button class=\"btn small\" "
           "type=\"submit\">New token</button></form>";
      if (u.email != id.user)
        b +=
            html::api_button(id, "DELETE", base, "/users", "Delete", "Delete this user?", "btn small danger");
      b += "</td></tr>";
    }
    b += "</tbody></table></div><section class=\"card\"><h2>Create a user</h2>" +
         html::api_form_open(id, "POST", "/api/v1/users", "/users", "data-show-secret=\"password\"") +
         "<label for=\"email\">E-mail</label><input id=\"email\" name=\"email\" type=\"email\" required "
         "maxlength=\"299\">"
         "<label for=\"role\">Role</label><select id=\"role\" "
         "name=\"role\"><option>user</option><option>admin</option><option>sensor_register</option></select>"
         "<label for=\"upw\">Password (empty: generated and shown once; the user must change "
         "it)</label><input id=\"upw\" name=\"password\" type=\"password\" autocomplete=\"new-password\">"
         "<button class=\"btn primary\" type=\"submit\">Create user</button></form></section>"
         "<output id=\"secret\" class=\"secret-box\" hidden></output>";
    return html::layout(opts(req, "Users", "users"), &id, b);
  });
}

}  // namespace d4::web::pages
