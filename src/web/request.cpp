#include "web/request.hpp"

#include <charconv>

namespace d4::web {

std::string safe_redirect_target(const std::string& next) {
  if (next.empty() || next.front() != '/' || next.size() > 2000) return "/";
  if (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) return "/";
  for (unsigned char c : next)
    if (c < 0x20 || c == 0x7f || c == '\\') return "/";
  return next;
}

std::string require_uuid(const std::string& text) {
  auto u = core::normalize_sensor_uuid(text);
  if (!u) throw ApiError(400, "Invalid uuid");
  return *u;
}

json result_or_throw(const core::PolicyResult& r) {
  using C = core::PolicyResult::Code;
  switch (r.code) {
    case C::Ok:
      break;
    case C::Invalid:
      throw ApiError(400, r.message);
    case C::NotFound:
      throw ApiError(404, r.message);
    case C::Conflict:
      throw ApiError(409, r.message);
  }
  json j = {{"status", "ok"}};
  if (!r.value.empty()) j["value"] = r.value;
  return j;
}

Input::Input(const http::Request& req) {
  for (const auto& [k, v] : req.query) body_[k] = v;
  auto type = req.header("Content-Type");
  if (req.body.empty()) return;
  if (type.rfind("application/json", 0) == 0) {
    auto j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw ApiError(400, "the body must be a JSON object");
    for (auto& [k, v] : j.items()) body_[k] = v;
  } else if (type.rfind("application/x-www-form-urlencoded", 0) == 0) {
    for (const auto& [k, v] : req.form()) body_[k] = v;
  } else {
    throw ApiError(415, "unsupported Content-Type (use application/json)");
  }
}

bool Input::has(const std::string& k) const {
  return body_.contains(k) && !body_[k].is_null();
}

std::string Input::str(const std::string& k, const std::string& def) const {
  if (!has(k)) return def;
  const auto& v = body_[k];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  throw ApiError(400, "parameter '" + k + "' must be a string");
}

std::string Input::required(const std::string& k) const {
  auto s = str(k);
  if (s.empty()) throw ApiError(400, "parameter '" + k + "' is required");
  return s;
}

std::optional<long long> Input::integer(const std::string& k) const {
  if (!has(k)) return std::nullopt;
  const auto& v = body_[k];
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_string()) {
    auto s = v.get<std::string>();
    if (s.empty()) return std::nullopt;
    long long n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && p == s.data() + s.size()) return n;
  }
  throw ApiError(400, "parameter '" + k + "' must be an integer");
}

bool Input::flag(const std::string& k) const {
  if (!has(k)) return false;
  const auto& v = body_[k];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) {
    auto s = v.get<std::string>();
    return !(s.empty() || s == "0" || s == "false" || s == "False" || s == "off" || s == "no");
  }
  return false;
}

std::vector<std::string> Input::list(const std::string& k) const {
  std::vector<std::string> out;
  if (!has(k)) return out;
  const auto& v = body_[k];
  if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_string()) throw ApiError(400, "parameter '" + k + "' must be a list of strings");
      if (!e.get<std::string>().empty()) out.push_back(e.get<std::string>());
    }
    return out;
  }
  std::string cur;
  for (char c : str(k)) {
    if (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace d4::web
