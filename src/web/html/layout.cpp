// The page layout, the pages shown before a user is known, and the forms that act through the
// JSON API.
#include <algorithm>
#include <ctime>

#include "web/auth/users.hpp"
#include "web/html.hpp"

namespace d4::web::html {

using namespace literals;

std::string format_time(long long t) {
  if (t <= 0) return "";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string format_time(const std::optional<long long>& t) {
  return t ? format_time(*t) : "never";
}

namespace {
Html nav_link(std::string_view href, std::string_view label, std::string_view key, std::string_view active) {
  return "<li><a"_h << attribute("href", href) << when(key == active, " aria-current=\"page\""_h) << ">"_h
                    << label << "</a></li>"_h;
}

Html navigation(const Identity& id, std::string_view active) {
  Html h = "<nav aria-label=\"Main\"><ul>"_h;
  h << nav_link("/", "Dashboard", "dashboard", active) << nav_link("/sensors", "Sensors", "sensors", active)
    << nav_link("/server", "Server", "server", active)
    << nav_link("/queues", "Analyzer queues", "queues", active)
    << nav_link("/grants", "Queue grants", "grants", active);
  // Only links the user may open: backscatter results are every organisation's traffic.
  if (id.whole_server) h << nav_link("/backscatter", "Backscatter", "backscatter", active);
  h << nav_link("/alerts", "Alerts", "alerts", active)
    << nav_link("/registrations", "Registrations", "registrations", active)
    << nav_link("/misp-feed", "MISP feed", "misp-feed", active);
  if (role_allows(id.role, Role::Admin))
    h << nav_link("/users", "Users", "users", active)
      << nav_link("/organisations", "Organisations", "organisations", active);
  return h << nav_link("/profile", "My account", "profile", active) << "</ul></nav>"_h;
}

Html hidden(std::string_view name, std::string_view value) {
  return "<input type=\"hidden\""_h << attribute("name", name) << attribute("value", value) << ">"_h;
}
}  // namespace

Html badge(std::string_view text, std::string_view kind) {
  return "<span"_h << attribute("class", "badge " + std::string(kind)) << ">"_h << text << "</span>"_h;
}

http::Response layout(const PageOptions& o, const Identity* id, const Html& body, int status) {
  Html h =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>"_h;
  h << o.title << " · D4</title><link rel=\"stylesheet\" href=\"/static/style.css\">"_h;
  if (id && id->via_session) h << "<meta name=\"csrf-token\""_h << attribute("content", id->csrf) << ">"_h;
  h << "<script type=\"module\" src=\"/static/app.js\"></script></head><body>"
       "<a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"top\"><a class=\"brand\" "
       "href=\"/\">D4</a>"_h;
  if (id && !id->must_change_password) h << navigation(*id, o.active);
  if (id && id->via_session)
    h << "<form class=\"logout\" method=\"post\" action=\"/logout\">"_h << hidden("csrf_token", id->csrf)
      << "<span class=\"who\">"_h << id->user << " ("_h << to_string(id->role)
      << ")</span> <button type=\"submit\" class=\"btn small\">Sign out</button></form>"_h;
  h << "</header><main id=\"main\"><h1>"_h << o.title
    << "</h1><div id=\"status\" role=\"status\" aria-live=\"polite\" class=\"status"_h;
  if (!o.error.empty())
    h << " error\">"_h << o.error;
  else if (!o.flash.empty())
    h << " ok\">"_h << o.flash;
  else
    h << "\">"_h;
  h << "</div>"_h << body << "</main></body></html>"_h;
  return http::Response::text(status, h.take(), "text/html; charset=utf-8");
}

http::Response error_page(int status, const std::string& message, const Identity* id) {
  std::string title = status == 403   ? "Forbidden"
                      : status == 404 ? "Not found"
                                      : "Error " + std::to_string(status);
  return layout({title, "", "", ""}, id,
                "<p>"_h << message << "</p><p><a href=\"/\">Back to the dashboard</a></p>"_h, status);
}

http::Response login_page(const std::string& next, const std::string& csrf, const std::string& error) {
  Html b = "<form class=\"card narrow\" method=\"post\" action=\"/login\">"_h;
  b << hidden("csrf_token", csrf) << hidden("next", next)
    << "<label for=\"username\">E-mail</label><input id=\"username\" name=\"username\" type=\"email\" "
       "autocomplete=\"username\" required autofocus>"
       "<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" "
       "autocomplete=\"current-password\" required>"
       "<button class=\"btn primary\" type=\"submit\">Sign in</button></form>"_h;
  return layout({"Sign in", "", "", error}, nullptr, b);
}

http::Response change_password_page(const Identity& id, const std::string& error) {
  Html b;
  if (id.must_change_password) b << "<p>You must choose a new password before going on.</p>"_h;
  b << "<form class=\"card narrow\" method=\"post\" action=\"/change_password\">"_h
    << hidden("csrf_token", id.csrf)
    << "<label for=\"current_password\">Current password</label><input id=\"current_password\" "
       "name=\"current_password\" type=\"password\" autocomplete=\"current-password\" required>"
       "<label for=\"password1\">New password</label><input id=\"password1\" name=\"password1\" "
       "type=\"password\" autocomplete=\"new-password\" minlength=\"10\" maxlength=\"100\" required "
       "aria-describedby=\"pwrule\">"
       "<p id=\"pwrule\" class=\"hint\">10 to 100 characters, with at least 2 digits, 1 lower-case and 1 "
       "upper-case letter.</p>"
       "<label for=\"password2\">New password again</label><input id=\"password2\" name=\"password2\" "
       "type=\"password\" autocomplete=\"new-password\" required>"
       "<button class=\"btn primary\" type=\"submit\">Change password</button></form>"_h;
  return layout({"Change password", "profile", "", error}, &id, b);
}

Html api_form_open(const Identity& id, std::string_view method, std::string_view action,
                   std::string_view next, const Html& extra_attributes) {
  Html f = "<form method=\"post\" class=\"api\""_h;
  f << attribute("action", action) << attribute("data-method", method);
  if (!extra_attributes.empty()) f << " "_h << extra_attributes;
  f << ">"_h << hidden("csrf_token", id.csrf) << hidden("next", next);
  if (method != "POST") f << hidden("_method", method);
  return f;
}

Html api_button(const Identity& id, std::string_view method, std::string_view action, std::string_view next,
                std::string_view label, std::string_view confirm, std::string_view css_class) {
  Html extra = "data-reload"_h;
  if (!confirm.empty()) extra << attribute("data-confirm", confirm);
  return api_form_open(id, method, action, next, extra)
         << "<button type=\"submit\""_h << attribute("class", css_class) << ">"_h << label
         << "</button></form>"_h;
}

Html pager(const std::string& base, long long page, long long per_page, long long total,
           const std::string& page_param) {
  long long pages = std::max<long long>(1, (total + per_page - 1) / per_page);
  if (pages <= 1) return {};
  std::string sep = base.find('?') == std::string::npos ? "?" : "&";
  auto page_url = [&](long long p) { return base + sep + page_param + "=" + std::to_string(p); };
  Html h = "<nav class=\"pager\" aria-label=\"Pages\">"_h;
  if (page > 1) h << link(page_url(page - 1), "Previous") << " "_h;
  h << "<span>page "_h << page << " of "_h << pages << "</span>"_h;
  if (page < pages) h << " "_h << link(page_url(page + 1), "Next");
  return h << "</nav>"_h;
}

}  // namespace d4::web::html
