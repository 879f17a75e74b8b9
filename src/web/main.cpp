// d4-web: the operators' web interface and REST API.
#include <filesystem>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>
#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/exit_codes.hpp"
#include "core/logging.hpp"
#include "core/privileges.hpp"
#include "core/stop_signal.hpp"
#include "web/app.hpp"
#include "web/web_metrics.hpp"

int main(int argc, char** argv) {
  d4::core::install_hangup_handler();
  d4::core::cli::App app{
      "d4-web: web interface and REST API of the D4 server (HTTPS by default, see docs/web.md)"};
  std::string config_file;
  // Required, checked after parsing so that an unknown option is reported as such first.
  app.add_option("-c,--config", config_file, "Configuration file (TOML), required");
  std::string metrics_listen;
  app.add_option("--metrics-listen", metrics_listen,
                 "serve /metrics and /health on host:port (default [web] metrics_listen; off: none)");
  return d4::core::cli::run_main(app, argc, argv, "d4-web", [&](bool check_only) {
    if (config_file.empty()) throw d4::core::cli::UsageError("--config is required");
    namespace fs = std::filesystem;
    fs::path cfg_path = fs::absolute(config_file);
    auto root = d4::core::load_config(cfg_path);
    auto cfg = d4::web::read_web_config(root, cfg_path.parent_path());
    const auto run_as = d4::core::read_run_as(root);
    if (check_only) return d4::core::cli::config_ok("d4-web", cfg_path.string());
    d4::core::init_logging("d4-web", cfg.common.log);
    if (!cfg.https())
      spdlog::warn(
          "[web] tls_cert and tls_key are empty: serving plain HTTP; passwords and session cookies travel "
          "in clear (use this only behind a TLS proxy or on loopback)");
    if (cfg.password_hash == d4::web::PasswordHashCost::Minimum)
      spdlog::warn(
          "[web] password_hash = \"minimum\": password hashes are cheap to crack if the users database "
          "leaks; meant for throw-away test instances only");

    d4::web::WebApp web(cfg);
    // Redis may still be starting (d4-stack starts everything at once): retry for a while.
    for (int attempt = 0;; ++attempt) {
      try {
        web.first_run();
        break;
      } catch (const d4::core::RedisError& e) {
        if (attempt >= 50) throw;
        if (attempt == 0) spdlog::warn("waiting for Redis: {}", e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }

    d4::core::http::ServerOptions opt;
    opt.address = cfg.address;
    opt.port = cfg.port;
    opt.tls_cert_file = cfg.tls_cert.string();
    opt.tls_key_file = cfg.tls_key.string();
    opt.handler_threads = cfg.handler_threads;
    opt.io_threads = 1;
    opt.server_header = "d4-web";
    opt.max_connections = cfg.max_connections;
    opt.max_connections_per_ip = cfg.max_connections_per_ip;
    opt.unlimited_peers = cfg.trusted_proxies;  // a proxy carries many clients' connections
    opt.header_timeout = cfg.header_timeout;
    opt.body_timeout = cfg.body_timeout;
    opt.idle_timeout = cfg.idle_timeout;
    // Declared before the server, whose router counts into it.
    d4::web::WebMetrics metrics(cfg, web.counters());
    if (metrics_listen.empty()) metrics_listen = d4::core::get_string(root, "web", "metrics_listen", "");
    if (metrics_listen == "off") metrics_listen.clear();
    auto router = web.build_router();
    if (!metrics_listen.empty()) metrics.instrument(router);
    d4::core::http::Server server(std::move(router), opt);
    web.set_server_stats([&server] { return server.stats(); });

    d4::core::install_stop_handlers(/*interrupt_blocking_calls=*/false);
    d4::core::enable_config_reload("d4-web", cfg_path, "");

    server.start();
    d4::core::log_listening(cfg.https() ? "web interface, HTTPS" : "web interface, HTTP", cfg.address,
                            server.port());
    // After the server: stopped before it (it reads the server's connection budget).
    std::unique_ptr<d4::core::metrics::Endpoint> metrics_endpoint;
    if (!metrics_listen.empty())
      metrics_endpoint = metrics.serve(metrics_listen, [&server] { return server.stats(); });
    d4::core::drop_privileges("d4-web", run_as);
    while (d4::core::sleep_unless_stopped(std::chrono::milliseconds(100))) {
    }
    spdlog::info("d4-web stopping");
    metrics_endpoint.reset();
    server.stop();
    return d4::core::exit_status::kOk;
  });
}
