#include "core/config_schema.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "core/config.hpp"
#include "core/redis_endpoint.hpp"
#include "core/suggest.hpp"
#include "protocol/text.hpp"

extern char** environ;

namespace d4::core::config {
namespace {

constexpr std::string_view kFileSuffix = "_file";
constexpr std::string_view kPasswordFileSuffix = "_password_file";
constexpr std::string_view kEnvironmentSource = "environment variable ";

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    auto dot = path.find('.');
    parts.push_back(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  }
  return parts;
}

bool path_matches(std::string_view pattern, std::string_view path) {
  auto p = split_path(pattern), q = split_path(path);
  if (p.size() != q.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] != "*" && p[i] != q[i]) return false;
  return true;
}

std::string join(std::string_view section, std::string_view key) {
  return section.empty() ? std::string(key) : std::string(section) + "." + std::string(key);
}

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::String:
    case Kind::Secret:
      return "a string";
    case Kind::Endpoint:
      return "a string such as \"127.0.0.1:6380/0\"";
    case Kind::Integer:
      return "an integer";
    case Kind::Number:
      return "a number";
    case Kind::Boolean:
      return "true or false";
    case Kind::StringList:
      return "an array of strings";
    case Kind::IntegerList:
      return "an array of integers";
  }
  return "a value";
}

bool array_of(const toml::node& n, toml::node_type element);

std::string_view node_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      if (array_of(n, toml::node_type::string)) return "an array of strings";
      if (array_of(n, toml::node_type::integer)) return "an array of integers";
      return "an array of mixed values";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

bool array_of(const toml::node& n, toml::node_type element) {
  const toml::array* a = n.as_array();
  return a && std::all_of(a->begin(), a->end(), [&](const toml::node& e) { return e.type() == element; });
}

bool has_kind(const toml::node& n, Kind k) {
  switch (k) {
    case Kind::String:
    case Kind::Secret:
    case Kind::Endpoint:
      return n.is_string();
    case Kind::Integer:
      return n.is_integer();
    case Kind::Number:
      return n.is_number();
    case Kind::Boolean:
      return n.is_boolean();
    case Kind::StringList:
      return array_of(n, toml::node_type::string);
    case Kind::IntegerList:
      return array_of(n, toml::node_type::integer);
  }
  return false;
}

// The sections directly under `parent` ("" for the top level), by their last name.
std::vector<std::string> child_sections(std::string_view parent) {
  std::vector<std::string> out;
  for (const auto& s : sections()) {
    auto parts = split_path(s.path);
    auto parent_parts = split_path(parent);
    if (parts.size() != parent_parts.size() + 1 || parts.back() == "*") continue;
    std::string p(s.path.substr(0, s.path.size() - parts.back().size()));
    if (!p.empty()) p.pop_back();
    if (path_matches(p, parent)) out.emplace_back(parts.back());
  }
  return out;
}

std::vector<std::string> option_names(const Section& s) {
  std::vector<std::string> out;
  for (const auto& o : s.options) out.emplace_back(o.name);
  return out;
}

// "; did you mean ...?" for an unknown `key` under section `path` (a table when `is_table`).
std::string suggestion(std::string_view path, std::string_view key, bool is_table) {
  const Section* s = find_section(path);
  std::vector<std::string> candidates = child_sections(path);
  if (s && !is_table) {
    auto options = option_names(*s);
    candidates.insert(candidates.begin(), options.begin(), options.end());
  }
  if (auto m = closest_match(key, candidates)) {
    bool section = std::find(candidates.begin(), candidates.end(), *m) != candidates.end() &&
                   find_section(join(path, *m)) != nullptr;
    return section ? "; did you mean [" + join(path, *m) + "]?" : "; did you mean \"" + *m + "\"?";
  }
  // The right name in the wrong section (e.g. log_level under [server]).
  if (!is_table)
    for (const auto& other : sections())
      for (const auto& o : other.options)
        if (o.name == key && other.path != path)
          return "; \"" + std::string(key) + "\" is an option of [" + std::string(other.path) + "]";
  return "";
}

std::string at(const toml::node& n) {
  std::string where = location(n);
  return where.empty() ? "" : where + ": ";
}

void check_value(const std::string& section, std::string_view key, const toml::node& value, const Option& o,
                 std::vector<std::string>& errors) {
  std::string name = "[" + section + "] " + std::string(key);
  if (!has_kind(value, o.kind)) {
    errors.push_back(at(value) + "option " + name + " must be " + std::string(kind_name(o.kind)) + ", not " +
                     std::string(node_type_name(value)));
    return;
  }
  if (o.kind == Kind::Endpoint) {
    std::string error;
    auto text = *value.value<std::string>();
    if (!text.empty() && !RedisEndpoint::parse(text, &error))
      errors.push_back(at(value) + "option " + name + ": " + error);
  }
}

void check_secret_pairs(const std::string& path, const Section& s, const toml::table& t,
                        std::vector<std::string>& errors) {
  for (const auto& o : s.options) {
    if (o.kind != Kind::Secret) continue;
    std::string file_key = std::string(o.name) + std::string(kFileSuffix);
    if (t.get(o.name) && t.get(file_key))
      errors.push_back(at(*t.get(file_key)) + "[" + path + "] sets both " + std::string(o.name) + " and " +
                       file_key + "; keep one");
  }
}

void validate_table(const std::string& path, const toml::table& t, std::vector<std::string>& errors) {
  const Section* s = path.empty() ? nullptr : find_section(path);
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    if (v.is_table() && find_section(join(path, key))) {
      validate_table(join(path, key), *v.as_table(), errors);
      continue;
    }
    std::optional<Option> o = s ? find_option(path, key) : std::nullopt;
    if (o) {
      check_value(path, key, v, *o, errors);
      continue;
    }
    std::string where = at(v);
    if (v.is_table() || v.is_array_of_tables())
      errors.push_back(where + "unknown section [" + join(path, key) + "]" + suggestion(path, key, true));
    else if (path.empty())
      errors.push_back(where + "option \"" + key + "\" is outside any section" + suggestion("", key, false));
    else
      errors.push_back(where + "unknown option \"" + key + "\" in [" + path + "]" +
                       suggestion(path, key, false));
  }
  if (s) check_secret_pairs(path, *s, t, errors);
}

std::string variable_name(std::string_view section, std::string_view key) {
  std::string name = "D4_";
  for (auto part : split_path(section)) name += text::ascii_upper(part) + "__";
  return name + text::ascii_upper(key);
}

// Every variable name the schema accepts (wildcards left as "*"), for suggestions.
std::vector<std::string> known_variables() {
  std::vector<std::string> out;
  for (const auto& s : sections())
    for (const auto& o : s.options) {
      out.push_back(variable_name(s.path, o.name));
      if (o.kind == Kind::Secret) out.push_back(variable_name(s.path, std::string(o.name) + "_FILE"));
      if (o.kind == Kind::Endpoint)
        out.push_back(variable_name(s.path, std::string(o.name) + "_PASSWORD_FILE"));
    }
  return out;
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789ABCDEF";
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string trim(std::string_view s) {
  return std::string(text::trim(s));
}

// The TOML literal of an environment value read as `kind`.
std::string literal(const std::string& value, Kind kind) {
  switch (kind) {
    case Kind::String:
    case Kind::Secret:
    case Kind::Endpoint:
      return toml_string(value);
    case Kind::Boolean: {
      std::string v = text::ascii_lower(trim(value));
      if (v == "1" || v == "yes" || v == "on") return "true";
      if (v == "0" || v == "no" || v == "off") return "false";
      return v;
    }
    case Kind::StringList:
    case Kind::IntegerList: {
      std::string v = trim(value);
      if (v.starts_with('[')) return v;
      std::string out = "[";
      std::stringstream in(v);
      for (std::string item; std::getline(in, item, ',');) {
        if (out.size() > 1) out += ", ";
        out += kind == Kind::StringList ? toml_string(trim(item)) : trim(item);
      }
      return out + "]";
    }
    default:
      return trim(value);
  }
}

toml::table& table_at(toml::table& root, std::string_view section) {
  toml::table* t = &root;
  for (auto part : split_path(section)) {
    toml::node* n = t->get(part);
    if (!n || !n->is_table()) t->insert_or_assign(part, toml::table{});
    t = t->get(part)->as_table();
  }
  return *t;
}

// The option a variable names: (section, key, kind), or a ConfigError with a suggestion.
struct Target {
  std::string section, key;
  Kind kind;
};
Target resolve_variable(const std::string& name) {
  std::vector<std::string> parts;
  std::string_view rest = std::string_view(name).substr(3);
  while (true) {
    auto sep = rest.find("__");
    parts.push_back(text::ascii_lower(rest.substr(0, sep)));
    if (sep == std::string_view::npos) break;
    rest.remove_prefix(sep + 2);
  }
  std::string key = parts.back(), section;
  parts.pop_back();
  for (const auto& p : parts) section = join(section, p);
  if (auto o = find_section(section) ? find_option(section, key) : std::nullopt)
    return {section, key, o->kind};
  std::string message = "environment variable " + name + " names no option";
  if (auto m = closest_match(name, known_variables())) message += "; did you mean " + *m + "?";
  throw ConfigError(message + " (D4_<SECTION>__<OPTION>, see docs/configuration.md)");
}

void apply_variable(toml::table& root, const std::string& name, const std::string& value) {
  Target target = resolve_variable(name);
  std::string source = std::string(kEnvironmentSource) + name;
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + literal(value, target.kind), std::string_view(source));
  } catch (const toml::parse_error&) {
    throw ConfigError(source + ": \"" + (target.kind == Kind::Secret ? std::string("***") : value) +
                      "\" is not " + std::string(kind_name(target.kind)));
  }
  toml::table& section = table_at(root, target.section);
  // The override replaces the file's value, including the other form of a secret.
  std::string other;
  std::string base =
      target.key.substr(0, target.key.size() - std::min(target.key.size(), kFileSuffix.size()));
  auto base_option = target.key.ends_with(kFileSuffix) ? find_option(target.section, base) : std::nullopt;
  if (base_option && base_option->kind == Kind::Secret)
    other = base;
  else if (target.kind == Kind::Secret)
    other = target.key + std::string(kFileSuffix);
  if (!other.empty()) section.erase(other);
  section.insert_or_assign(target.key, std::move(*parsed.get("v")));
}

}  // namespace

const Section* find_section(std::string_view path) {
  const Section* wildcard = nullptr;
  for (const auto& s : sections()) {
    if (s.path == path) return &s;
    if (!wildcard && path_matches(s.path, path)) wildcard = &s;
  }
  return wildcard;
}

std::optional<Option> find_option(std::string_view path, std::string_view key) {
  const Section* s = find_section(path);
  if (!s) return std::nullopt;
  for (const auto& o : s->options) {
    if (o.name == key) return o;
    if (o.kind == Kind::Secret && key == std::string(o.name) + std::string(kFileSuffix))
      return Option{o.name, Kind::String};
    if (o.kind == Kind::Endpoint && key == std::string(o.name) + std::string(kPasswordFileSuffix))
      return Option{o.name, Kind::String};
  }
  if (s->any_key) return Option{key, *s->any_key};
  return std::nullopt;
}

std::vector<std::string> validate(const toml::table& root) {
  std::vector<std::string> errors;
  validate_table("", root, errors);
  // In the order of the file (tables are walked by name): "<file>:<line>: ..." by line; the
  // environment's messages first.
  auto line_of = [](const std::string& e) {
    auto colon = e.find(':');
    long line = 0;
    if (colon != std::string::npos) line = std::strtol(e.c_str() + colon + 1, nullptr, 10);
    return line;
  };
  std::stable_sort(errors.begin(), errors.end(),
                   [&](const std::string& a, const std::string& b) { return line_of(a) < line_of(b); });
  return errors;
}

bool from_environment(const toml::node& node) {
  const auto& src = node.source();
  return src.path && src.path->starts_with(kEnvironmentSource);
}

std::string location(const toml::node& node) {
  const auto& src = node.source();
  if (!src.path) return "";
  if (src.path->starts_with(kEnvironmentSource)) return *src.path;
  if (src.begin.line == 0) return *src.path;
  return *src.path + ":" + std::to_string(src.begin.line);
}

Environment process_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

void apply_environment(toml::table& root, const Environment& env) {
  for (const auto& [name, value] : env) {
    if (!name.starts_with("D4_") || name.find("__") == std::string::npos) continue;
    apply_variable(root, name, value);
  }
}

}  // namespace d4::core::config
