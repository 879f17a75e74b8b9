#include "core/config.hpp"

#include <sstream>

namespace d4::core {
namespace {

const toml::node* lookup(const toml::table& t, std::string_view section, std::string_view key) {
  const toml::table* s = section.empty() ? &t : get_table(t, section);
  if (!s) return nullptr;
  return s->get(key);
}

[[noreturn]] void type_error(std::string_view section, std::string_view key, std::string_view want) {
  throw ConfigError("option " + std::string(section) + "." + std::string(key) + " must be " +
                    std::string(want));
}

RedisEndpoint endpoint_option(const toml::table& t, std::string_view key, const RedisEndpoint& def) {
  const toml::node* n = lookup(t, "redis", key);
  if (!n) return def;
  auto s = n->value<std::string>();
  if (!s) type_error("redis", key, "a string such as \"127.0.0.1:6380/0\"");
  std::string err;
  auto e = RedisEndpoint::parse(*s, &err);
  if (!e) throw ConfigError("option redis." + std::string(key) + ": " + err);
  return *e;
}

}  // namespace

toml::table parse_toml(std::string_view text, std::string_view source_name) {
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    throw ConfigError(os.str());
  }
}

toml::table load_toml_file(const std::filesystem::path& path) {
  try {
    return toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path.string() << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    throw ConfigError(os.str());
  }
}

const toml::table* get_table(const toml::table& t, std::string_view section) {
  const toml::table* cur = &t;
  std::string_view rest = section;
  while (!rest.empty()) {
    auto dot = rest.find('.');
    auto part = rest.substr(0, dot);
    const toml::node* n = cur->get(part);
    if (!n || !n->is_table()) return nullptr;
    cur = n->as_table();
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  }
  return cur;
}

std::string get_string(const toml::table& t, std::string_view section, std::string_view key,
                       std::string def) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  auto v = n->value<std::string>();
  if (!v) type_error(section, key, "a string");
  return *v;
}

long long get_int(const toml::table& t, std::string_view section, std::string_view key, long long def) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  auto v = n->value<long long>();
  if (!v || !n->is_integer()) type_error(section, key, "an integer");
  return *v;
}

bool get_bool(const toml::table& t, std::string_view section, std::string_view key, bool def) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  auto v = n->value<bool>();
  if (!v) type_error(section, key, "true or false");
  return *v;
}

double get_double(const toml::table& t, std::string_view section, std::string_view key, double def) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  auto v = n->value<double>();
  if (!v) type_error(section, key, "a number");
  return *v;
}

std::vector<std::string> get_string_list(const toml::table& t, std::string_view section, std::string_view key,
                                         std::vector<std::string> def) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  const toml::array* a = n->as_array();
  if (!a) type_error(section, key, "an array of strings");
  std::vector<std::string> out;
  for (const auto& e : *a) {
    auto v = e.value<std::string>();
    if (!v) type_error(section, key, "an array of strings");
    out.push_back(*v);
  }
  return out;
}

CommonConfig read_common_config(const toml::table& root, const std::filesystem::path& base_dir) {
  CommonConfig c;
  std::string data = get_string(root, "general", "data_dir", c.data_dir.string());
  c.data_dir = data;
  if (c.data_dir.is_relative() && !base_dir.empty()) c.data_dir = base_dir / c.data_dir;
  c.log.level = get_string(root, "general", "log_level", c.log.level);
  if (spdlog::level::from_str(c.log.level) == spdlog::level::off && c.log.level != "off")
    throw ConfigError("option general.log_level: unknown level \"" + c.log.level + "\"");
  std::string fmt = get_string(root, "general", "log_format", "text");
  if (!parse_log_format(fmt, c.log.format))
    throw ConfigError("option general.log_format must be text or json");
  c.redis.stream = endpoint_option(root, "stream", c.redis.stream);
  c.redis.meta = endpoint_option(root, "meta", c.redis.meta);
  // Users, analyzer and cache default to the meta instance's host with the reference db numbers.
  c.redis.users = endpoint_option(root, "users", c.redis.meta.with_db(1));
  c.redis.analyzer = endpoint_option(root, "analyzer", c.redis.meta.with_db(2));
  c.redis.cache = endpoint_option(root, "cache", c.redis.meta.with_db(3));
  return c;
}

}  // namespace d4::core
