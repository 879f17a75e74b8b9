#include "web/app.hpp"

#include "web/routing/routes.hpp"

namespace d4::web {

WebApp::WebApp(WebConfig config)
    : cfg_(std::move(config)), connections_(cfg_), auth_(cfg_, counters_, connections_) {}

http::Router WebApp::build_router() {
  return d4::web::build_router(*this);
}

std::map<std::string, std::uint64_t> WebApp::budget_counters() const {
  std::map<std::string, std::uint64_t> c = {{"login_failures", counters_.login_failures.load()},
                                            {"login_delayed", counters_.login_delayed.load()},
                                            {"password_checks_busy", counters_.password_checks_busy.load()},
                                            {"registrations_refused", counters_.registrations_refused.load()},
                                            {"tokens_refused", counters_.tokens_refused.load()},
                                            {"blocks_refused", counters_.blocks_refused.load()}};
  if (server_stats_) {
    auto st = server_stats_();
    c["open_connections"] = st.open_connections;
    c["connections_refused_max"] = st.refused_max_connections;
    c["connections_refused_per_ip"] = st.refused_per_ip;
    c["header_timeouts"] = st.header_timeouts;
    c["body_timeouts"] = st.body_timeouts;
  }
  return c;
}

}  // namespace d4::web
