// The one translation unit of src/ that includes CLI11 (core/options.hpp says why).
#include "core/cli.hpp"

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

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

// ---- core/options.hpp ----

Validator::Validator(std::shared_ptr<const CLI::Validator> impl) : impl_(std::move(impl)) {}

const Validator ExistingFile{std::make_shared<const CLI::Validator>(CLI::ExistingFile)};
const Validator PositiveNumber{std::make_shared<const CLI::Validator>(CLI::PositiveNumber)};

Validator Range(int min, int max) {
  return Validator(std::make_shared<const CLI::Validator>(CLI::Range(min, max)));
}

Validator IsMember(std::vector<std::string> values) {
  return Validator(std::make_shared<const CLI::Validator>(CLI::IsMember(std::move(values))));
}

Option* Option::check(const Validator& validator) {
  impl_->check(validator.impl());
  return this;
}

Option* Option::required(bool value) {
  impl_->required(value);
  return this;
}

Option* Option::group(const std::string& name) {
  impl_->group(name);
  return this;
}

Option* Option::capture_default_str() {
  impl_->capture_default_str();
  return this;
}

Option* Option::excludes(Option* other) {
  impl_->excludes(other->impl_);
  return this;
}

std::size_t Option::count() const {
  return impl_->count();
}

// A root App owns its CLI::App; a subcommand's belongs to its parent's. Each App owns the facades of
// its options and subcommands, which CLI11 hands out as pointers that live as long as the CLI::App.
struct App::Impl {
  std::unique_ptr<CLI::App> owned;
  CLI::App* app = nullptr;
  std::vector<std::unique_ptr<Option>> options;
  std::vector<std::unique_ptr<App>> subcommands;
};

App::App(std::string description, std::string name) : impl_(std::make_unique<Impl>()) {
  impl_->owned = std::make_unique<CLI::App>(std::move(description), std::move(name));
  impl_->app = impl_->owned.get();
}

App::App(CLI::App* borrowed) : impl_(std::make_unique<Impl>()) {
  impl_->app = borrowed;
}

App::~App() = default;

CLI::App& App::impl() const {
  return *impl_->app;
}

Option* App::keep(CLI::Option* option) {
  impl_->options.push_back(std::make_unique<Option>(option));
  return impl_->options.back().get();
}

App* App::wrap(CLI::App* sub) const {
  for (const auto& s : impl_->subcommands)
    if (&s->impl() == sub) return s.get();
  throw std::logic_error("subcommand not declared through cli::App: " + sub->get_name());
}

template <class T>
Option* App::add_option(std::string name, T& variable, std::string description) {
  return keep(impl_->app->add_option(std::move(name), variable, std::move(description)));
}

template <class T>
Option* App::add_flag(std::string name, T& variable, std::string description) {
  return keep(impl_->app->add_flag(std::move(name), variable, std::move(description)));
}

// The variable types the mains use; CLI11 reads and describes each as its own type (INT, UINT,
// FLOAT, TEXT...), exactly as when the mains called it directly.
#define D4_CLI_OPTION_TYPE(T)                                        \
  template Option* App::add_option<T>(std::string, T&, std::string); \
  template Option* App::add_flag<T>(std::string, T&, std::string);
D4_CLI_OPTION_TYPE(std::string)
D4_CLI_OPTION_TYPE(bool)
D4_CLI_OPTION_TYPE(int)
D4_CLI_OPTION_TYPE(unsigned)
D4_CLI_OPTION_TYPE(long)
D4_CLI_OPTION_TYPE(unsigned long)
D4_CLI_OPTION_TYPE(long long)
D4_CLI_OPTION_TYPE(unsigned long long)
D4_CLI_OPTION_TYPE(std::uint16_t)
D4_CLI_OPTION_TYPE(double)
#undef D4_CLI_OPTION_TYPE
template Option* App::add_option<std::vector<std::string>>(std::string, std::vector<std::string>&,
                                                           std::string);
template Option* App::add_option<std::filesystem::path>(std::string, std::filesystem::path&, std::string);
template Option* App::add_option<std::optional<long long>>(std::string, std::optional<long long>&,
                                                           std::string);

App* App::add_subcommand(std::string name, std::string description) {
  CLI::App* sub = impl_->app->add_subcommand(std::move(name), std::move(description));
  impl_->subcommands.push_back(std::unique_ptr<App>(new App(sub)));
  return impl_->subcommands.back().get();
}

App* App::require_subcommand() {
  impl_->app->require_subcommand();
  return this;
}

App* App::require_subcommand(int value) {
  impl_->app->require_subcommand(value);
  return this;
}

App* App::require_subcommand(std::size_t min, std::size_t max) {
  impl_->app->require_subcommand(min, max);
  return this;
}

App* App::callback(std::function<void()> action) {
  impl_->app->callback(std::move(action));
  return this;
}

void App::set_version_flag(std::string flag, std::string version, std::string description) {
  impl_->app->set_version_flag(std::move(flag), std::move(version), std::move(description));
}

App* App::get_subcommand(const std::string& name) const {
  return wrap(impl_->app->get_subcommand(name));
}

std::vector<App*> App::get_subcommands() const {
  std::vector<App*> given;
  for (CLI::App* sub : impl_->app->get_subcommands()) given.push_back(wrap(sub));
  return given;
}

bool App::parsed() const {
  return impl_->app->parsed();
}

std::string App::help() const {
  return impl_->app->help();
}

// ---- core/cli.hpp ----

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

void add_standard_flags(App& app, std::string_view tool, bool* check_config) {
  app.set_version_flag("--version", version_line(tool), "print the version and exit");
  if (check_config)
    app.add_flag("--check-config", *check_config,
                 "read and validate the configuration (file, environment overrides, secret files), print "
                 "\"configuration OK\" and exit: 0 when valid, 78 when not");
}

std::optional<int> parse(App& facade, int argc, const char* const* argv) {
  CLI::App& app = facade.impl();
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

std::optional<int> parse_with_library_status(App& facade, int argc, const char* const* argv) {
  CLI::App& app = facade.impl();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return std::nullopt;
}

void require_subcommand_unless(const App& app, bool check_config) {
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

int run_main(App& app, int argc, const char* const* argv, std::string_view tool,
             const std::function<int(bool check_only)>& body) {
  bool check_only = false;
  add_standard_flags(app, tool, &check_only);
  if (auto status = parse(app, argc, argv)) return *status;
  return run(tool, [&] { return body(check_only); });
}

}  // namespace d4::core::cli
