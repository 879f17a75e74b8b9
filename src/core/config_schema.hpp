#pragma once
// The schema of the D4 configuration file: every section and every option with its kind. One
// schema for the one file every component reads, so that any executable's --check-config refuses
// a typo anywhere in it (with its file, line and the closest known name), and the environment
// overrides (D4_<SECTION>__<OPTION>) know how to read their values. The options themselves are
// listed in config_options.cpp; the typed accessors of core/config.hpp refuse to read an option
// that is not declared there, so the schema and the readers cannot drift apart.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace d4::core::config {

enum class Kind {
  String,
  Integer,
  Number,  // integer or floating point
  Boolean,
  StringList,
  IntegerList,
  Endpoint,  // a Redis endpoint (core/redis_endpoint.hpp); also accepts <name>_password_file
  Secret,    // a string better kept out of the file; also accepts <name>_file
};

struct Option {
  std::string_view name;
  Kind kind;
};

struct Section {
  std::string_view
      path;  // "server", "analyzers.pdns"; "*" matches any one name ("workers.retention.types.*")
  std::vector<Option> options;
  std::optional<Kind> any_key = {};  // free-form keys of this kind (e.g. [analyzers.pdns.expiration])
};

// Every section of the D4 configuration file (config_options.cpp).
const std::vector<Section>& sections();

// The section whose path matches `path` ("workers.retention.types.1" matches
// "workers.retention.types.*"), or nullptr.
const Section* find_section(std::string_view path);
// The option `key` of section `path`, the *_file / *_password_file variants included, or nullopt.
std::optional<Option> find_option(std::string_view path, std::string_view key);

// Every problem of `root` against the schema, one message each: unknown sections and options (with
// a suggestion), values of the wrong kind, unparsable Redis endpoints, a secret given twice. Each
// message starts with where the value comes from (location()).
std::vector<std::string> validate(const toml::table& root);

// Whether a value was set by an environment override (rather than read from a file).
bool from_environment(const toml::node& node);
// "d4.toml:12" for a value read from a file, "environment variable D4_SERVER__LISTEN" for an
// override, "" for a value that has no source.
std::string location(const toml::node& node);

// Environment overrides: D4_<SECTION>__<OPTION>=value, with "__" between the parts of the section
// path and the option (D4_ANALYZERS__PDNS__BACKEND), case-insensitive. Variables whose name starts
// with D4_ and contains "__" must name a known option (a typo is an error, with a suggestion);
// other variables are ignored. Values are read as the option's kind: strings verbatim, integers,
// numbers, booleans (true/false, 1/0, yes/no, on/off), lists as a TOML array ("[1, 2]") or
// comma-separated ("1,2"). An override replaces the file's value (and the other variant of a
// secret: D4_SERVER__DEFAULT_HMAC_KEY_FILE replaces the file's default_hmac_key).
using Environment = std::map<std::string, std::string>;
Environment process_environment();
void apply_environment(toml::table& root, const Environment& env);

}  // namespace d4::core::config
