// /profile — The signed-in user's account and API tokens.
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

void profile(WebApp& app, http::Router& r) {
  app.page(r, "/profile", Role::User, [&app](http::Request& req, const Identity& id) {
    auto u = app.db().user_store.get(id.user);
    if (!u) throw ApiError(404, "no such user");
    std::string b = "<p>Signed in as <strong>" + esc(u->email) + "</strong>, role <strong>" +
                    esc(std::string(to_string(u->role))) +
                    "</strong>. <a href=\"/change_password\">Change password</a></p><section "
                    "class=\"card\"><h2>API tokens</h2>"
                    "<p>Send a token as <code>Authorization: Bearer &lt;token&gt;</code>. A token is shown "
                    "once, when it is created.</p><ul class=\"plain\">";
    for (const auto& t : u->tokens)
      b += "<li>" + esc(t.name) + " <span class=\"mono\">" + esc(t.id) + "</span> created " +
           esc(html::format_time(t.created)) + " " +
           html::api_button(id, "DELETE", "/api/v1/me/tokens/" + t.id, "/profile", "Revoke",
                            "Revoke this token?", "btn small") +
           "</li>";
    if (u->tokens.empty()) b += "<li>No token.</li>";
    b += "</ul>" +
         html::api_form_open(id, "POST", "/api/v1/me/tokens", "/profile", "data-show-secret=\"token\"") +
         "<label for=\"tname\">Token name</label><input id=\"tname\" name=\"name\" maxlength=\"100\" "
         "value=\"api\">"
         "<button class=\"btn primary\" type=\"submit\">Create a token</button></form><output id=\"secret\" "
         "class=\"secret-box\" hidden></output></section>"
         "<p>The API is described by <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>";
    return html::layout(opts(req, "My account", "profile"), &id, b);
  });
}

}  // namespace d4::web::pages
