// /api/v1: server management (docs/api/openapi.json).
#include "web/models/server.hpp"
#include "core/ipnet.hpp"
#include "web/api/helpers.hpp"

namespace d4::web::api {

namespace {
// Refuses (ApiError) blocking or unblocking `ip` beyond what the role may: a network covering
// every address is never blocked; one wider than the user bound needs the admin role.
void check_block_scope(WebApp& app, const std::string& ip, const Identity& id, bool blocking) {
  // The blocklist cuts off every organisation's sensors behind an address: a user who sees only
  // its organisation's sensors may not change it.
  Scope::of(app.db(), id).require_unrestricted();
  auto net = core::IpNetwork::parse(ip);
  if (!net) return;  // the policy call answers 400 with the reason
  if (blocking && net->prefix_len() == 0) {
    ++app.counters().blocks_refused;
    throw ApiError(400,
                   "refused: " + net->to_string() + " covers every address and would cut off every sensor");
  }
  const auto& cfg = app.config();
  int min = net->address().is_v4() ? cfg.user_block_min_prefix_v4 : cfg.user_block_min_prefix_v6;
  if (net->prefix_len() < min && !role_allows(id.role, Role::Admin)) {
    ++app.counters().blocks_refused;
    throw ApiError(403, "a network wider than /" + std::to_string(min) + " needs the admin role");
  }
}
}  // namespace

void server(WebApp& app, Routes& r) {
  r.api("GET", "/api/v1/server", Role::User, [&app](http::Request&, const Identity& id) {
    return json(models::Server(app.db(), app.config()).view(Scope::of(app.db(), id)));
  });
  r.api("POST", "/api/v1/server/types", Role::Admin, [&app](http::Request& req, const Identity&) {
    Input in(req);
    int t = type_param(in.required("type"));
    auto& d = app.db();
    if (t == 254 && in.has("extended_type") && !in.str("extended_type").empty())
      result_or_throw(d.policy.add_accepted_extended_type(in.str("extended_type")));
    result_or_throw(d.policy.add_accepted_type(t));
    return ok("type " + std::to_string(t) + " accepted");
  });
  r.api("DELETE", "/api/v1/server/types/{type}", Role::Admin, [&app](http::Request& req, const Identity&) {
    result_or_throw(app.db().policy.remove_accepted_type(type_param(req.params["type"])));
    return ok("type removed");
  });
  r.api("POST", "/api/v1/server/extended-types", Role::Admin, [&app](http::Request& req, const Identity&) {
    result_or_throw(app.db().policy.add_accepted_extended_type(Input(req).required("name")));
    return ok("extended type accepted");
  });
  r.api("DELETE", "/api/v1/server/extended-types/{name}", Role::Admin,
        [&app](http::Request& req, const Identity&) {
          result_or_throw(app.db().policy.remove_accepted_extended_type(req.params["name"]));
          return ok("extended type removed");
        });
  r.api("POST", "/api/v1/server/kick-type/{type}", Role::Admin, [&app](http::Request& req, const Identity&) {
    result_or_throw(app.db().policy.kick_type(type_param(path_or_field(req, "type"))));
    return ok("every connection of this type was kicked");
  });
  // The two blocklists: list (search, pages), add, remove.
  struct BlocklistRoutes {
    const char* path;
    bool ips;
    Role change_role;  // least role that may add or remove entries
    const char* field;
    PolicyAction add, remove;
    const char* added;  // message; the IP list names the canonical entry instead
    const char* removed;
  };
  for (const BlocklistRoutes& b :
       {BlocklistRoutes{"/api/v1/server/blocklist/ips", true, Role::User, "ip", &core::SensorPolicy::block_ip,
                        &core::SensorPolicy::unblock_ip, nullptr, "unblocked"},
        BlocklistRoutes{"/api/v1/server/blocklist/uuids", false, Role::Admin, "uuid",
                        &core::SensorPolicy::block_uuid, &core::SensorPolicy::unblock_uuid, "sensor blocked",
                        "sensor unblocked"}}) {
    r.api("GET", b.path, Role::User, [&app, b](http::Request& req, const Identity& id) {
      Input in(req);
      auto kind = b.ips ? models::BlocklistKind::Ips : models::BlocklistKind::Uuids;
      return json(
          models::Server(app.db(), app.config())
              .blocklist(kind, in.str("q"), page_of(in), per_page_of(in, 100), Scope::of(app.db(), id)));
    });
    r.api("POST", b.path, b.change_role, [&app, b](http::Request& req, const Identity& id) {
      auto value = Input(req).required(b.field);
      if (b.ips) check_block_scope(app, value, id, true);
      auto res = (app.db().policy.*b.add)(value);
      result_or_throw(res);
      return ok(b.added ? b.added : res.value + " blocked", {{"value", res.value}});
    });
    r.api("DELETE", b.path, b.change_role, [&app, b](http::Request& req, const Identity& id) {
      auto value = Input(req).required(b.field);
      if (b.ips) check_block_scope(app, value, id, false);
      auto res = (app.db().policy.*b.remove)(value);
      result_or_throw(res);
      return ok(b.removed, {{"value", res.value}});
    });
  }
}

}  // namespace d4::web::api
