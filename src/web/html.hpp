#pragma once
// Server-rendered HTML (html/layout.cpp): the page layout, the pages shown before a user is
// known and the forms that act through the API. Everything interpolated is HTML-escaped with
// esc(); new markup is better built with html::Html (html/builder.hpp), which escapes by
// construction.
#include <string>
#include <string_view>

#include "core/http_server.hpp"
#include "web/app.hpp"

namespace d4::web::html {

inline std::string esc(std::string_view s) {
  return core::http::html_escape(s);
}
std::string format_time(long long epoch_seconds);  // "YYYY-MM-DD HH:MM:SS" local time, "" for 0
std::string format_time(const json& v);            // null -> "never"

struct PageOptions {
  std::string title;
  std::string active;  // nav entry to highlight
  std::string flash;   // success message
  std::string error;   // error message
};

// The full document around `body` (navigation for the identity's role, CSRF meta tag).
http::Response layout(const PageOptions& o, const Identity* id, const std::string& body, int status = 200);
http::Response error_page(int status, const std::string& message, const Identity* id = nullptr);
http::Response login_page(const std::string& next, const std::string& csrf, const std::string& error);
http::Response change_password_page(const Identity& id, const std::string& error);

// A form whose submission the JavaScript turns into a JSON API call (method may be PUT/DELETE);
// without JavaScript it posts form fields with the CSRF token and "_method" and comes back to
// `next` with a message.
std::string api_form_open(const Identity& id, const std::string& method, const std::string& action,
                          const std::string& next, const std::string& extra_attrs = {});
std::string api_button(const Identity& id, const std::string& method, const std::string& action,
                       const std::string& next, const std::string& label, const std::string& confirm = {},
                       const std::string& css_class = "btn");
// <span class="badge kind">text</span>
std::string badge(const std::string& text, const std::string& kind);
// Previous/next links that set `page_param` on `base` (pages with several lists name theirs).
std::string pager(const std::string& base, long long page, long long per_page, long long total,
                  const std::string& page_param = "page");

}  // namespace d4::web::html
