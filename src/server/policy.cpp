#include "server/policy.hpp"

#include <charconv>

#include "protocol/uuid.hpp"

namespace d4::server {
namespace {

void add_uuids(std::unordered_set<std::string>& out, const core::RedisReply& r, const char* what,
               std::vector<std::string>* warnings) {
  for (const auto& s : r.as_strings()) {
    if (auto u = protocol::normalize_uuid(s))
      out.insert(*u);
    else if (warnings)
      warnings->push_back(std::string(what) + ": ignoring \"" + s + "\" (not a UUID)");
  }
}

bool parse_ll(const std::string& s, long long& v) {
  // Scores come back as decimal strings, possibly with a fraction.
  auto dot = s.find('.');
  std::string_view t(s.data(), dot == std::string::npos ? s.size() : dot);
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  return ec == std::errc() && p == t.data() + t.size();
}

}  // namespace

std::shared_ptr<Policy> build_policy(core::ServerMode mode, const std::vector<core::RedisReply>& meta,
                                     const core::RedisReply& stream_state,
                                     std::vector<std::string>* warnings) {
  auto p = std::make_shared<Policy>();
  p->mode = mode;
  if (meta.size() >= 1) p->default_key = meta[0].as_string().value_or("");
  if (meta.size() >= 2) {
    for (const auto& s : meta[1].as_strings()) {
      int t = -1;
      auto [q, ec] = std::from_chars(s.data(), s.data() + s.size(), t);
      if (ec == std::errc() && q == s.data() + s.size() && t >= 0 && t <= 255)
        p->accepted_types.set(static_cast<std::size_t>(t));
      else if (warnings)
        warnings->push_back("server:accepted_type: ignoring \"" + s + "\"");
    }
  }
  if (meta.size() >= 3)
    for (const auto& s : meta[2].as_strings()) p->accepted_extended_types.insert(s);
  if (meta.size() >= 4) {
    for (const auto& s : meta[3].as_strings()) p->blocked_ips.add(s);
    if (warnings)
      for (const auto& bad : p->blocked_ips.invalid_entries())
        warnings->push_back("blacklist_ip: ignoring \"" + bad + "\" (not an IP address or CIDR network)");
  }
  if (meta.size() >= 5) add_uuids(p->blocked_uuids, meta[4], "blacklist_uuid", warnings);
  if (meta.size() >= 6) add_uuids(p->ip_blocked_uuids, meta[5], "blacklist_ip_by_uuid", warnings);
  if (meta.size() >= 7) add_uuids(p->registered, meta[6], "registered_uuid", warnings);

  apply_stream_state(*p, stream_state);
  p->loaded = true;
  return p;
}

void apply_stream_state(Policy& p, const core::RedisReply& stream_state) {
  p.uuid_kicks.clear();
  p.type_kicks.clear();
  p.incorrect_sessions.clear();
  if (stream_state.type == core::RedisReply::Type::Array && stream_state.elements.size() == 3) {
    p.redis_now_ms = stream_state.elements[0].integer;
    auto kicks = stream_state.elements[1].as_strings();
    for (std::size_t i = 0; i + 1 < kicks.size(); i += 2) {
      long long when = 0;
      if (!parse_ll(kicks[i + 1], when)) continue;
      std::string_view m = kicks[i];
      if (m.rfind("uuid:", 0) == 0) {
        if (auto u = protocol::normalize_uuid(m.substr(5))) p.uuid_kicks[*u] = when;
      } else if (m.rfind("type:", 0) == 0) {
        int t = -1;
        auto sv = m.substr(5);
        auto [q, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), t);
        if (ec == std::errc() && q == sv.data() + sv.size()) p.type_kicks[t] = when;
      }
    }
    for (const auto& s : stream_state.elements[2].as_strings()) p.incorrect_sessions.insert(s);
  }
}

}  // namespace d4::server
