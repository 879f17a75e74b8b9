// d4-queue: manage analyzer queues from the command line (the web UI uses the same library); the
// commands are in queues/queue_cli.cpp.
#include <filesystem>

#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/logging.hpp"
#include "queues/queue_cli.hpp"

int main(int argc, char** argv) {
  d4::core::cli::App app{
      "Manage D4 analyzer queues (Redis lists analyzer:<type|extended type>:<queue uuid>)"};
  std::string config_path, meta_ep, analyzer_ep;
  app.add_option("-c,--config", config_path, "D4 configuration file (TOML)");
  app.add_option("--meta", meta_ep,
                 "metadata Redis, host:port/db (default from the configuration: 127.0.0.1:6380/0)");
  app.add_option("--analyzer", analyzer_ep, "analyzer-queue Redis, host:port/db (default 127.0.0.1:6380/2)");
  d4::queues::QueueCommands commands;
  d4::queues::add_queue_commands(app, commands);

  return d4::core::cli::run_main(app, argc, argv, "d4-queue", [&](bool check_only) {
    d4::core::cli::require_subcommand_unless(app, check_only);
    auto root = d4::core::load_config(config_path);
    auto common = d4::core::read_common_config(root, std::filesystem::path(config_path).parent_path());
    // Reference: analyzer_queues_max_size.
    long long default_max = d4::core::get_int(root, "queues", "default_max_size", 100'000'000);
    if (check_only) return d4::core::cli::config_ok("d4-queue", config_path);
    d4::core::init_logging("d4-queue", common.log);
    using d4::core::cli::endpoint_argument_or;
    d4::core::RedisClient meta(endpoint_argument_or(meta_ep, common.redis.meta, "--meta"));
    d4::core::RedisClient analyzer(endpoint_argument_or(analyzer_ep, common.redis.analyzer, "--analyzer"));
    d4::queues::QueueStore store(meta, analyzer, default_max, common.redis.layout);
    return d4::queues::run_queue_command(commands, store);
  });
}
