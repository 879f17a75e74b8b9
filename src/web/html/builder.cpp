#include "web/html/builder.hpp"

namespace d4::web::html {

using namespace literals;

Html attribute(std::string_view name, std::string_view value) {
  Html h;
  // The name comes from the code (a literal at every call site), never from input.
  h << " "_h;
  for (char c : name)
    if ((c >= 'a' && c <= 'z') || c == '-') h << std::string_view(&c, 1);
  return h << "=\""_h << value << "\""_h;
}

Html link(std::string_view href, std::string_view label, std::string_view css_class) {
  Html h = "<a"_h;
  if (!css_class.empty()) h << attribute("class", css_class);
  return h << attribute("href", href) << ">"_h << label << "</a>"_h;
}

Html element(std::string_view tag, std::string_view text, std::string_view css_class) {
  Html open = "<"_h, close = "</"_h;
  for (char c : tag)
    if (c >= 'a' && c <= 'z') {
      open << std::string_view(&c, 1);
      close << std::string_view(&c, 1);
    }
  if (!css_class.empty()) open << attribute("class", css_class);
  return open << ">"_h << text << close << ">"_h;
}

}  // namespace d4::web::html
