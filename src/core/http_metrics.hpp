#pragma once
// Request metrics of an HTTP service (d4-web, the analyzers' query APIs), on the shared registry:
//   <prefix>_http_requests_total{route,status_class}   counter
//   <prefix>_http_request_duration_seconds{route}      histogram (time in the handler)
// `route` is the route group: the matched route's pattern up to its first parameter, at most three
// segments ("/api/v1/sensors/{uuid}" -> "/api/v1/sensors", "/static/*" -> "/static"), or
// "unmatched". It comes from the code's routes, never from the request, so the label stays bounded.
#include <string>
#include <string_view>

#include "core/http_server.hpp"
#include "core/metrics.hpp"

namespace d4::core::http {

std::string route_group(std::string_view pattern);
// "1xx".."5xx".
std::string status_class(int status);

// Installs an observer on `router` counting every request into `registry` (which must outlive
// the router's server).
void instrument(Router& router, metrics::Registry& registry, const std::string& prefix);

}  // namespace d4::core::http
