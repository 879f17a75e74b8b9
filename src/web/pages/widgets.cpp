#include "web/pages/widgets.hpp"

#include <cstdio>

#include "protocol/types.hpp"

namespace d4::web::pages {
html::PageOptions opts(const http::Request& req, std::string title, std::string active) {
  html::PageOptions o{std::move(title), std::move(active), "", ""};
  if (auto it = req.query.find("flash"); it != req.query.end()) o.flash = it->second;
  if (auto it = req.query.find("error"); it != req.query.end()) o.error = it->second;
  return o;
}
std::string s(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
}
std::string n(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return std::to_string(static_cast<long long>(v.get<double>()));
  return s(v);
}
std::string human_bytes(long long b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int i = 0;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", v, units[i]);
  return buf;
}
std::string type_label(int type) {
  auto info = type >= 0 && type <= 255 ? protocol::type_info(static_cast<std::uint8_t>(type)) : std::nullopt;
  if (!info || type == 0) return std::to_string(type);
  return std::to_string(type) + " (" + std::string(info->name) + ")";
}
std::string yesno(bool b) {
  return b ? "yes" : "no";
}
std::string sensor_link(const std::string& u) {
  return "<a class=\"mono\" href=\"/sensors/" + esc(u) + "\">" + esc(u) + "</a>";
}
std::string param(const http::Request& req, const std::string& k, const std::string& def) {
  auto it = req.query.find(k);
  return it == req.query.end() ? def : it->second;
}
long long int_param(const http::Request& req, const std::string& k, long long def) {
  try {
    auto v = param(req, k);
    return v.empty() ? def : std::stoll(v);
  } catch (const std::exception&) {
    return def;
  }
}
std::string chart(const std::string& url, const std::string& field, const std::string& label,
                  const std::string& kind, const std::string& x_unit) {
  return "<figure class=\"chart\" data-chart=\"" + esc(url) + "\" data-field=\"" + esc(field) +
         "\" data-kind=\"" + kind + "\" data-unit=\"" + esc(x_unit) + "\"><figcaption>" + esc(label) +
         "</figcaption><div class=\"plot\" aria-hidden=\"true\"></div>"
         "<noscript>Charts need JavaScript; the same data is at <a href=\"" +
         esc(url) + "\">" + esc(url) + "</a>.</noscript></figure>";
}
// A figure with its label; `value_html` is already escaped.
std::string stat_card(const std::string& value_html, const std::string& label, bool small,
                      const std::string& value_id) {
  return std::string("<div class=\"card stat\"><span class=\"value") + (small ? " small" : "") + "\"" +
         (value_id.empty() ? "" : " id=\"" + esc(value_id) + "\"") + ">" + value_html +
         "</span><span class=\"label\">" + esc(label) + "</span></div>";
}
std::string table_head(std::initializer_list<std::string> columns) {
  std::string h = "<thead><tr>";
  for (const auto& c : columns) h += "<th scope=\"col\">" + esc(c) + "</th>";
  return h + "</tr></thead>";
}
std::string empty_row(int columns, const std::string& text) {
  return "<tr><td colspan=\"" + std::to_string(columns) + "\">" + esc(text) + "</td></tr>";
}
std::string victim_link(const std::string& ip) {
  return "<a class=\"mono\" href=\"/backscatter/" + esc(http::url_encode(ip)) + "\">" + esc(ip) + "</a>";
}

}  // namespace d4::web::pages
