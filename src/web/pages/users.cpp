// /users — User management (admin).
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

Html role_form(const Identity& id, const UserInfo& u, const std::string& api) {
  Html h = html::api_form_open(id, "PUT", api, "/users", "data-reload class=\"inline\""_h);
  h << "<label class=\"sr\""_h << html::attribute("for", "role-" + u.email) << ">Role</label><select"_h
    << html::attribute("id", "role-" + u.email) << " name=\"role\">"_h;
  for (Role role : {Role::Admin, Role::User, Role::SensorRegister})
    h << "<option"_h << html::when(role == u.role, " selected"_h) << ">"_h << to_string(role)
      << "</option>"_h;
  return h << "</select><button class=\"btn small\" type=\"submit\">Save</button></form>"_h;
}

Html actions(const Identity& id, const UserInfo& u, const std::string& api) {
  Html h = html::api_form_open(id, "PUT", api, "/users", "data-show-secret=\"password\""_h);
  h << "<input type=\"hidden\" name=\"reset_password\" value=\"1\"><button class=\"btn small\" "
       "type=\"submit\">Reset password</button></form>"_h
    << html::api_form_open(id, "POST", api + "/tokens", "/users", "data-show-secret=\"token\""_h)
    << "<input type=\"hidden\" name=\"name\" value=\"issued by admin\"><button class=\"btn small\" "
       "type=\"submit\">New token</button></form>"_h;
  if (u.email != id.user)
    h << html::api_button(id, "DELETE", api, "/users", "Delete", "Delete this user?", "btn small danger");
  return h;
}

Html row(const Identity& id, const UserInfo& u) {
  const std::string api = "/api/v1/users/" + http::url_encode(u.email);
  Html h = "<tr><td>"_h;
  h << u.email << "</td><td>"_h << role_form(id, u, api) << "</td><td>"_h << yesno(u.must_change_password)
    << "</td><td><ul class=\"plain\">"_h;
  for (const auto& t : u.tokens)
    h << "<li>"_h << t.name << " <span class=\"mono\">"_h << t.id << "</span> "_h
      << html::api_button(id, "DELETE", api + "/tokens/" + t.id, "/users", "Revoke", "Revoke this token?",
                          "btn small")
      << "</li>"_h;
  return h << "</ul></td><td class=\"actions\">"_h << actions(id, u, api) << "</td></tr>"_h;
}

}  // namespace

void users(WebApp& app, Routes& r) {
  r.page("/users", Role::Admin, [&app](http::Request& req, const Identity& id) {
    Html b = "<div class=\"scroll\"><table>"_h;
    b << table_head({"User", "Role", "Must change password", "API tokens", "Actions"}) << "<tbody>"_h;
    for (const auto& u : app.db().user_store.list()) b << row(id, u);
    b << "</tbody></table></div><section class=\"card\"><h2>Create a user</h2>"_h
      << html::api_form_open(id, "POST", "/api/v1/users", "/users", "data-show-secret=\"password\""_h)
      << "<label for=\"email\">E-mail</label><input id=\"email\" name=\"email\" type=\"email\" required "
         "maxlength=\"299\">"
         "<label for=\"role\">Role</label><select id=\"role\" "
         "name=\"role\"><option>user</option><option>admin</option><option>sensor_register</option></select>"
         "<label for=\"upw\">Password (empty: generated and shown once; the user must change "
         "it)</label><input id=\"upw\" name=\"password\" type=\"password\" autocomplete=\"new-password\">"
         "<button class=\"btn primary\" type=\"submit\">Create user</button></form></section>"
         "<output id=\"secret\" class=\"secret-box\" hidden></output>"_h;
    return html::layout(opts(req, "Users", "users"), &id, b);
  });
}

}  // namespace d4::web::pages
