#pragma once
// A small HTML builder that escapes by construction. `Html` holds markup that is safe to emit: it
// grows only by markup written in the code (string literals with the `_h` suffix, which cannot
// be built from run-time text) and by text, which is always escaped on the way in. So a page
// cannot interpolate a sensor description, a user name or a query parameter without escaping it:
//
//   using namespace d4::web::html::literals;
//   Html h;
//   h << "<td>"_h << description << "</td>"_h;     // description escaped
//   h << link("/sensors/" + uuid, uuid);            // href and text escaped
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/http_server.hpp"

namespace d4::web::html {

class Html;
namespace literals {
Html operator""_h(const char* markup, std::size_t n);
}

class Html {
 public:
  Html() = default;

  Html& operator<<(const Html& markup) {
    s_ += markup.s_;
    return *this;
  }
  Html& operator<<(std::string_view text) {
    s_ += core::http::html_escape(text);
    return *this;
  }
  Html& operator<<(const std::string& text) { return *this << std::string_view(text); }
  Html& operator<<(const char* text) { return *this << std::string_view(text); }
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>) Html& operator<<(
      T number) {
    s_ += std::to_string(number);
    return *this;
  }
  // Markup joined: `a + b` keeps both as they are (both are already safe).
  friend Html operator+(Html a, const Html& b) { return std::move(a << b); }

  const std::string& str() const { return s_; }
  std::string take() { return std::move(s_); }
  bool empty() const { return s_.empty(); }

 private:
  friend Html literals::operator""_h(const char* markup, std::size_t n);
  std::string s_;
};

namespace literals {
inline Html operator""_h(const char* markup, std::size_t n) {
  Html h;
  h.s_.assign(markup, n);
  return h;
}
}  // namespace literals

// Common elements; every argument is text (escaped) unless its type is Html.
inline Html text(std::string_view t) {
  return Html() << t;
}
Html link(std::string_view href, std::string_view label, std::string_view css_class = {});
Html element(std::string_view tag, std::string_view text, std::string_view css_class = {});
// An attribute pair ` name="value"`: the name is written in the code, the value escaped.
Html attribute(std::string_view name, std::string_view value);
// `markup` when `condition` holds, else nothing (` selected`, ` aria-current="page"`).
inline Html when(bool condition, const Html& markup) {
  return condition ? markup : Html();
}

}  // namespace d4::web::html
