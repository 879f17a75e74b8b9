// Every executable's configuration, through the real executables: --check-config accepts a good
// file and prints nothing secret; a typo in any section, a mistyped environment variable, a bad
// Redis endpoint are refused with exit status 78, the file and line, and a suggestion; passwords
// never appear in the messages.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "core/config_schema.hpp"
#include "core/exit_codes.hpp"
#include "ops/executables.hpp"

using namespace d4::test;
using namespace d4::test::ops;
namespace exit_status = d4::core::exit_status;

namespace {

std::vector<Executable> toml_readers() {
  std::vector<Executable> out;
  for (const auto& e : executables())
    if (e.reads_toml) out.push_back(e);
  return out;
}

std::string example_config() {
  std::ifstream in(D4_SOURCE_DIR "/config/d4.example.toml");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

RunResult check(const Executable& exe, const std::filesystem::path& config,
                const std::map<std::string, std::string>& env = {}) {
  return run(exe.name, {"--config", config.string(), "--check-config"}, env);
}

class ConfigOfEveryExecutable : public ::testing::TestWithParam<Executable> {
 protected:
  TempDir dir;
};

// The example configuration with its certificate, secrets that must never be printed.
TEST_P(ConfigOfEveryExecutable, CheckConfigAcceptsAGoodFileAndPrintsNoSecret) {
  ASSERT_EQ(run("d4-server", {"--generate-cert", dir.path().string()}).status, 0);
  std::string text = example_config();
  text = std::regex_replace(text, std::regex("default_hmac_key = \"[^\"]*\""),
                            "default_hmac_key = \"hunter2-hmac\"");
  text = std::regex_replace(text, std::regex("meta = \"127.0.0.1:6380/0\""),
                            "meta = \"redis://ops:hunter2-redis@127.0.0.1:6380/0\"");
  text =
      std::regex_replace(text, std::regex("# admin_password = \"\""), "admin_password = \"hunter2-admin\"");
  // d4-misp-feed requires its organisation (commented out in the example).
  text = std::regex_replace(text, std::regex("# (org_name|org_uuid) = "), "$1 = ");
  write_text(dir / "d4.toml", text);
  RunResult r = check(GetParam(), dir / "d4.toml");
  EXPECT_EQ(r.status, exit_status::kOk) << r.err;
  EXPECT_NE(r.out.find(GetParam().name + ": configuration OK (" + (dir / "d4.toml").string() + ")"),
            std::string::npos)
      << r.out;
  EXPECT_EQ((r.out + r.err).find("hunter2"), std::string::npos) << r.out << r.err;
}

// A typo in every section of the schema, all in one file: each is refused with the file, its line
// and the option meant, all in one run (the executable reports every error it finds, not the first).
TEST_P(ConfigOfEveryExecutable, ATypoInAnySectionIsRefusedWithFileLineAndSuggestion) {
  const std::string file = (dir / "d4.toml").string();
  std::string text = "# D4\n";
  int line = 1;
  std::vector<std::string> expected;
  for (const auto& section : d4::core::config::sections()) {
    if (section.options.empty()) continue;
    const std::string path = std::regex_replace(std::string(section.path), std::regex("\\*"), "1");
    const std::string option(section.options.back().name);
    std::string typo = option;
    typo.erase(typo.size() / 2, 1);
    text += "[" + path + "]\n" + typo + " = 1\n";
    line += 2;
    expected.push_back(file + ":" + std::to_string(line) + ": unknown option \"" + typo + "\" in [" + path +
                       "]; did you mean \"" + option + "\"?");
  }
  ASSERT_GT(expected.size(), 20u);
  write_text(dir / "d4.toml", text);
  RunResult r = check(GetParam(), dir / "d4.toml");
  EXPECT_EQ(r.status, exit_status::kConfig) << r.err;
  for (const auto& message : expected)
    EXPECT_NE(r.err.find(message), std::string::npos) << message << "\n" << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_P(ConfigOfEveryExecutable, AMistypedEnvironmentVariableIsRefused) {
  write_text(dir / "d4.toml", "[general]\n");
  RunResult r = check(GetParam(), dir / "d4.toml", {{"D4_GENERAL__LOG_LEVLE", "debug"}});
  EXPECT_EQ(r.status, exit_status::kConfig) << r.err;
  EXPECT_NE(r.err.find("D4_GENERAL__LOG_LEVLE names no option; did you mean D4_GENERAL__LOG_LEVEL?"),
            std::string::npos)
      << r.err;
}

TEST_P(ConfigOfEveryExecutable, ABadRedisEndpointNeverShowsItsPassword) {
  write_text(dir / "d4.toml", "[redis]\nmeta = \"redis://ops:hunter2@127.0.0.1:6380/x\"\n");
  RunResult r = check(GetParam(), dir / "d4.toml");
  EXPECT_EQ(r.status, exit_status::kConfig) << r.err;
  EXPECT_NE(r.err.find("redis://ops:***@127.0.0.1:6380/x"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;

  write_text(
      dir / "d4.toml",
      "[redis]\nstream = \"rediss://:hunter2@127.0.0.1:6379/0?colour=blue&sentinel_password=hunter2\"\n");
  r = check(GetParam(), dir / "d4.toml");
  EXPECT_EQ(r.status, exit_status::kConfig) << r.err;
  EXPECT_NE(r.err.find("unknown query parameter \"colour\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rediss://:***@127.0.0.1:6379/0?colour=blue&sentinel_password=***"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("bad database number"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;
}

TEST_P(ConfigOfEveryExecutable, AnUnreadableSecretFileIsAConfigurationError) {
  write_text(dir / "d4.toml", "[redis]\nmeta_password_file = \"no-such-file\"\n");
  RunResult r = check(GetParam(), dir / "d4.toml");
  EXPECT_EQ(r.status, exit_status::kConfig) << r.err;
  EXPECT_NE(r.err.find("cannot read " + (dir / "no-such-file").string()), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Ops, ConfigOfEveryExecutable, ::testing::ValuesIn(toml_readers()),
                         executable_test_name);

// The sensor client reads a configuration directory (one value per file, as the reference
// clients): --check-config validates it, changes nothing, and a bad file is a configuration error.
TEST(ClientConfig, CheckConfigValidatesTheDirectoryWithoutChangingIt) {
  TempDir dir;
  write_text(dir / "key", "hunter2-key\n");
  write_text(dir / "type", "1\n");
  write_text(dir / "destination", "127.0.0.1:4443\n");
  RunResult r = run("d4-client", {"-c", dir.path().string(), "--check-config"});
  EXPECT_EQ(r.status, exit_status::kOk) << r.err;
  EXPECT_EQ(r.out, "d4-client: configuration OK (" + dir.path().string() + ")\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "uuid")) << "checking does not generate the UUID";
  EXPECT_EQ((r.out + r.err).find("hunter2"), std::string::npos);

  write_text(dir / "type", "nine\n");
  r = run("d4-client", {"-c", dir.path().string(), "--check-config"});
  EXPECT_EQ(r.status, exit_status::kConfig) << r.err;
  EXPECT_NE(r.err.find((dir / "type").string() + ": 'nine' is not a number"), std::string::npos) << r.err;
  // The same mistake on the command line is a usage error.
  r = run("d4-client", {"-c", dir.path().string(), "--type", "nine", "--check-config"});
  EXPECT_EQ(r.status, exit_status::kUsage) << r.err;

  write_text(dir / "type", "1\n");
  write_text(dir / "destination", "no-port\n");
  r = run("d4-client", {"-c", dir.path().string(), "--check-config"});
  EXPECT_EQ(r.status, exit_status::kConfig) << r.err;
}

TEST(ClientConfig, ARedisPasswordNeverAppearsInErrors) {
  TempDir dir;
  write_text(dir / "key", "k\n");
  write_text(dir / "type", "3\n");
  write_text(dir / "uuid", "5a4f7dd1-b1b0-4e2d-a2e6-1a9d1e6a5a3c\n");
  write_text(dir / "source", "d4server\n");
  write_text(dir / "redis_queue", "analyzer:3:q\n");
  for (std::string address :
       {"redis://ops:hunter2@[::1:6379/0", "rediss://:hunter2@127.0.0.1:6379/0?colour=blue"}) {
    write_text(dir / "redis_d4", address + "\n");
    RunResult r = run("d4-client", {"-c", dir.path().string(), "--check-config"});
    EXPECT_EQ(r.status, exit_status::kConfig) << r.err;
    EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("***@"), std::string::npos) << r.err;
  }
}

TEST(StackConfig, LogRotationLimitsAreCheckedWithTheirLine) {
  TempDir dir;
  for (const std::string option : {"log_max_bytes = 100", "log_keep_files = -1"}) {
    write_text(dir / "d4.toml", "[stack]\n" + option + "\n");
    RunResult r = run("d4-stack", {"--config", (dir / "d4.toml").string(), "--check-config"});
    EXPECT_EQ(r.status, exit_status::kConfig) << option << ": " << r.err;
    EXPECT_NE(r.err.find("d4.toml:2"), std::string::npos) << option << ": " << r.err;
    EXPECT_NE(r.err.find("option stack." + option.substr(0, option.find(' '))), std::string::npos) << r.err;
  }
}

}  // namespace
