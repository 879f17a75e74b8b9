// /profile — The signed-in user's account and API tokens.
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {
Html tokens(const Identity& id, const UserInfo& u) {
  Html h = "<ul class=\"plain\">"_h;
  for (const auto& t : u.tokens)
    h << "<li>"_h << t.name << " <span class=\"mono\">"_h << t.id << "</span> created "_h
      << html::format_time(t.created) << " "_h
      << html::api_button(id, "DELETE", "/api/v1/me/tokens/" + t.id, "/profile", "Revoke",
                          "Revoke this token?", "btn small")
      << "</li>"_h;
  if (u.tokens.empty()) h << "<li>No token.</li>"_h;
  return h << "</ul>"_h;
}
}  // namespace

void profile(WebApp& app, Routes& r) {
  r.page("/profile", Role::User, [&app](http::Request& req, const Identity& id) {
    auto u = app.db().user_store.get(id.user);
    if (!u) throw ApiError(404, "no such user");
    Html b = "<p>Signed in as <strong>"_h;
    b << u->email << "</strong>, role <strong>"_h << to_string(u->role)
      << "</strong>. <a href=\"/change_password\">Change password</a></p><section class=\"card\"><h2>API "
         "tokens</h2><p>Send a token as <code>Authorization: Bearer &lt;token&gt;</code>. A token is shown "
         "once, when it is created.</p>"_h
      << tokens(id, *u)
      << html::api_form_open(id, "POST", "/api/v1/me/tokens", "/profile", "data-show-secret=\"token\""_h)
      << "<label for=\"tname\">Token name</label><input id=\"tname\" name=\"name\" maxlength=\"100\" "
         "value=\"api\"><button class=\"btn primary\" type=\"submit\">Create a token</button></form>"
         "<output id=\"secret\" class=\"secret-box\" hidden></output></section>"
         "<p>The API is described by <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>"_h;
    return html::layout(opts(req, "My account", "profile"), &id, b);
  });
}

}  // namespace d4::web::pages
