#pragma once
// The D4 configuration file (TOML). One file configures the whole stack; each component reads
// the shared sections below plus its own section ([server], [workers], [web], [analyzers.*]).
// Every option, its default and whether SIGHUP reloads it is documented in docs/configuration.md.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

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

// Parses a TOML file; throws ConfigError with file:line on syntax errors.
toml::table load_toml_file(const std::filesystem::path& path);
toml::table parse_toml(std::string_view text, std::string_view source_name = "config");

// Reads [general] and [redis]; relative data_dir is resolved against the config file's folder.
CommonConfig read_common_config(const toml::table& root, const std::filesystem::path& base_dir = {});

// Typed accessors that throw ConfigError naming the option on a wrong type.
std::string get_string(const toml::table& t, std::string_view section, std::string_view key, std::string def);
long long get_int(const toml::table& t, std::string_view section, std::string_view key, long long def);
bool get_bool(const toml::table& t, std::string_view section, std::string_view key, bool def);
double get_double(const toml::table& t, std::string_view section, std::string_view key, double def);
std::vector<std::string> get_string_list(const toml::table& t, std::string_view section, std::string_view key,
                                         std::vector<std::string> def);
const toml::table* get_table(const toml::table& t, std::string_view section);

}  // namespace d4::core
