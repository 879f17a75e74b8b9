// Array options of the analyzers' configuration sections: wrong types are configuration errors
// naming the option, missing options are empty.
#include <gtest/gtest.h>

#include "analyzers/common/app.hpp"
#include "core/config.hpp"

namespace d4::analyzers {
namespace {

toml::table parse(std::string_view text) {
  return core::parse_toml(text);
}

TEST(AnalyzerConfig, ArraysOfStringsAndIntegers) {
  auto root = parse("[analyzers.pdns]\nexclude_substrings = [\"a\", \"b\"]\ndns_ports = [53, 5353]\n");
  EXPECT_EQ(get_string_array(root, "analyzers.pdns", "exclude_substrings"),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(get_int_array(root, "analyzers.pdns", "dns_ports"), (std::vector<long long>{53, 5353}));
  EXPECT_TRUE(get_string_array(root, "analyzers.pdns", "api_tokens").empty());
  EXPECT_TRUE(get_int_array(parse("[analyzers.tls]\n"), "analyzers.pdns", "dns_ports").empty());
  EXPECT_THROW(get_string_array(root, "analyzers.pdns", "undeclared"), std::logic_error)
      << "every option read is declared in the configuration schema";
}

TEST(AnalyzerConfig, WrongTypesNameTheOption) {
  auto root = parse(
      "[analyzers.pdns]\nexclude_substrings = \"a\"\ndns_ports = [53, \"x\"]\napi_tokens = [\"a\", 1]\n");
  try {
    get_string_array(root, "analyzers.pdns", "exclude_substrings");
    FAIL() << "a string is not an array";
  } catch (const core::ConfigError& e) {
    EXPECT_STREQ(e.what(), "config:2: option analyzers.pdns.exclude_substrings must be an array of strings");
  }
  try {
    get_int_array(root, "analyzers.pdns", "dns_ports");
    FAIL() << "\"x\" is not an integer";
  } catch (const core::ConfigError& e) {
    EXPECT_STREQ(e.what(), "config:3: option analyzers.pdns.dns_ports must be an array of integers");
  }
  EXPECT_THROW(get_string_array(root, "analyzers.pdns", "api_tokens"), core::ConfigError);
}

}  // namespace
}  // namespace d4::analyzers
