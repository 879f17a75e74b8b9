// d4-server: the D4 ingest server (TLS listener for sensors -> Redis streams for workers).
#include <signal.h>

#include <iostream>

#include <spdlog/spdlog.h>

#include "core/cli.hpp"
#include "core/exit_codes.hpp"
#include "core/logging.hpp"
#include "server/server.hpp"
#include "server/server_config.hpp"
#include "server/tls.hpp"

namespace {

struct Overrides {
  std::string config_file;
  std::vector<std::string> listen, plain_listen;
  std::string metrics_listen, redis_stream, redis_meta, log_level, log_format;
};

void add_override_options(d4::core::cli::App& app, Overrides& o) {
  app.add_option("-c,--config", o.config_file, "TOML configuration file (without it: built-in defaults)")
      ->check(d4::core::cli::ExistingFile);
  app.add_option("--listen", o.listen, "TLS listener host:port, repeatable (overrides server.listen)");
  app.add_option("--plain-listen", o.plain_listen,
                 "plain TCP listener (loopback), repeatable (overrides server.plain_listen)");
  app.add_option("--metrics-listen", o.metrics_listen, "metrics/health HTTP address, \"off\" to disable");
  app.add_option("--redis-stream", o.redis_stream,
                 "stream Redis endpoint host:port/db (overrides redis.stream)");
  app.add_option("--redis-meta", o.redis_meta, "metadata Redis endpoint host:port/db (overrides redis.meta)");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error (overrides general.log_level)");
  app.add_option("--log-format", o.log_format, "text or json (overrides general.log_format)");
}

std::vector<d4::server::ListenAddress> listen_arguments(const std::vector<std::string>& texts,
                                                        std::string_view option) {
  std::vector<d4::server::ListenAddress> out;
  for (const auto& text : texts) {
    try {
      out.push_back(d4::server::parse_listen_address(text));
    } catch (const d4::core::ConfigError& e) {
      throw d4::core::cli::UsageError(std::string(option) + ": " + e.what());
    }
  }
  return out;
}

// The configuration file (or the defaults) with the environment overrides, then the command line.
d4::server::ServerConfig load_config(const Overrides& o) {
  d4::server::ServerConfig config = d4::server::load_server_config(o.config_file);
  if (!o.listen.empty()) config.listen = listen_arguments(o.listen, "--listen");
  if (!o.plain_listen.empty()) config.plain_listen = listen_arguments(o.plain_listen, "--plain-listen");
  if (!o.metrics_listen.empty()) config.metrics_listen = o.metrics_listen == "off" ? "" : o.metrics_listen;
  if (!o.redis_stream.empty())
    config.common.redis.stream = d4::core::cli::endpoint_argument(o.redis_stream, "--redis-stream");
  if (!o.redis_meta.empty())
    config.common.redis.meta = d4::core::cli::endpoint_argument(o.redis_meta, "--redis-meta");
  if (!o.log_level.empty()) config.common.log.level = o.log_level;
  if (!o.log_format.empty() && !d4::core::parse_log_format(o.log_format, config.common.log.format))
    throw d4::core::cli::UsageError("--log-format must be text or json");
  return config;
}

// The certificate and key must load (a configuration error, not a start-up failure).
void check_tls_files(const d4::server::ServerConfig& c) {
  if (c.listen.empty()) return;
  try {
    d4::server::make_tls_context({c.tls_cert, c.tls_key, c.tls_client_ca, c.tls_require_client_cert,
                                  c.tls_min_version, c.tls_ciphers});
  } catch (const std::exception& e) {
    throw d4::core::ConfigError(std::string("[server] tls_cert/tls_key: ") + e.what() +
                                " (create a pair with: d4-server --generate-cert <dir>)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Until the server handles it (Server::run reloads on SIGHUP), a SIGHUP must not kill it.
  signal(SIGHUP, SIG_IGN);
  d4::core::cli::App app{
      "d4-server: D4 ingest server. Accepts sensor streams over TLS, checks them (HMAC, sensor policy) and\n"
      "stores them in Redis streams for the workers. Configuration: the [general], [redis] and [server]\n"
      "sections of the D4 TOML file (docs/server.md). SIGHUP reloads it, SIGINT/SIGTERM stop cleanly."};
  Overrides overrides;
  std::string gen_cert_dir, cert_host = "localhost";
  add_override_options(app, overrides);
  app.add_option("--generate-cert", gen_cert_dir,
                 "write a self-signed certificate and key (server.crt, server.key) into DIR and exit");
  app.add_option("--cert-host", cert_host,
                 "host name put in the generated certificate (with --generate-cert)");
  return d4::core::cli::run_main(app, argc, argv, "d4-server", [&](bool check_only) {
    if (!gen_cert_dir.empty()) {
      d4::server::generate_self_signed_certificate(gen_cert_dir, cert_host);
      std::cout << "wrote " << gen_cert_dir << "/server.crt and " << gen_cert_dir << "/server.key\n";
      return d4::core::exit_status::kOk;
    }
    d4::server::ServerConfig config = load_config(overrides);
    check_tls_files(config);
    if (check_only) return d4::core::cli::config_ok("d4-server", overrides.config_file);
    d4::core::init_logging("d4-server", config.common.log);
    // Writes to closed sockets must not kill the process.
    signal(SIGPIPE, SIG_IGN);
    d4::server::MemoryTrimmer::configure_allocator();
    d4::server::Server server(std::move(config));
    int rc = server.run();
    spdlog::shutdown();
    return rc;
  });
}
