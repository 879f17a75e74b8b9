#pragma once
// Server-rendered HTML (html/layout.cpp): the page layout, the pages shown before a user is
// known and the forms that act through the API. Everything is built with html::Html
// (html/builder.hpp), which escapes every piece of text by construction.
#include <optional>
#include <string>
#include <string_view>

#include "core/http_server.hpp"
#include "web/auth/authenticator.hpp"
#include "web/html/builder.hpp"

namespace d4::web::html {

std::string format_time(long long epoch_seconds);  // "YYYY-MM-DD HH:MM:SS" local time, "" for 0
std::string format_time(const std::optional<long long>& epoch_seconds);  // empty -> "never"

struct PageOptions {
  std::string title;
  std::string active;  // nav entry to highlight
  std::string flash;   // success message
  std::string error;   // error message
};

// The full document around `body` (navigation for the identity's role, CSRF meta tag).
http::Response layout(const PageOptions& o, const Identity* id, const Html& body, int status = 200);
http::Response error_page(int status, const std::string& message, const Identity* id = nullptr);
http::Response login_page(const std::string& next, const std::string& csrf, const std::string& error);
http::Response change_password_page(const Identity& id, const std::string& error);

// A form whose submission the JavaScript turns into a JSON API call (method may be PUT/DELETE);
// without JavaScript it posts form fields with the CSRF token and "_method" and comes back to
// `next` with a message. `extra_attributes` are written in the code (" data-reload", ...).
Html api_form_open(const Identity& id, std::string_view method, std::string_view action,
                   std::string_view next, const Html& extra_attributes = {});
Html api_button(const Identity& id, std::string_view method, std::string_view action, std::string_view next,
                std::string_view label, std::string_view confirm = {}, std::string_view css_class = "btn");
// <span class="badge kind">text</span>
Html badge(std::string_view text, std::string_view kind);
// Previous/next links that set `page_param` on `base` (pages with several lists name theirs).
Html pager(const std::string& base, long long page, long long per_page, long long total,
           const std::string& page_param = "page");

}  // namespace d4::web::html
