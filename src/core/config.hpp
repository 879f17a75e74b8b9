#pragma once
// The D4 configuration file (TOML). One file configures the whole stack; each component reads
// the shared sections below plus its own section ([server], [workers], [web], [analyzers.*]).
// Every option, its default and whether SIGHUP reloads it is documented in docs/configuration.md.
//
// load_config() is how every executable reads it: the file, then the environment overrides
// (D4_<SECTION>__<OPTION>), validated against the schema of the whole file (core/config_schema.hpp):
// an unknown section or option anywhere is an error naming its file and line, with the closest
// known name. Secrets can come from files (<option>_file, <endpoint>_password_file).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "core/config_schema.hpp"
#include "core/keys.hpp"
#include "core/logging.hpp"
#include "core/redis_endpoint.hpp"

namespace d4::core {

struct RedisConfig {
  // Reference layout: a volatile stream buffer (6379 db 0) and a persisted metadata instance
  // (6380): db 0 metadata, db 1 users, db 2 analyzer queues, db 3 cache.
  RedisEndpoint stream{"127.0.0.1", 6379, {}, 0, {}};
  RedisEndpoint meta{"127.0.0.1", 6380, {}, 0, {}};
  RedisEndpoint users{"127.0.0.1", 6380, {}, 1, {}};
  RedisEndpoint analyzer{"127.0.0.1", 6380, {}, 2, {}};
  RedisEndpoint cache{"127.0.0.1", 6380, {}, 3, {}};
  // [redis] key_layout: "reference" (default) or "cluster" (required by redis-cluster://
  // endpoints; docs/redis-keys.md, "Key layouts").
  keys::KeyLayout layout = keys::KeyLayout::Reference;

  // A database of the meta instance that has no option of its own (the backscatter results), and
  // the default of those that have one: the meta endpoint (its credentials and TLS) with the
  // reference database number, or the meta database itself in the cluster layout (key prefixes).
  RedisEndpoint meta_database(keys::Database d) const {
    return layout == keys::KeyLayout::Cluster ? meta : meta.with_db(keys::database_number(layout, d));
  }
};

struct CommonConfig {
  std::filesystem::path data_dir = "d4-data";  // archives: <data_dir>/archive/<uuid>/<type>/YYYY/MM/DD
  RedisConfig redis;
  LogOptions log;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads the configuration: `file` (empty: no file, the built-in defaults), then the environment
// overrides of `env`, then validates the whole document. Throws ConfigError listing every problem,
// each with its file and line (or environment variable).
toml::table load_config(const std::filesystem::path& file,
                        const config::Environment& env = config::process_environment());

// Parses a TOML file or text, without the environment or validation; throws ConfigError with
// file:line on syntax errors.
toml::table load_toml_file(const std::filesystem::path& path);
toml::table parse_toml(std::string_view text, std::string_view source_name = "config");

// Reads [general] and [redis]; relative data_dir is resolved against the config file's folder.
CommonConfig read_common_config(const toml::table& root, const std::filesystem::path& base_dir = {});

// A Redis endpoint named by a setting (`what`, e.g. "option redis.meta"); ConfigError otherwise.
RedisEndpoint parse_endpoint(std::string_view text, std::string_view what);

// Typed accessors of option `key` in `section` ("server", "analyzers.pdns"): the default when the
// option is absent, a ConfigError naming the option and where it was set when it has another type.
// Reading an option the schema does not declare is a programming error (std::logic_error).
std::string get_string(const toml::table& t, std::string_view section, std::string_view key, std::string def);
long long get_int(const toml::table& t, std::string_view section, std::string_view key, long long def);
bool get_bool(const toml::table& t, std::string_view section, std::string_view key, bool def);
double get_double(const toml::table& t, std::string_view section, std::string_view key, double def);
std::vector<std::string> get_string_list(const toml::table& t, std::string_view section, std::string_view key,
                                         std::vector<std::string> def);
std::vector<long long> get_int_list(const toml::table& t, std::string_view section, std::string_view key,
                                    std::vector<long long> def);
// A secret: `key` itself, or the content of the file named by `<key>_file` (relative to the
// configuration file's folder; a final line break is dropped). Never put a secret in a message.
std::string get_secret(const toml::table& t, std::string_view section, std::string_view key, std::string def);
// A Redis endpoint (`def` when absent or empty); its password may come from `<key>_password_file`.
RedisEndpoint get_endpoint(const toml::table& t, std::string_view section, std::string_view key,
                           const RedisEndpoint& def);
const toml::table* get_table(const toml::table& t, std::string_view section);
// Whether option `key` of `section` is set (in the file or the environment).
bool has_option(const toml::table& t, std::string_view section, std::string_view key);

// "d4.toml:12: " (or "environment variable D4_X: ") for messages about option `key` of `section`
// when it is set; "" otherwise.
std::string where_set(const toml::table& t, std::string_view section, std::string_view key);

}  // namespace d4::core
