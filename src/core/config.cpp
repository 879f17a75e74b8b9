#include "core/config.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace d4::core {
namespace {

// Readers may only read what the schema declares: an undeclared option would be refused as
// unknown in every configuration file, so reading one is a bug to fix in config_options.cpp.
void require_declared(std::string_view section, std::string_view key) {
  if (!config::find_option(section, key))
    throw std::logic_error(
        "option [" + std::string(section) + "] " + std::string(key) +
        " is read but not declared in the configuration schema (src/core/config_options.cpp; "
        "document it in config/d4.example.toml and docs/)");
}

const toml::node* lookup(const toml::table& t, std::string_view section, std::string_view key) {
  require_declared(section, key);
  const toml::table* s = section.empty() ? &t : get_table(t, section);
  if (!s) return nullptr;
  return s->get(key);
}

std::string option_name(std::string_view section, std::string_view key) {
  return "option " + std::string(section) + "." + std::string(key);
}

std::string prefix(const toml::node& n) {
  std::string where = config::location(n);
  return where.empty() ? "" : where + ": ";
}

[[noreturn]] void type_error(const toml::node& n, std::string_view section, std::string_view key,
                             std::string_view want) {
  throw ConfigError(prefix(n) + option_name(section, key) + " must be " + std::string(want));
}

template <typename T, typename Element>
std::vector<T> list_option(const toml::table& t, std::string_view section, std::string_view key,
                           std::vector<T> def, std::string_view want, Element element) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  const toml::array* a = n->as_array();
  if (!a) type_error(*n, section, key, want);
  std::vector<T> out;
  for (const auto& e : *a) {
    std::optional<T> v = element(e);
    if (!v) type_error(*n, section, key, want);
    out.push_back(std::move(*v));
  }
  return out;
}

// The file a *_file option names: relative to the folder of the configuration file it was set in.
std::filesystem::path secret_path(const toml::node& n, const std::string& text) {
  std::filesystem::path p(text);
  const auto& src = n.source();
  if (p.is_relative() && src.path && !config::from_environment(n))
    p = std::filesystem::path(*src.path).parent_path() / p;
  return p;
}

std::string read_secret_file(const toml::node& n, std::string_view section, std::string_view key) {
  auto text = n.value<std::string>();
  if (!text) type_error(n, section, key, "a file name");
  std::filesystem::path p = secret_path(n, *text);
  std::ifstream in(p, std::ios::binary);
  if (!in)
    throw ConfigError(prefix(n) + option_name(section, key) + ": cannot read " + p.string() + ": " +
                      std::strerror(errno));
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty())
    throw ConfigError(prefix(n) + option_name(section, key) + ": " + p.string() + " is empty");
  return secret;
}

// "scheme://word@host...": credentials without a colon.
bool has_bare_userinfo(std::string_view text) {
  auto sep = text.find("://");
  auto at = text.rfind('@', text.find('?'));
  return sep != std::string_view::npos && at != std::string_view::npos && at > sep &&
         text.substr(sep + 3, at - sep - 3).find(':') == std::string_view::npos;
}

RedisEndpoint endpoint_option(const toml::table& t, std::string_view key, const RedisEndpoint& def) {
  return get_endpoint(t, "redis", key, def);
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

toml::table load_config(const std::filesystem::path& file, const config::Environment& env) {
  toml::table root = file.empty() ? toml::table{} : load_toml_file(file);
  config::apply_environment(root, env);
  auto errors = config::validate(root);
  if (errors.size() == 1) throw ConfigError(errors.front());
  if (!errors.empty()) {
    std::string all = std::to_string(errors.size()) + " errors:";
    for (const auto& e : errors) all += "\n  " + e;
    throw ConfigError(all);
  }
  return root;
}

RedisEndpoint parse_endpoint(std::string_view text, std::string_view what) {
  std::string error;
  auto e = RedisEndpoint::parse(text, &error);
  if (!e) throw ConfigError(std::string(what) + ": " + error);
  return *e;
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

bool has_option(const toml::table& t, std::string_view section, std::string_view key) {
  return lookup(t, section, key) != nullptr;
}

std::string where_set(const toml::table& t, std::string_view section, std::string_view key) {
  const toml::node* n = lookup(t, section, key);
  return n ? prefix(*n) : "";
}

std::string get_string(const toml::table& t, std::string_view section, std::string_view key,
                       std::string def) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  auto v = n->value<std::string>();
  if (!v) type_error(*n, section, key, "a string");
  return *v;
}

long long get_int(const toml::table& t, std::string_view section, std::string_view key, long long def) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  auto v = n->value<long long>();
  if (!v || !n->is_integer()) type_error(*n, section, key, "an integer");
  return *v;
}

bool get_bool(const toml::table& t, std::string_view section, std::string_view key, bool def) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  auto v = n->value<bool>();
  if (!v) type_error(*n, section, key, "true or false");
  return *v;
}

double get_double(const toml::table& t, std::string_view section, std::string_view key, double def) {
  const toml::node* n = lookup(t, section, key);
  if (!n) return def;
  auto v = n->value<double>();
  if (!v) type_error(*n, section, key, "a number");
  return *v;
}

std::vector<std::string> get_string_list(const toml::table& t, std::string_view section, std::string_view key,
                                         std::vector<std::string> def) {
  return list_option<std::string>(t, section, key, std::move(def), "an array of strings",
                                  [](const toml::node& e) { return e.value<std::string>(); });
}

std::vector<long long> get_int_list(const toml::table& t, std::string_view section, std::string_view key,
                                    std::vector<long long> def) {
  return list_option<long long>(
      t, section, key, std::move(def), "an array of integers",
      [](const toml::node& e) { return e.is_integer() ? e.value<long long>() : std::nullopt; });
}

std::string get_secret(const toml::table& t, std::string_view section, std::string_view key,
                       std::string def) {
  std::string file_key = std::string(key) + "_file";
  const toml::node* file = lookup(t, section, file_key);
  const toml::node* inline_value = lookup(t, section, key);
  if (file && inline_value)
    throw ConfigError(prefix(*file) + "[" + std::string(section) + "] sets both " + std::string(key) +
                      " and " + file_key + "; keep one");
  if (file) return read_secret_file(*file, section, file_key);
  return get_string(t, section, key, std::move(def));
}

RedisEndpoint get_endpoint(const toml::table& t, std::string_view section, std::string_view key,
                           const RedisEndpoint& def) {
  RedisEndpoint e = def;
  if (const toml::node* n = lookup(t, section, key)) {
    auto text = n->value<std::string>();
    if (!text) type_error(*n, section, key, "a string such as \"127.0.0.1:6380/0\"");
    if (!text->empty()) e = parse_endpoint(*text, prefix(*n) + option_name(section, key));
  }
  std::string file_key = std::string(key) + "_password_file";
  if (const toml::node* f = lookup(t, section, file_key)) {
    // "redis://user@host" with a password file: the word before '@' names the ACL user.
    std::string text = lookup(t, section, key) ? lookup(t, section, key)->value_or(std::string()) : "";
    if (e.username.empty() && !e.password.empty() && has_bare_userinfo(text)) {
      e.username = std::move(e.password);
      e.password.clear();
    }
    if (lookup(t, section, key) && !e.password.empty())
      throw ConfigError(prefix(*f) + option_name(section, file_key) + ": " + std::string(key) +
                        " already has a password");
    e.password = read_secret_file(*f, section, file_key);
  }
  return e;
}

CommonConfig read_common_config(const toml::table& root, const std::filesystem::path& base_dir) {
  CommonConfig c;
  std::string data = get_string(root, "general", "data_dir", c.data_dir.string());
  c.data_dir = data;
  if (c.data_dir.is_relative() && !base_dir.empty()) c.data_dir = base_dir / c.data_dir;
  c.log.level = get_string(root, "general", "log_level", c.log.level);
  if (spdlog::level::from_str(c.log.level) == spdlog::level::off && c.log.level != "off")
    throw ConfigError(where_set(root, "general", "log_level") + "option general.log_level: unknown level \"" +
                      c.log.level + "\"");
  std::string fmt = get_string(root, "general", "log_format", "text");
  if (!parse_log_format(fmt, c.log.format))
    throw ConfigError(where_set(root, "general", "log_format") +
                      "option general.log_format must be text or json");
  std::string layout = get_string(root, "redis", "key_layout", "reference");
  if (auto l = keys::parse_key_layout(layout))
    c.redis.layout = *l;
  else
    throw ConfigError(where_set(root, "redis", "key_layout") +
                      "option redis.key_layout must be \"reference\" or " + "\"cluster\", not \"" + layout +
                      "\"");
  c.redis.stream = endpoint_option(root, "stream", c.redis.stream);
  c.redis.meta = endpoint_option(root, "meta", c.redis.meta);
  // Users, analyzer and cache default to the meta instance (its password too) with the layout's
  // databases (the reference db numbers, or the meta database itself with key prefixes in the
  // cluster layout).
  const auto db = [&](keys::Database d) { return c.redis.meta_database(d); };
  c.redis.users = endpoint_option(root, "users", db(keys::Database::Users));
  c.redis.analyzer = endpoint_option(root, "analyzer", db(keys::Database::Analyzer));
  c.redis.cache = endpoint_option(root, "cache", db(keys::Database::Cache));
  if (c.redis.layout == keys::KeyLayout::Reference) {
    // The reference layout's scripts and transactions span slots: on a cluster they would fail
    // at the first connection, so say why now.
    for (auto [name, e] : {std::pair<std::string_view, const RedisEndpoint*>{"stream", &c.redis.stream},
                           {"meta", &c.redis.meta},
                           {"users", &c.redis.users},
                           {"analyzer", &c.redis.analyzer},
                           {"cache", &c.redis.cache}})
      if (e->uses_cluster())
        throw ConfigError(where_set(root, "redis", name) + "option redis." + std::string(name) +
                          " is a Redis Cluster (" + e->to_string() +
                          "), which needs the cluster key layout: set [redis] key_layout = \"cluster\" "
                          "(docs/redis-keys.md, \"Key layouts\")");
  }
  return c;
}

}  // namespace d4::core
