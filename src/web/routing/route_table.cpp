// Every route of d4-web. Adding a page or an API resource is its own file (src/web/pages/,
// src/web/api/) and one line in this table; the login routes belong to auth/.
#include "web/app.hpp"
#include "web/routing/routes.hpp"

namespace d4::web {

// REST API resources, one function per file under src/web/api/.
namespace api {
void reference(WebApp& app, Routes& r);
void statistics(WebApp& app, Routes& r);
void sensors(WebApp& app, Routes& r);
void server(WebApp& app, Routes& r);
void queues(WebApp& app, Routes& r);
void backscatter(WebApp& app, Routes& r);
void users(WebApp& app, Routes& r);
void alerts(WebApp& app, Routes& r);
void organisations(WebApp& app, Routes& r);
void registrations(WebApp& app, Routes& r);
void misp_feed(WebApp& app, Routes& r);
void grants(WebApp& app, Routes& r);
void org_channels(WebApp& app, Routes& r);
}  // namespace api

// Pages, one function per file under src/web/pages/.
namespace pages {
void dashboard(WebApp& app, Routes& r);
void sensors(WebApp& app, Routes& r);
void sensor(WebApp& app, Routes& r);
void server(WebApp& app, Routes& r);
void queues(WebApp& app, Routes& r);
void queue_new(WebApp& app, Routes& r);
void queue(WebApp& app, Routes& r);
void backscatter(WebApp& app, Routes& r);
void backscatter_victim(WebApp& app, Routes& r);
void alerts(WebApp& app, Routes& r);
void alert_rule_new(WebApp& app, Routes& r);
void alert_rule(WebApp& app, Routes& r);
void users(WebApp& app, Routes& r);
void profile(WebApp& app, Routes& r);
void organisations(WebApp& app, Routes& r);
void registrations(WebApp& app, Routes& r);
void grants(WebApp& app, Routes& r);
void alert_channels(WebApp& app, Routes& r);
void misp_feed(WebApp& app, Routes& r);
}  // namespace pages

namespace {
using RouteModule = void (*)(WebApp&, Routes&);
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
    api::alerts,
    api::organisations,
    api::registrations,
    api::misp_feed,
    api::grants,
    api::org_channels,
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
    pages::alerts,
    pages::alert_rule_new,
    pages::alert_rule,
    pages::users,
    pages::profile,
    pages::organisations,
    pages::registrations,
    pages::grants,
    pages::alert_channels,
    pages::misp_feed,
};
}  // namespace

void add_routes(WebApp& app, Routes& r) {
  for (auto module : kRouteModules) module(app, r);
}

}  // namespace d4::web
