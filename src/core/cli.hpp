#pragma once
// What every D4 executable's command line has in common: --version (one version string from the
// build), the exit statuses of core/exit_codes.hpp whatever went wrong, --check-config, and the
// SIGHUP/SIGTERM behaviour of daemons (core/stop_signal.hpp). A main declares its own options on a
// cli::App (core/options.hpp, CLI11 behind a header that does not include it) and hands the rest to
// one start-up block:
//
//   return core::cli::run_daemon(app, argc, argv, "d4-tool", config_path,
//                                [&] { return load_tool_config(...); },       // 78 when invalid
//                                [&](ToolConfig& c) { return serve(c); });  // not with --check-config
//
// or, when something comes before the configuration (d4-server --generate-cert), run_main() with
// a body that returns config_ok() under --check-config.
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/options.hpp"
#include "core/redis_endpoint.hpp"

namespace d4::core::cli {

// A command-line mistake found after parsing (e.g. two options that exclude each other, a missing
// input): run() prints it and exits with exit_status::kUsage.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A Redis endpoint given on the command line (`option` names it in the error, UsageError).
RedisEndpoint endpoint_argument(std::string_view text, std::string_view option);
// endpoint_argument(), or `fallback` (the configured endpoint) when `text` is empty.
RedisEndpoint endpoint_argument_or(std::string_view text, const RedisEndpoint& fallback,
                                   std::string_view option);

// "<tool> <version>", e.g. "d4-server 0.1.0 (git 4011bad)".
std::string version_line(std::string_view tool);

// --version; and --check-config when `check_config` is given (it is set when the flag is present).
void add_standard_flags(App& app, std::string_view tool, bool* check_config = nullptr);

// Parses the command line. Returns nothing when the program should go on, or the status to exit
// with: 0 after --help or --version (printed on stdout), exit_status::kUsage after a parse error
// (printed on stderr with a pointer to --help). CLI11's own exit codes (105, 109...) never leak out.
std::optional<int> parse(App& app, int argc, const char* const* argv);

// Parses the command line as CLI11_PARSE does, with CLI11's own exit statuses (the benchmarks).
std::optional<int> parse_with_library_status(App& app, int argc, const char* const* argv);

// For tools whose subcommand is optional with --check-config only (declared with
// app.require_subcommand(0, 1)): throws UsageError when there is none and `check_config` is false.
void require_subcommand_unless(const App& app, bool check_config);

// Runs a main's body and maps what escapes it to an exit status: core::ConfigError prints
// "<tool>: configuration error: <what>" and gives exit_status::kConfig, UsageError "<tool>: <what>"
// and kUsage, any other exception "<tool>: <what>" and kRuntime. Messages go to stderr (and to the
// log when logging is set up), never to stdout, which may carry data.
int run(std::string_view tool, const std::function<int()>& body);

// The line --check-config prints on success (stdout): names the file, never a value.
void print_config_ok(std::string_view tool, const std::string& config_file);
// print_config_ok(), then exit_status::kOk.
int config_ok(std::string_view tool, const std::string& config_file);

// The start-up block of every executable: adds --version and --check-config, parses the command
// line (parse()), then runs `body(check_only)` under run(). `body` validates its configuration and
// returns config_ok() when `check_only`, before it changes anything.
int run_main(App& app, int argc, const char* const* argv, std::string_view tool,
             const std::function<int(bool check_only)>& body);

// run_main() for a daemon: `load()` reads and validates the configuration (the file named
// `config_file`, read after parsing, with the environment and command-line overrides); with
// --check-config the OK line is printed and 0 returned, otherwise `serve(config)` runs.
template <class Load, class Serve>
int run_daemon(App& app, int argc, const char* const* argv, std::string_view tool,
               const std::string& config_file, Load&& load, Serve&& serve) {
  return run_main(app, argc, argv, tool, [&](bool check_only) {
    auto config = load();
    if (check_only) return config_ok(tool, config_file);
    return serve(config);
  });
}

}  // namespace d4::core::cli
