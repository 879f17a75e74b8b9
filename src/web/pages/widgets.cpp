#include "web/pages/widgets.hpp"

#include <charconv>
#include <cstdio>

#include "protocol/types.hpp"

namespace d4::web::pages {

html::PageOptions opts(const http::Request& req, std::string title, std::string active) {
  html::PageOptions o{std::move(title), std::move(active), "", ""};
  if (auto it = req.query.find("flash"); it != req.query.end()) o.flash = it->second;
  if (auto it = req.query.find("error"); it != req.query.end()) o.error = it->second;
  return o;
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

std::string yesno(bool b) {
  return b ? "yes" : "no";
}

std::string type_label(int type) {
  auto info = type > 0 && type <= 255 ? protocol::type_info(static_cast<std::uint8_t>(type)) : std::nullopt;
  if (!info) return std::to_string(type);
  return std::to_string(type) + " (" + std::string(info->name) + ")";
}

std::string type_label(std::string_view type) {
  int n = 0;
  auto [end, ec] = std::from_chars(type.data(), type.data() + type.size(), n);
  if (ec != std::errc() || end != type.data() + type.size()) return std::string(type);
  return type_label(n);
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

Html sensor_link(std::string_view uuid) {
  return html::link("/sensors/" + std::string(uuid), uuid, "mono");
}

Html victim_link(std::string_view ip) {
  return html::link("/backscatter/" + http::url_encode(std::string(ip)), ip, "mono");
}

Html chart(std::string_view url, std::string_view field, std::string_view label, std::string_view kind,
           std::string_view x_unit) {
  using html::attribute;
  return "<figure class=\"chart\""_h << attribute("data-chart", url) << attribute("data-field", field)
                                     << attribute("data-kind", kind) << attribute("data-unit", x_unit)
                                     << "><figcaption>"_h << label
                                     << "</figcaption><div class=\"plot\" aria-hidden=\"true\"></div>"
                                        "<noscript>Charts need JavaScript; the same data is at "_h
                                     << html::link(url, url) << ".</noscript></figure>"_h;
}

Html stat_card(const Html& value, std::string_view label, bool small, std::string_view value_id) {
  Html h = "<div class=\"card stat\"><span class=\"value"_h;
  h << html::when(small, " small"_h) << "\""_h;
  if (!value_id.empty()) h << html::attribute("id", value_id);
  return h << ">"_h << value << "</span><span class=\"label\">"_h << label << "</span></div>"_h;
}

Html stat_card(std::string_view value, std::string_view label, bool small) {
  return stat_card(html::text(value), label, small);
}

Html table_head(std::initializer_list<std::string_view> columns) {
  Html h = "<thead><tr>"_h;
  for (auto c : columns) h << "<th scope=\"col\">"_h << c << "</th>"_h;
  return h << "</tr></thead>"_h;
}

Html empty_row(int columns, std::string_view text) {
  return "<tr><td colspan=\""_h << columns << "\">"_h << text << "</td></tr>"_h;
}

}  // namespace d4::web::pages
