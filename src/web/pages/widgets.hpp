#pragma once
// Shared pieces of the HTML pages (one file per page under src/web/pages/): request parameters,
// value formatting and small widgets. Every function that returns markup escapes what it
// interpolates.
#include <initializer_list>
#include <string>

#include "web/app.hpp"
#include "web/html.hpp"
#include "web/users.hpp"

namespace d4::web::pages {

using html::esc;

// The page options of `req` (flash and error messages from the query string).
html::PageOptions opts(const http::Request& req, std::string title, std::string active);
// Query parameters with defaults (an unparsable number gives the default).
std::string param(const http::Request& req, const std::string& k, const std::string& def = {});
long long int_param(const http::Request& req, const std::string& k, long long def);

// Values as text: strings as they are, null as "", numbers in decimal (not escaped).
std::string s(const json& v);
std::string n(const json& v);
std::string human_bytes(long long b);
std::string yesno(bool b);
// A D4 type with its registry name, e.g. "7 (yaf)", "1 (pcap)"; unassigned types as the number.
std::string type_label(int type);

// Widgets (markup; what they interpolate is escaped).
std::string sensor_link(const std::string& uuid);
std::string victim_link(const std::string& ip);
std::string chart(const std::string& url, const std::string& field, const std::string& label,
                  const std::string& kind = "line", const std::string& x_unit = "days");
// A figure with its label; `value_html` is already escaped.
std::string stat_card(const std::string& value_html, const std::string& label, bool small = false,
                      const std::string& value_id = {});
std::string table_head(std::initializer_list<std::string> columns);
std::string empty_row(int columns, const std::string& text);

// Every page of the interface, one function per file under src/web/pages/ (registered in
// web/routes.cpp).
void dashboard(WebApp& app, http::Router& r);
void sensors(WebApp& app, http::Router& r);
void sensor(WebApp& app, http::Router& r);
void server(WebApp& app, http::Router& r);
void queues(WebApp& app, http::Router& r);
void queue_new(WebApp& app, http::Router& r);
void queue(WebApp& app, http::Router& r);
void backscatter(WebApp& app, http::Router& r);
void backscatter_victim(WebApp& app, http::Router& r);
void users(WebApp& app, http::Router& r);
void profile(WebApp& app, http::Router& r);

}  // namespace d4::web::pages
