// The router of d4-web: the middleware (the client behind a trusted proxy, `_method` of plain
// forms), the finalizer (security headers, Cache-Control), static assets, then every route.
#include "protocol/text.hpp"
#include "web/app.hpp"
#include "web/assets.hpp"
#include "web/html.hpp"
#include "web/routing/client_address.hpp"
#include "web/routing/forms.hpp"
#include "web/routing/routes.hpp"

namespace d4::web {

http::Router build_router(WebApp& app) {
  const WebConfig& cfg = app.config();
  http::Router r;
  // The client behind a trusted reverse proxy; HTML forms can only GET or POST: a form posting
  // "_method" asks for PUT or DELETE.
  const auto forwarding = text::iequals(cfg.trusted_proxy_header, "forwarded")
                              ? ForwardingHeader::Forwarded
                              : ForwardingHeader::XForwardedFor;
  r.set_middleware([&cfg, forwarding](http::Request& req) -> std::optional<http::Response> {
    req.remote_ip =
        client_address(req.remote_ip, req.header(cfg.trusted_proxy_header), forwarding, cfg.trusted_proxies);
    if (req.method == "POST" && is_form(req)) {
      auto f = req.form();
      if (auto it = f.find("_method"); it != f.end() && (it->second == "PUT" || it->second == "DELETE"))
        req.method = it->second;
    }
    return std::nullopt;
  });
  const bool https = cfg.https();
  r.set_finalizer([https](const http::Request& req, http::Response& resp) {
    bool api = req.path.rfind("/api/", 0) == 0;
    if (api && resp.status == 405)
      resp = http::Response::json(405, {{"status", "error"},
                                        {"reason", "Method Not Allowed: " + req.method + " " + req.path},
                                        {"documentation", "/api/v1/openapi.json"}});
    resp.with_header("X-Content-Type-Options", "nosniff")
        .with_header("X-Frame-Options", "DENY")
        .with_header("Referrer-Policy", "same-origin")
        .with_header("Content-Security-Policy",
                     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                     "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    if (https) resp.with_header("Strict-Transport-Security", "max-age=31536000");
    if (req.path.rfind("/static/", 0) != 0) resp.with_header("Cache-Control", "no-store");
  });
  r.set_not_found([](http::Request& req) {
    if (req.path.rfind("/api/", 0) == 0) return http::Response::error(404, "404 Not Found");
    return html::error_page(404, "There is no page at this address.");
  });

  r.get("/static/*", [](http::Request& req) {
    const auto* a = find_asset(req.params["*"]);
    if (!a || a->name == "openapi.json") return html::error_page(404, "No such file.");
    if (req.header("If-None-Match") == a->etag) {
      http::Response nm;
      nm.status = 304;
      nm.content_type.clear();
      return nm.with_header("ETag", std::string(a->etag));
    }
    auto resp = http::Response::text(200, std::string(a->data), std::string(a->content_type));
    return resp.with_header("ETag", std::string(a->etag)).with_header("Cache-Control", "no-cache");
  });
  r.get("/api/v1/openapi.json", [](http::Request&) {
    const auto* a = find_asset("openapi.json");
    return http::Response::text(200, std::string(a->data), "application/json");
  });
  Routes routes(r, app.auth(), app.counters().redis_errors, [&app]() -> Db& { return app.db(); });
  app.auth().add_routes(routes);
  add_routes(app, routes);
  return r;
}

}  // namespace d4::web
