#pragma once
// The command-line declarations of every D4 executable, over CLI11 without including it. CLI11 is
// header-only and costs seconds of compiler time in every translation unit that includes it (about
// ten with GCC at -O2), so the mains declare their options on these classes and CLI11 is compiled
// once, in core/cli.cpp. The operations keep CLI11's names and meaning (help texts, error messages
// and parsing are CLI11's own): an App is a CLI::App, an Option a CLI::Option, a Validator a
// CLI::Validator.
//
//   d4::core::cli::App app{"d4-tool: what it does"};
//   app.add_option("-c,--config", config_file, "D4 configuration file")->check(cli::ExistingFile);
//   auto* run = app.add_subcommand("run", "the daemon");
//
// add_option() and add_flag() accept the variable types instantiated in core/cli.cpp (strings,
// the integer types, double, bool, std::vector<std::string>, std::filesystem::path); another type
// is a link error, to be added there.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
class Validator;
}  // namespace CLI

namespace d4::core::cli {

// A check on an option's value (CLI::Validator); its description appears in --help.
class Validator {
 public:
  explicit Validator(std::shared_ptr<const CLI::Validator> impl);
  const CLI::Validator& impl() const { return *impl_; }

 private:
  std::shared_ptr<const CLI::Validator> impl_;
};

// CLI::ExistingFile, CLI::PositiveNumber, CLI::Range(min, max) of ints, CLI::IsMember(values).
extern const Validator ExistingFile;
extern const Validator PositiveNumber;
Validator Range(int min, int max);
Validator IsMember(std::vector<std::string> values);

// One option or flag of an App, owned by it.
class Option {
 public:
  explicit Option(CLI::Option* impl) : impl_(impl) {}
  Option(const Option&) = delete;
  Option& operator=(const Option&) = delete;

  Option* check(const Validator& validator);
  Option* required(bool value = true);
  Option* group(const std::string& name);  // "" hides the option from --help
  Option* capture_default_str();           // shows the variable's initial value in --help
  Option* excludes(Option* other);
  std::size_t count() const;  // how many times it was given
  explicit operator bool() const { return count() > 0; }

 private:
  CLI::Option* impl_;
};

// A command line (CLI::App) or one of its subcommands.
class App {
 public:
  explicit App(std::string description = "", std::string name = "");
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  template <class T>
  Option* add_option(std::string name, T& variable, std::string description = "");
  template <class T>
  Option* add_flag(std::string name, T& variable, std::string description = "");
  App* add_subcommand(std::string name, std::string description = "");

  App* require_subcommand();           // at least one
  App* require_subcommand(int value);  // exactly value (> 0), at most -value (< 0), any (0)
  App* require_subcommand(std::size_t min, std::size_t max);
  App* callback(std::function<void()> action);  // runs when this (sub)command was parsed
  void set_version_flag(std::string flag, std::string version, std::string description);

  App* get_subcommand(const std::string& name) const;  // throws when there is none of that name
  std::vector<App*> get_subcommands() const;           // those given on the command line
  bool parsed() const;
  explicit operator bool() const { return parsed(); }
  std::string help() const;  // the --help text

  // The CLI11 object, for core/cli.cpp (which parses) alone.
  CLI::App& impl() const;

 private:
  App(CLI::App* borrowed);
  App* wrap(CLI::App* sub) const;
  Option* keep(CLI::Option* option);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace d4::core::cli
