#pragma once
// What every route handler uses to read a request and to refuse it: the request input (JSON
// body, form fields, query string), ApiError (carried to the route wrapper, which answers JSON or
// an error page), and the checks of common parameters.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/http_server.hpp"
#include "core/sensors.hpp"

namespace d4::web {

namespace http = d4::core::http;
using json = nlohmann::json;

// An API error carried to the route wrapper: {"status":"error","reason":...} with `status`.
struct ApiError : std::runtime_error {
  int status;
  ApiError(int s, const std::string& reason) : std::runtime_error(reason), status(s) {}
};

// Request input: a JSON object body, or form fields, plus the query string as a fallback.
class Input {
 public:
  explicit Input(const http::Request& req);
  bool has(const std::string& k) const;
  std::string str(const std::string& k, const std::string& def = {}) const;
  std::string required(const std::string& k) const;              // throws ApiError 400
  std::optional<long long> integer(const std::string& k) const;  // throws ApiError 400 if not a number
  bool flag(const std::string& k) const;
  std::vector<std::string> list(
      const std::string& k) const;  // JSON array, or comma/space/newline separated text
  const json& body() const { return body_; }

 private:
  json body_ = json::object();
};

// Only same-site relative paths ("/x", not "//x", "/\x" or "http:..."): anything else gives "/".
std::string safe_redirect_target(const std::string& next);
std::string require_uuid(const std::string& text);  // dashless; throws ApiError 400 "Invalid uuid"
// {"status": "ok"[, "value": ...]} for a successful policy call; ApiError 400/404/409 otherwise.
json result_or_throw(const core::PolicyResult& r);

}  // namespace d4::web
