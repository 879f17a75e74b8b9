// Every route of d4-web. Adding a page or an API resource is its own file (src/web/pages/,
// src/web/api/) and one line in this table.
#include "web/api/helpers.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web {

namespace {
using RouteModule = void (*)(WebApp&, http::Router&);
// Order matters only where two patterns could match one path: the first added wins.
constexpr RouteModule kRouteModules[] = {
    // REST API, /api/v1 (docs/api/openapi.json)
    api::reference,
    api::statistics,
    api::sensors,
    api::server,
    api::queues,
    api::backscatter,
    api::users,
    // pages
    pages::dashboard,
    pages::sensors,
    pages::sensor,
    pages::server,
    pages::queues,
    pages::queue_new,
    pages::queue,
    pages::backscatter,
    pages::backscatter_victim,
    pages::users,
    pages::profile,
};
}  // namespace

void add_routes(WebApp& app, http::Router& r) {
  for (auto module : kRouteModules) module(app, r);
}

}  // namespace d4::web
