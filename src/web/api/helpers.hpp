#pragma once
// Shared input helpers of the REST API (one file per resource under src/web/api/).
#include <algorithm>
#include <string>
#include <utility>

#include "web/app.hpp"
#include "web/auth/security.hpp"
#include "web/routing/routes.hpp"

namespace d4::web::api {

inline long long page_of(const Input& in) {
  return in.integer("page").value_or(1);
}
inline long long per_page_of(const Input& in, long long def) {
  return in.integer("per_page").value_or(def);
}

inline int type_param(const std::string& text) {
  int t = 0;
  try {
    std::size_t pos = 0;
    t = std::stoi(text, &pos);
    if (pos != text.size()) t = -1;
  } catch (const std::exception&) {
    t = -1;
  }
  if (t < 1 || t > 255) throw ApiError(400, "Invalid type (expected 1..255)");
  return t;
}

inline json ok(const std::string& message, json extra = json::object()) {
  extra["status"] = "ok";
  extra["message"] = message;
  return extra;
}

// A sensor action that is one policy call on the {uuid} of the path.
using PolicyAction = core::PolicyResult (core::SensorPolicy::*)(std::string_view);

// A path parameter, or the form field of the same name when a form without JavaScript posted to
// the literal "{name}" path.
inline std::string path_or_field(http::Request& req, const std::string& name) {
  const std::string& value = req.params[name];
  return value == "{" + name + "}" ? Input(req).required(name) : value;
}

inline std::string bounded_text(const Input& in, const std::string& key, std::size_t max,
                                const std::string& what) {
  auto v = in.str(key);
  if (v.size() > max) throw ApiError(400, what + " is longer than " + std::to_string(max) + " characters");
  return v;
}

// The password given, checked against the policy, or a generated one (second: generated).
inline std::pair<std::string, bool> password_or_generated(const Input& in) {
  std::string pw = in.str("password");
  if (pw.empty()) return {generate_password(), true};
  if (auto why = password_policy_violation(pw)) throw ApiError(400, *why);
  return {pw, false};
}

inline json token_created(const NewToken& t) {
  return ok("token created; copy it now, it is not shown again", {{"id", t.id}, {"token", t.token}});
}

inline queues::QueueTarget target_of(const Input& in) {
  std::string ext = in.str("extended_type");
  if (!ext.empty()) return queues::QueueTarget::extended(ext);
  auto t = in.integer("type");
  if (!t) throw ApiError(400, "parameter 'type' (or 'extended_type') is required");
  if (*t == 254 || *t == 2) throw ApiError(400, "type 254 needs 'extended_type'");
  return queues::QueueTarget::numeric(static_cast<int>(*t));
}

}  // namespace d4::web::api
