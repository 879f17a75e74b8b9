// d4-admin: the sensor policy from the command line (registration, keys, blocklists, kicks,
// accepted types, reject counters); the commands are in admin/admin_commands.cpp. Changes reach
// every running d4-server within its policy refresh interval and apply to live connections.
//
// Exit status: those of every D4 executable (0 done, 1 Redis error, 2 usage, 78 configuration
// error; core/exit_codes.hpp) and its own: 3 invalid input, 4 not found, 5 conflict (already
// registered/blocked...).
#include <filesystem>

#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/exit_codes.hpp"
#include "server/admin/admin_commands.hpp"

int main(int argc, char** argv) {
  d4::core::cli::App app{"d4-admin: manage D4 sensors and the server policy stored in Redis"};
  std::string config_file, meta_endpoint, stream_endpoint;
  app.add_option("-c,--config", config_file, "D4 TOML configuration (for the [redis] endpoints)")
      ->check(d4::core::cli::ExistingFile);
  app.add_option("--meta", meta_endpoint,
                 "metadata Redis host:port/db (default: config, else 127.0.0.1:6380/0)");
  app.add_option("--stream", stream_endpoint,
                 "stream Redis host:port/db (default: config, else 127.0.0.1:6379/0)");
  d4::server::admin::AdminCommands commands;
  d4::server::admin::add_admin_commands(app, commands);

  return d4::core::cli::run_main(app, argc, argv, "d4-admin", [&](bool check_only) {
    d4::core::cli::require_subcommand_unless(app, check_only);
    auto root = d4::core::load_config(config_file);
    auto redis = d4::core::read_common_config(root, std::filesystem::path(config_file).parent_path()).redis;
    if (check_only) return d4::core::cli::config_ok("d4-admin", config_file);
    using d4::core::cli::endpoint_argument_or;
    d4::core::RedisClient meta(endpoint_argument_or(meta_endpoint, redis.meta, "--meta"));
    d4::core::RedisClient stream(endpoint_argument_or(stream_endpoint, redis.stream, "--stream"));
    d4::core::SensorPolicy policy(meta, stream, redis.layout);
    return commands.action ? commands.action(policy) : d4::core::exit_status::kUsage;
  });
}
