// The page layout, the pages shown before a user is known, and the forms that act through the
// JSON API.
#include <algorithm>
#include <ctime>

#include "web/html.hpp"
#include "web/users.hpp"

namespace d4::web::html {

std::string format_time(long long t) {
  if (t <= 0) return "";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string format_time(const json& v) {
  if (v.is_number()) return format_time(static_cast<long long>(v.get<double>()));
  return "never";
}

namespace {
std::string nav_link(const std::string& href, const std::string& label, const std::string& key,
                     const std::string& active) {
  return "<li><a href=\"" + href + "\"" + (key == active ? " aria-current=\"page\"" : "") + ">" + label +
         "</a></li>";
}
}  // namespace

std::string badge(const std::string& text, const std::string& kind) {
  return "<span class=\"badge " + esc(kind) + "\">" + esc(text) + "</span>";
}

http::Response layout(const PageOptions& o, const Identity* id, const std::string& body, int status) {
  std::string h;
  h.reserve(body.size() + 4096);
  h += "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
       "<title>" +
       esc(o.title) +
       " · D4</title>"
       "<link rel=\"stylesheet\" href=\"/static/style.css\">";
  if (id && id->via_session) h += "<meta name=\"csrf-token\" content=\"" + esc(id->csrf) + "\">";
  h += "<script type=\"module\" src=\"/static/app.js\"></script></head><body>"
       "<a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"top\"><a class=\"brand\" "
       "href=\"/\">D4</a>";
  if (id && !id->must_change_password) {
    h += "<nav aria-label=\"Main\"><ul>";
    h += nav_link("/", "Dashboard", "dashboard", o.active);
    h += nav_link("/sensors", "Sensors", "sensors", o.active);
    h += nav_link("/server", "Server", "server", o.active);
    h += nav_link("/queues", "Analyzer queues", "queues", o.active);
    h += nav_link("/backscatter", "Backscatter", "backscatter", o.active);
    if (role_allows(id->role, Role::Admin)) h += nav_link("/users", "Users", "users", o.active);
    h += nav_link("/profile", "My account", "profile", o.active);
    h += "</ul></nav>";
  }
  if (id && id->via_session)
    h += "<form class=\"logout\" method=\"post\" action=\"/logout\"><input type=\"hidden\" "
         "name=\"csrf_token\" value=\"" +
         esc(id->csrf) + "\"><span class=\"who\">" + esc(id->user) + " (" +
         esc(std::string(to_string(id->role))) +
         ")</span> <button type=\"submit\" class=\"btn small\">Sign out</button></form>";
  h += "</header><main id=\"main\"><h1>" + esc(o.title) + "</h1>";
  h += "<div id=\"status\" role=\"status\" aria-live=\"polite\" class=\"status";
  if (!o.error.empty())
    h += " error\">" + esc(o.error);
  else if (!o.flash.empty())
    h += " ok\">" + esc(o.flash);
  else
    h += "\">";
  h += "</div>" + body + "</main></body></html>";
  return http::Response::text(status, std::move(h), "text/html; charset=utf-8");
}

http::Response error_page(int status, const std::string& message, const Identity* id) {
  std::string title = status == 403   ? "Forbidden"
                      : status == 404 ? "Not found"
                                      : "Error " + std::to_string(status);
  return layout({title, "", "", ""}, id,
                "<p>" + esc(message) + "</p><p><a href=\"/\">Back to the dashboard</a></p>", status);
}

http::Response login_page(const std::string& next, const std::string& csrf, const std::string& error) {
  std::string b =
      "<form class=\"card narrow\" method=\"post\" action=\"/login\">"
      "<input type=\"hidden\" name=\"csrf_token\" value=\"" +
      esc(csrf) +
      "\">"
      "<input type=\"hidden\" name=\"next\" value=\"" +
      esc(next) +
      "\">"
      "<label for=\"username\">E-mail</label><input id=\"username\" name=\"username\" type=\"email\" "
      "autocomplete=\"username\" required autofocus>"
      "<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" "
      "autocomplete=\"current-password\" required>"
      "<button class=\"btn primary\" type=\"submit\">Sign in</button></form>";
  return layout({"Sign in", "", "", error}, nullptr, b);
}

http::Response change_password_page(const Identity& id, const std::string& error) {
  std::string b;
  if (id.must_change_password) b += "<p>You must choose a new password before going on.</p>";
  b += "<form class=\"card narrow\" method=\"post\" action=\"/change_password\">"
       "<input type=\"hidden\" name=\"csrf_token\" value=\"" +
       esc(id.csrf) +
       "\">"
       "<label for=\"current_password\">Current password</label><input id=\"current_password\" "
       "name=\"current_password\" type=\"password\" autocomplete=\"current-password\" required>"
       "<label for=\"password1\">New password</label><input id=\"password1\" name=\"password1\" "
       "type=\"password\" autocomplete=\"new-password\" minlength=\"10\" maxlength=\"100\" required "
       "aria-describedby=\"pwrule\">"
       "<p id=\"pwrule\" class=\"hint\">10 to 100 characters, with at least 2 digits, 1 lower-case and 1 "
       "upper-case letter.</p>"
       "<label for=\"password2\">New password again</label><input id=\"password2\" name=\"password2\" "
       "type=\"password\" autocomplete=\"new-password\" required>"
       "<button class=\"btn primary\" type=\"submit\">Change password</button></form>";
  return layout({"Change password", "profile", "", error}, &id, b);
}

std::string api_form_open(const Identity& id, const std::string& method, const std::string& action,
                          const std::string& next, const std::string& extra) {
  std::string f = "<form method=\"post\" class=\"api\" action=\"" + esc(action) + "\" data-method=\"" +
                  esc(method) + "\"" + (extra.empty() ? "" : " " + extra) +
                  "><input type=\"hidden\" name=\"csrf_token\" value=\"" + esc(id.csrf) +
                  "\"><input type=\"hidden\" name=\"next\" value=\"" + esc(next) + "\">";
  if (method != "POST") f += "<input type=\"hidden\" name=\"_method\" value=\"" + esc(method) + "\">";
  return f;
}

std::string api_button(const Identity& id, const std::string& method, const std::string& action,
                       const std::string& next, const std::string& label, const std::string& confirm,
                       const std::string& css_class) {
  std::string extra = "data-reload";
  if (!confirm.empty()) extra += " data-confirm=\"" + esc(confirm) + "\"";
  return api_form_open(id, method, action, next, extra) + "<button type=\"submit\" class=\"" +
         esc(css_class) + "\">" + esc(label) + "</button></form>";
}

std::string pager(const std::string& base, long long page, long long per_page, long long total,
                  const std::string& page_param) {
  long long pages = std::max<long long>(1, (total + per_page - 1) / per_page);
  if (pages <= 1) return "";
  std::string sep = base.find('?') == std::string::npos ? "?" : "&";
  std::string h = "<nav class=\"pager\" aria-label=\"Pages\">";
  if (page > 1)
    h += "<a href=\"" + esc(base + sep + page_param + "=" + std::to_string(page - 1)) + "\">Previous</a> ";
  h += "<span>page " + std::to_string(page) + " of " + std::to_string(pages) + "</span>";
  if (page < pages)
    h += " <a href=\"" + esc(base + sep + page_param + "=" + std::to_string(page + 1)) + "\">Next</a>";
  return h + "</nav>";
}

}  // namespace d4::web::html
