#include "core/redis_handshake.hpp"

#include <charconv>

#include "protocol/resp_writer.hpp"
#include "protocol/text.hpp"

namespace d4::core {
namespace {

void handshake_add(RedisHandshake& h, std::initializer_list<std::string_view> args) {
  protocol::RespWriter w(h.resp);
  w.command(args);
  h.names.emplace_back(*args.begin());
}

void handshake_add_auth(RedisHandshake& h, const std::string& user, const std::string& password) {
  if (password.empty()) return;
  if (user.empty())
    handshake_add(h, {"AUTH", password});
  else
    handshake_add(h, {"AUTH", user, password});
}

}  // namespace

RedisHandshake node_handshake(const RedisEndpoint& e, bool select_db, bool check_role) {
  RedisHandshake h;
  handshake_add_auth(h, e.username, e.password);
  if (select_db && e.db != 0) handshake_add(h, {"SELECT", std::to_string(e.db)});
  if (check_role) handshake_add(h, {"ROLE"});
  handshake_add(h, {"PING"});
  return h;
}

RedisHandshake sentinel_query(const RedisEndpoint& e) {
  RedisHandshake h;
  handshake_add_auth(h, e.sentinel_username, e.sentinel_password);
  handshake_add(h, {"SENTINEL", "get-master-addr-by-name", e.sentinel_master});
  return h;
}

std::optional<std::string> check_node_handshake(const RedisHandshake& h,
                                                const std::vector<RedisReply>& replies) {
  for (std::size_t i = 0; i < replies.size() && i < h.names.size(); ++i) {
    const RedisReply& r = replies[i];
    if (r.is_error()) {
      // An ACL user without the right to a handshake command: say which right is missing.
      std::string hint =
          r.str.starts_with("NOPERM") ? " (the ACL user needs +" + text::ascii_lower(h.names[i]) + ")" : "";
      return h.names[i] + ": " + r.str + hint;
    }
    if (h.names[i] == "ROLE") {
      std::string role = r.elements.empty() ? "" : r.elements.front().str;
      if (role != "master") return "ROLE: the node is a " + (role.empty() ? "?" : role) + ", not the master";
    }
  }
  return std::nullopt;
}

std::optional<RedisNode> master_from_sentinel(const RedisHandshake& h, const std::vector<RedisReply>& replies,
                                              const std::string& master, std::string* error) {
  for (std::size_t i = 0; i + 1 < replies.size() && i < h.names.size(); ++i)
    if (replies[i].is_error()) return *error = h.names[i] + ": " + replies[i].str, std::nullopt;
  const RedisReply& r = replies.back();
  if (r.is_error()) return *error = r.str, std::nullopt;
  if (r.is_nil()) return *error = "does not know master \"" + master + "\"", std::nullopt;
  RedisNode node;
  if (r.elements.size() != 2 || r.elements[0].str.empty())
    return *error = "unexpected reply " + r.describe(), std::nullopt;
  node.host = r.elements[0].str;
  const std::string& p = r.elements[1].str;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), node.port);
  if (ec != std::errc() || end != p.data() + p.size() || node.port <= 0 || node.port > 65535)
    return *error = "unexpected port " + p, std::nullopt;
  return node;
}

}  // namespace d4::core
