#pragma once
// Shared pieces of the HTML pages (one file per page under src/web/pages/): request parameters,
// value formatting and small widgets, all built with html::Html (text escaped by construction).
#include <initializer_list>
#include <string>
#include <string_view>

#include "web/app.hpp"
#include "web/html.hpp"
#include "web/models/alerts.hpp"
#include "web/routing/routes.hpp"

namespace d4::web::pages {

using html::Html;
using namespace html::literals;

// The page options of `req` (flash and error messages from the query string).
html::PageOptions opts(const http::Request& req, std::string title, std::string active);
// Query parameters with defaults (an unparsable number gives the default).
std::string param(const http::Request& req, const std::string& k, const std::string& def = {});
long long int_param(const http::Request& req, const std::string& k, long long def);

// Values as text.
std::string human_bytes(long long b);
template <typename T>
std::string number_or_empty(const std::optional<T>& v) {
  return v ? std::to_string(*v) : "";
}
std::string yesno(bool b);
// A D4 type with its registry name, e.g. "7 (yaf)", "1 (pcap)"; unassigned types as the number.
std::string type_label(int type);
std::string type_label(std::string_view type);  // a type number as Redis stores it; else as it is

// Widgets.
Html sensor_link(std::string_view uuid);
Html victim_link(std::string_view ip);
Html chart(std::string_view url, std::string_view field, std::string_view label,
           std::string_view kind = "line", std::string_view x_unit = "days");
// A figure with its label.
Html stat_card(const Html& value, std::string_view label, bool small = false, std::string_view value_id = {});
Html stat_card(std::string_view value, std::string_view label, bool small = false);
Html table_head(std::initializer_list<std::string_view> columns);
Html empty_row(int columns, std::string_view text);

// The alerts of d4-alerts as a table (state, since when, rule, watched object, summary).
Html alert_table(const std::vector<models::AlertView>& alerts, bool with_rule = true);
// The fields of an alert rule's form, filled from `rule` (a stored rule, or defaults) and
// `scope_text` (the rule's scope, or what a new rule's form starts with: "sensor:<uuid>"...).
Html alert_rule_fields(const WebConfig& cfg, const Identity& id, const alerts::Rule& rule,
                       std::string_view scope_text);

// What the parts of a page about one view need: the view, who looks at it (its forms carry the
// session's CSRF token) and whether that user may change it (admin).
template <typename View>
struct ViewPage {
  const View& view;
  const Identity& id;
  bool admin;
};

}  // namespace d4::web::pages
