#include "core/cli.hpp"

#include <iostream>

#include <spdlog/spdlog.h>

#include "core/config.hpp"
#include "core/exit_codes.hpp"
#include "core/logging.hpp"
#include "core/version.hpp"

namespace d4::core::cli {
namespace {

// Before init_logging() the default spdlog logger writes to stdout, which may carry data.
void report(std::string_view tool, const std::string& message) {
  if (logging_initialised())
    spdlog::critical("{}", message);
  else
    std::cerr << tool << ": " << message << std::endl;
}

}  // namespace

RedisEndpoint endpoint_argument(std::string_view text, std::string_view option) {
  std::string error;
  auto e = RedisEndpoint::parse(text, &error);
  if (!e) throw UsageError(std::string(option) + ": " + error);
  return *e;
}

RedisEndpoint endpoint_argument_or(std::string_view text, const RedisEndpoint& fallback,
                                   std::string_view option) {
  return text.empty() ? fallback : endpoint_argument(text, option);
}

std::string version_line(std::string_view tool) {
  return std::string(tool) + " " + std::string(kVersion);
}

void add_standard_flags(CLI::App& app, std::string_view tool, bool* check_config) {
  app.set_version_flag("--version", version_line(tool), "print the version and exit");
  if (check_config)
    app.add_flag("--check-config", *check_config,
                 "read and validate the configuration (file, environment overrides, secret files), print "
                 "\"configuration OK\" and exit: 0 when valid, 78 when not");
}

std::optional<int> parse(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // help on stdout, 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);  // version on stdout, 0
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // the message and "Run with --help for more information." on stderr
    return exit_status::kUsage;
  }
  return std::nullopt;
}

void require_subcommand_unless(const CLI::App& app, bool check_config) {
  if (!check_config && app.get_subcommands().empty())
    throw UsageError("a subcommand is required (see --help)");
}

int run(std::string_view tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const ConfigError& e) {
    report(tool, std::string("configuration error: ") + e.what());
    return exit_status::kConfig;
  } catch (const UsageError& e) {
    report(tool, e.what());
    return exit_status::kUsage;
  } catch (const std::exception& e) {
    report(tool, e.what());
    return exit_status::kRuntime;
  }
}

void print_config_ok(std::string_view tool, const std::string& config_file) {
  std::cout << tool << ": configuration OK"
            << (config_file.empty() ? std::string(" (built-in defaults and environment)")
                                    : " (" + config_file + ")")
            << std::endl;
}

int config_ok(std::string_view tool, const std::string& config_file) {
  print_config_ok(tool, config_file);
  return exit_status::kOk;
}

int run_main(CLI::App& app, int argc, const char* const* argv, std::string_view tool,
             const std::function<int(bool check_only)>& body) {
  bool check_only = false;
  add_standard_flags(app, tool, &check_only);
  if (auto status = parse(app, argc, argv)) return *status;
  return run(tool, [&] { return body(check_only); });
}

}  // namespace d4::core::cli
