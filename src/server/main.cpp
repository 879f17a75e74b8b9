// d4-server: the D4 ingest server (TLS listener for sensors -> Redis streams for workers).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include <spdlog/spdlog.h>

#include "core/logging.hpp"
#include "server/server.hpp"
#include "server/server_config.hpp"
#include "server/tls.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "d4-server: D4 ingest server. Accepts sensor streams over TLS, checks them (HMAC, sensor policy) and\n"
      "stores them in Redis streams for the workers. Configuration: the [general], [redis] and [server]\n"
      "sections of the D4 TOML file (docs/server.md). SIGHUP reloads it, SIGINT/SIGTERM stop cleanly."};
  std::string config_file, gen_cert_dir, cert_host = "localhost";
  std::vector<std::string> listen, plain_listen;
  std::string metrics_listen, redis_stream, redis_meta, log_level, log_format;
  bool check_only = false, version = false;
  app.add_option("-c,--config", config_file, "TOML configuration file (without it: built-in defaults)")
      ->check(CLI::ExistingFile);
  app.add_option("--generate-cert", gen_cert_dir,
                 "write a self-signed certificate and key (server.crt, server.key) into DIR and exit");
  app.add_option("--cert-host", cert_host,
                 "host name put in the generated certificate (with --generate-cert)");
  app.add_option("--listen", listen, "TLS listener host:port, repeatable (overrides server.listen)");
  app.add_option("--plain-listen", plain_listen,
                 "plain TCP listener (loopback), repeatable (overrides server.plain_listen)");
  app.add_option("--metrics-listen", metrics_listen, "metrics/health HTTP address, \"off\" to disable");
  app.add_option("--redis-stream", redis_stream,
                 "stream Redis endpoint host:port/db (overrides redis.stream)");
  app.add_option("--redis-meta", redis_meta, "metadata Redis endpoint host:port/db (overrides redis.meta)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error (overrides general.log_level)");
  app.add_option("--log-format", log_format, "text or json (overrides general.log_format)");
  app.add_flag("--check-config", check_only, "validate the configuration and exit");
  app.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);

  if (version) {
    std::cout << "d4-server 0.1.0\n";
    return 0;
  }
  if (!gen_cert_dir.empty()) {
    try {
      d4::server::generate_self_signed_certificate(gen_cert_dir, cert_host);
      std::cout << "wrote " << gen_cert_dir << "/server.crt and " << gen_cert_dir << "/server.key\n";
      return 0;
    } catch (const std::exception& e) {
      std::cerr << "d4-server: " << e.what() << "\n";
      return 1;
    }
  }
  d4::server::ServerConfig config;
  try {
    if (!config_file.empty()) {
      config = d4::server::load_server_config(config_file);
    } else {
      config = d4::server::read_server_config(toml::table{});
    }
    if (!listen.empty()) {
      config.listen.clear();
      for (const auto& l : listen) config.listen.push_back(d4::server::parse_listen_address(l));
    }
    if (!plain_listen.empty()) {
      config.plain_listen.clear();
      for (const auto& l : plain_listen) config.plain_listen.push_back(d4::server::parse_listen_address(l));
    }
    if (!metrics_listen.empty()) config.metrics_listen = metrics_listen == "off" ? "" : metrics_listen;
    auto endpoint = [](const std::string& text, const char* what) {
      std::string err;
      auto e = d4::core::RedisEndpoint::parse(text, &err);
      if (!e) throw d4::core::ConfigError(std::string(what) + ": " + err);
      return *e;
    };
    if (!redis_stream.empty()) config.common.redis.stream = endpoint(redis_stream, "--redis-stream");
    if (!redis_meta.empty()) config.common.redis.meta = endpoint(redis_meta, "--redis-meta");
    if (!log_level.empty()) config.common.log.level = log_level;
    if (!log_format.empty() && !d4::core::parse_log_format(log_format, config.common.log.format))
      throw d4::core::ConfigError("--log-format must be text or json");
  } catch (const std::exception& e) {
    std::cerr << "d4-server: configuration error: " << e.what() << "\n";
    return 1;
  }
  if (check_only) {
    std::cout << "configuration OK\n";
    return 0;
  }
  d4::core::init_logging("d4-server", config.common.log);
  // Writes to closed sockets must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  d4::server::MemoryTrimmer::configure_allocator();
  try {
    d4::server::Server server(std::move(config));
    int rc = server.run();
    spdlog::shutdown();
    return rc;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
