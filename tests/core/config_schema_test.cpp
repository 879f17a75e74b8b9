// The strict configuration (core/config_schema.hpp, core::load_config): every section refuses an
// unknown option with its file, line and the closest name; environment overrides; secrets from
// files; passwords never in messages.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "core/config.hpp"
#include "core/suggest.hpp"
#include "support/process.hpp"

using namespace d4::core;
using d4::test::TempDir;
using d4::test::write_text;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// A typo of `name` that a person could make: a letter dropped from the middle.
std::string typo_of(std::string_view name) {
  std::string t(name);
  t.erase(t.size() / 2, 1);
  return t;
}

// The concrete path of a section ("workers.retention.types.*" -> "workers.retention.types.1").
std::string concrete(std::string_view path) {
  return std::regex_replace(std::string(path), std::regex("\\*"), "1");
}

TEST(ConfigSchema, EverySectionRefusesATypoWithFileLineAndSuggestion) {
  TempDir dir;
  int checked = 0;
  for (const auto& section : config::sections()) {
    if (section.options.empty()) continue;
    const std::string option(section.options.front().name);
    const std::string path = dir / "d4.toml";
    // Two lines before the section so the line number is not trivially 1.
    write_text(path, "# comment\n\n[" + concrete(section.path) + "]\n" + typo_of(option) + " = 1\n");
    std::string e = error_of([&] { load_config(path, {}); });
    SCOPED_TRACE(std::string(section.path));
    EXPECT_NE(e.find(path + ":4: "), std::string::npos) << e;
    EXPECT_NE(e.find("unknown option \"" + typo_of(option) + "\""), std::string::npos) << e;
    EXPECT_NE(e.find("did you mean \"" + option + "\"?"), std::string::npos) << e;
    ++checked;
  }
  EXPECT_EQ(checked, 21) << "every section with options";
}

TEST(ConfigSchema, UnknownSectionsOptionsOutsideSectionsAndMisplacedOptions) {
  auto errors =
      config::validate(parse_toml("data_dir = \"x\"\n[sever]\nlisten = []\n[server]\nlog_level = "
                                  "\"info\"\n[analyzers.pdsn]\n[workers.retenion]\n",
                                  "d4.toml"));
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors[0],
            "d4.toml:1: option \"data_dir\" is outside any section; \"data_dir\" is an option of [general]");
  EXPECT_EQ(errors[1], "d4.toml:2: unknown section [sever]; did you mean [server]?");
  EXPECT_EQ(errors[2],
            "d4.toml:5: unknown option \"log_level\" in [server]; \"log_level\" is an option of [general]");
  EXPECT_EQ(errors[3], "d4.toml:6: unknown section [analyzers.pdsn]; did you mean [analyzers.pdns]?");
  EXPECT_EQ(errors[4], "d4.toml:7: unknown section [workers.retenion]; did you mean [workers.retention]?");
}

TEST(ConfigSchema, EveryProblemIsReportedAtOnce) {
  TempDir dir;
  write_text(dir / "d4.toml", "[server]\nlisen = []\nmax_paylod = 1\n[web]\nthreds = 2\n");
  std::string e = error_of([&] { load_config(dir / "d4.toml", {}); });
  EXPECT_EQ(e.rfind("3 errors:", 0), 0u) << e;
  for (auto want : {"did you mean \"listen\"", "did you mean \"max_payload\"", "did you mean \"threads\""})
    EXPECT_NE(e.find(want), std::string::npos) << e;
}

TEST(ConfigSchema, ValuesOfTheWrongKindNameTheirLine) {
  auto errors = config::validate(
      parse_toml("[server]\nmax_payload = \"big\"\nlisten = \"[::]:4443\"\naccepted_types = [1, \"x\"]\n"
                 "stream_memory_share_from = 1\n[analyzers.pdns.expiration]\nA = \"soon\"\n",
                 "d4.toml"));
  ASSERT_EQ(errors.size(), 4u) << "an integer is a valid number";
  EXPECT_EQ(errors[0], "d4.toml:2: option [server] max_payload must be an integer, not a string");
  EXPECT_EQ(errors[1], "d4.toml:3: option [server] listen must be an array of strings, not a string");
  EXPECT_EQ(
      errors[2],
      "d4.toml:4: option [server] accepted_types must be an array of integers, not an array of mixed values");
  EXPECT_EQ(errors[3], "d4.toml:7: option [analyzers.pdns.expiration] A must be an integer, not a string");
}

TEST(ConfigSchema, FreeFormAndWildcardSectionsAcceptTheirKeys) {
  EXPECT_TRUE(config::validate(parse_toml("[analyzers.pdns.expiration]\nA = 10\n16 = 20\n"
                                          "[workers.retention.types.1]\nmax_age_days = 3\n"
                                          "[workers.retention.types.ja3-jl]\nmax_total_bytes = 5\n"))
                  .empty());
  auto errors = config::validate(parse_toml("[workers.retention.types.8]\nmax_age_day = 3\n", "f"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "f:2: unknown option \"max_age_day\" in [workers.retention.types.8]; did you mean "
            "\"max_age_days\"?");
}

// The example documents every option: each one the schema declares appears in it (set or in a
// comment), and the example itself is valid.
TEST(ConfigSchema, TheExampleConfigurationIsValidAndNamesEveryOption) {
  const std::string example = D4_SOURCE_DIR "/config/d4.example.toml";
  EXPECT_NO_THROW(load_config(example, {}));
  std::ifstream in(example);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& s : config::sections()) {
    if (s.path.find('*') != std::string_view::npos || s.options.empty()) continue;
    EXPECT_NE(text.find("[" + std::string(s.path) + "]"), std::string::npos) << s.path;
    for (const auto& o : s.options)
      EXPECT_TRUE(std::regex_search(text, std::regex("(^|\\n)#? ?" + std::string(o.name) + " *=")))
          << "[" << s.path << "] " << o.name << " is not in config/d4.example.toml";
  }
}

TEST(ConfigSchema, ReadingAnUndeclaredOptionIsAProgrammingError) {
  auto root = parse_toml("[server]\n");
  EXPECT_THROW(get_int(root, "server", "no_such_option", 1), std::logic_error);
  EXPECT_THROW(get_string(root, "no_such_section", "x", ""), std::logic_error);
  EXPECT_EQ(get_int(root, "server", "max_payload", 7), 7);
}

TEST(ConfigSchema, SuggestionsStayWithinATyposReach) {
  EXPECT_EQ(closest_match("lisen", {"listen", "plain_listen"}), "listen");
  EXPECT_EQ(closest_match("listne", {"listen"}), "listen") << "a swap is one edit";
  EXPECT_EQ(closest_match("SERVER", {"server"}), "server");
  EXPECT_EQ(closest_match("colour", {"listen", "mode"}), std::nullopt);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(ConfigEnvironment, OverridesReplaceTheFileWithTheOptionsKind) {
  TempDir dir;
  write_text(dir / "d4.toml", "[server]\nmax_payload = 1000\nlisten = [\"[::]:4443\"]\n");
  auto root = load_config(dir / "d4.toml", {{"D4_SERVER__MAX_PAYLOAD", "2000"},
                                            {"D4_SERVER__LISTEN", "127.0.0.1:1, [::1]:2"},
                                            {"D4_SERVER__ACCEPTED_TYPES", "[1, 2]"},
                                            {"D4_SERVER__PLAIN_ALLOW_REMOTE", "yes"},
                                            {"D4_SERVER__STREAM_MEMORY_SHARE_FROM", "0.5"},
                                            {"D4_WEB__ADMIN_EMAIL", "ops@example.org \"quoted\""},
                                            {"d4_analyzers__pdns__backend", "127.0.0.1:1/2"},
                                            {"D4_WORKERS__RETENTION__TYPES__1__MAX_AGE_DAYS", "3"},
                                            {"D4_UNRELATED", "not an override"},
                                            {"PATH", "/bin"}});
  EXPECT_EQ(get_int(root, "server", "max_payload", 0), 2000);
  EXPECT_EQ(get_string_list(root, "server", "listen", {}),
            (std::vector<std::string>{"127.0.0.1:1", "[::1]:2"}));
  EXPECT_EQ(get_int_list(root, "server", "accepted_types", {}), (std::vector<long long>{1, 2}));
  EXPECT_TRUE(get_bool(root, "server", "plain_allow_remote", false));
  EXPECT_DOUBLE_EQ(get_double(root, "server", "stream_memory_share_from", 0), 0.5);
  EXPECT_EQ(get_string(root, "web", "admin_email", ""), "ops@example.org \"quoted\"");
  EXPECT_EQ(get_int(root, "workers.retention.types.1", "max_age_days", 0), 3);
  EXPECT_FALSE(has_option(root, "analyzers.pdns", "backend")) << "variable names are upper case";
  // Errors about an overridden value name the variable.
  auto bad = load_config("", {{"D4_SERVER__MAX_PAYLOAD", "3"}, {"D4_SERVER__MODE", "weird"}});
  EXPECT_EQ(where_set(bad, "server", "mode"), "environment variable D4_SERVER__MODE: ");
}

TEST(ConfigEnvironment, AMistypedVariableIsAnErrorWithASuggestion) {
  std::string e = error_of([] { load_config("", {{"D4_SERVER__LISEN", "[::]:1"}}); });
  EXPECT_EQ(e,
            "environment variable D4_SERVER__LISEN names no option; did you mean D4_SERVER__LISTEN? "
            "(D4_<SECTION>__<OPTION>, see docs/configuration.md)");
  e = error_of([] { load_config("", {{"D4_SERVER__MAX_PAYLOAD", "lots"}}); });
  EXPECT_EQ(e, "environment variable D4_SERVER__MAX_PAYLOAD: \"lots\" is not an integer");
  e = error_of([] { load_config("", {{"D4_SERVER__PLAIN_ALLOW_REMOTE", "maybe"}}); });
  EXPECT_NE(e.find("is not true or false"), std::string::npos) << e;
}

TEST(ConfigSecrets, SecretsComeFromFilesRelativeToTheConfiguration) {
  TempDir dir;
  write_text(dir / "hmac", "from-a-file\n");
  write_text(dir / "redis-password", "p@ss:word\n");
  write_text(dir / "d4.toml",
             "[server]\ndefault_hmac_key_file = \"hmac\"\n[redis]\nmeta = \"10.0.0.1:6380/0\"\n"
             "meta_password_file = \"redis-password\"\n");
  auto root = load_config(dir / "d4.toml", {});
  EXPECT_EQ(get_secret(root, "server", "default_hmac_key", "default"), "from-a-file");
  auto common = read_common_config(root);
  EXPECT_EQ(common.redis.meta.password, "p@ss:word");
  EXPECT_EQ(common.redis.analyzer.password, "p@ss:word") << "defaults derived from meta keep its password";
  EXPECT_EQ(common.redis.stream.password, "");
  // An ACL user named in the URL ("user@", no colon) keeps its name; the password is the file's.
  write_text(dir / "d4.toml",
             "[redis]\nmeta = \"rediss://ingest@10.0.0.1:6380/0?ca=/etc/d4/ca.pem\"\n"
             "meta_password_file = \"redis-password\"\n");
  common = read_common_config(load_config(dir / "d4.toml", {}));
  EXPECT_EQ(common.redis.meta.username, "ingest");
  EXPECT_EQ(common.redis.meta.password, "p@ss:word");
  EXPECT_EQ(common.redis.users.username, "ingest") << "derived endpoints keep the user and TLS";
  EXPECT_TRUE(common.redis.users.tls.enabled);
  // The environment may name the file instead, replacing the file's inline value.
  write_text(dir / "d4.toml", "[web]\nadmin_password = \"inline\"\n");
  root = load_config(dir / "d4.toml", {{"D4_WEB__ADMIN_PASSWORD_FILE", (dir / "hmac").string()}});
  EXPECT_EQ(get_secret(root, "web", "admin_password", ""), "from-a-file");
}

TEST(ConfigSecrets, MistakesAreClearAndNeverShowTheSecret) {
  TempDir dir;
  write_text(dir / "d4.toml", "[server]\ndefault_hmac_key = \"hunter2\"\ndefault_hmac_key_file = \"k\"\n");
  std::string e = error_of([&] { load_config(dir / "d4.toml", {}); });
  EXPECT_EQ(e, (dir / "d4.toml").string() +
                   ":3: [server] sets both default_hmac_key and default_hmac_key_file; keep one");
  write_text(dir / "d4.toml", "[server]\ndefault_hmac_key_file = \"missing\"\n");
  auto root = load_config(dir / "d4.toml", {});
  e = error_of([&] { get_secret(root, "server", "default_hmac_key", ""); });
  EXPECT_NE(e.find("cannot read " + (dir / "missing").string()), std::string::npos) << e;
  write_text(dir / "empty", "\n");
  write_text(dir / "d4.toml", "[server]\ndefault_hmac_key_file = \"empty\"\n");
  root = load_config(dir / "d4.toml", {});
  e = error_of([&] { get_secret(root, "server", "default_hmac_key", ""); });
  EXPECT_NE(e.find("is empty"), std::string::npos) << e;
  write_text(dir / "pw", "x");
  write_text(dir / "d4.toml", "[redis]\nmeta = \"redis://:inline@h:1/0\"\nmeta_password_file = \"pw\"\n");
  e = error_of([&] { read_common_config(load_config(dir / "d4.toml", {})); });
  EXPECT_NE(e.find("meta already has a password"), std::string::npos) << e;
  EXPECT_EQ(e.find("inline"), std::string::npos) << e;
}

TEST(RedisEndpoints, PasswordsNeverAppearInErrors) {
  for (std::string text : {"redis://user:hunter2@127.0.0.1:6380/x", "redis://hunter2@127.0.0.1:99999/0",
                           "redis://:hunter2@[::1/0"}) {
    std::string e =
        error_of([&] { read_common_config(parse_toml("[redis]\nmeta = \"" + text + "\"\n", "d4.toml")); });
    EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
    EXPECT_NE(e.find("***@"), std::string::npos) << e;
    EXPECT_NE(e.find("d4.toml:2: option redis.meta: invalid Redis endpoint"), std::string::npos) << e;
  }
  EXPECT_EQ(redact_endpoint("redis://user:hunter2@h:1/0"), "redis://user:***@h:1/0");
  EXPECT_EQ(redact_endpoint("redis://hunter2@h:1/0"), "redis://***@h:1/0");
  EXPECT_EQ(redact_endpoint("127.0.0.1:6379/0"), "127.0.0.1:6379/0");
  auto e = RedisEndpoint::parse("redis://ops:hunter2@db.example:6390/4");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->username, "ops");
  EXPECT_EQ(e->password, "hunter2");
  EXPECT_EQ(e->to_string(), "db.example:6390/4");
}

TEST(RedisEndpoints, UnknownSchemesAreRefusedClearlyNotAsABadDatabaseNumber) {
  std::string error;
  EXPECT_TRUE(RedisEndpoint::parse("rediss://:hunter2@redis.example:6380/0", &error)) << error;
  EXPECT_FALSE(RedisEndpoint::parse("redis-shard://:hunter2@redis.example:6380/0", &error));
  EXPECT_NE(error.find("unknown scheme \"redis-shard://\""), std::string::npos) << error;
  EXPECT_EQ(error.find("database"), std::string::npos) << error;
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  EXPECT_FALSE(RedisEndpoint::parse("http://h:1/0", &error));
  EXPECT_NE(error.find("unknown scheme \"http://\""), std::string::npos) << error;
}

}  // namespace
