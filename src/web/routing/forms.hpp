#pragma once
#include "core/http_server.hpp"

namespace d4::web {

// A plain HTML form post (no JavaScript, which sends JSON and asks for JSON back).
inline bool is_form(const core::http::Request& req) {
  return req.header("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0 &&
         req.header("Accept").find("application/json") == std::string::npos;
}

}  // namespace d4::web
