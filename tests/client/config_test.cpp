// Configuration directory and command line: CRLF tolerance, UUID generation and persistence, flag
// overrides, validation errors (exit status 2 from the real binary).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "client/config.hpp"
#include "client/config_dir.hpp"
#include "client/options.hpp"
#include "client_test_util.hpp"
#include "process.hpp"

using namespace d4::client;
using namespace d4::test;
using namespace std::chrono_literals;

namespace {
Settings resolve(const std::vector<std::string>& args) {
  return resolve_settings(parse_command_line(args));
}
}  // namespace

TEST(ConfigDir, StripsOnlyTrailingCrLf) {
  EXPECT_EQ(strip_line_end("key with spaces \r\n"), "key with spaces ");
  EXPECT_EQ(strip_line_end("abc\n\n"), "abc");
  EXPECT_EQ(strip_line_end("abc\r"), "abc");
  EXPECT_EQ(strip_line_end(" abc"), " abc");
}

TEST(ConfigDir, CrLfFilesAreAccepted) {
  ClientTempDir tmp;
  std::string d = tmp / "conf";
  std::filesystem::create_directories(d);
  write_file(d + "/uuid", std::string(kTestUuid) + "\r\n");
  write_file(d + "/key", "my secret key \r\n");
  write_file(d + "/type", "8\r\n");
  write_file(d + "/snaplen", "2048\r\n");
  write_file(d + "/version", "1\r\n");
  write_file(d + "/source", "stdin\r\n");
  write_file(d + "/destination", "stdout\r\n");
  Settings s = resolve({"-c", d});
  EXPECT_EQ(s.uuid.dashed(), kTestUuid);
  EXPECT_EQ(s.key, "my secret key ");  // inner and trailing spaces kept, CR/LF removed
  EXPECT_EQ(s.type, 8);
  EXPECT_EQ(s.snaplen, 2048u);
  EXPECT_TRUE(s.to_stdout);
  EXPECT_FALSE(s.uuid_generated);
}

TEST(ConfigDir, LongKeyIsNotTruncated) {
  ClientTempDir tmp;
  make_config(tmp / "c", 1, 4096);
  std::string key(500, 'k');
  write_file(tmp / "c/key", key + "\n");
  EXPECT_EQ(resolve({"-c", tmp / "c"}).key, key);
}

TEST(ConfigDir, MissingUuidIsGeneratedAndPersisted) {
  ClientTempDir tmp;
  make_config(tmp / "c", 1, 4096);
  std::filesystem::remove(tmp / "c/uuid");
  Settings s = resolve({"-c", tmp / "c"});
  EXPECT_TRUE(s.uuid_generated);
  EXPECT_TRUE(s.uuid.is_v4());
  std::string saved = read_text(tmp / "c/uuid");
  EXPECT_EQ(saved, s.uuid.dashed() + "\n");
  struct stat st {};
  ASSERT_EQ(::stat((tmp / "c/uuid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Next start: the same UUID, nothing generated.
  Settings again = resolve({"-c", tmp / "c"});
  EXPECT_FALSE(again.uuid_generated);
  EXPECT_EQ(again.uuid, s.uuid);
  // No temporary file left behind.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(tmp / "c"))
    files += e.path().filename().string().rfind("uuid", 0) == 0;
  EXPECT_EQ(files, 1);
}

TEST(ConfigDir, EmptyUuidFileIsGenerated) {
  ClientTempDir tmp;
  make_config(tmp / "c", 1, 4096);
  write_file(tmp / "c/uuid", "\n");
  Settings s = resolve({"-c", tmp / "c"});
  EXPECT_TRUE(s.uuid_generated);
  EXPECT_EQ(read_text(tmp / "c/uuid"), s.uuid.dashed() + "\n");
}

TEST(ConfigDir, MissingFilesAreNotCreated) {
  ClientTempDir tmp;
  make_config(tmp / "c", 1, 4096);
  std::filesystem::remove(tmp / "c/snaplen");
  std::filesystem::remove(tmp / "c/version");
  std::filesystem::remove(tmp / "c/source");
  std::filesystem::remove(tmp / "c/destination");
  Settings s = resolve({"-c", tmp / "c"});
  EXPECT_EQ(s.snaplen, 4096u);
  EXPECT_EQ(s.version, 1);
  EXPECT_FALSE(std::filesystem::exists(tmp / "c/snaplen"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "c/destination"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "c/metaheader.json"));
}

TEST(ConfigDir, FlagsOverrideFiles) {
  ClientTempDir tmp;
  make_config(tmp / "c", 1, 4096);
  write_file(tmp / "other.key", "other key\n");
  Settings s =
      resolve({"-c", tmp / "c", "--type", "3", "--snaplen", "512", "--uuid",
               "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3", "--key-file", tmp / "other.key", "--destination",
               "localhost:4443", "--source", "file", "--file", "/dev/null", "--protocol-version", "1"});
  EXPECT_EQ(s.type, 3);
  EXPECT_EQ(s.snaplen, 512u);
  EXPECT_EQ(s.uuid.dashed(), "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3");
  EXPECT_EQ(s.key, "other key");
  EXPECT_FALSE(s.to_stdout);
  EXPECT_EQ(s.host, "localhost");
  EXPECT_EQ(s.port, "4443");
  EXPECT_EQ(s.source, SourceKind::File);
  EXPECT_EQ(read_text(tmp / "c/uuid"), std::string(kTestUuid) + "\n") << "--uuid must not touch the file";
}

TEST(ConfigDir, GoStyleSingleDashFlags) {
  ClientTempDir tmp;
  make_config(tmp / "c", 1, 4096, "[::1]:4443");
  write_file(tmp / "c/rootCA.crt", "not used before connecting\n");
  Settings s =
      resolve({"-c", tmp / "c", "-ce=false", "-ct", "5s", "-cka", "1m", "-rt", "45s", "-rl", "250ms"});
  EXPECT_FALSE(s.tls);
  EXPECT_EQ(s.host, "::1");
  EXPECT_EQ(s.connect_timeout, Millis(5000));
  EXPECT_EQ(s.keepalive, Millis(60000));
  EXPECT_EQ(s.retry_max, Millis(45000));
  EXPECT_EQ(s.eof_poll, Millis(250));
  Settings d = resolve({"--c", tmp / "c", "--cc=false"});
  EXPECT_TRUE(d.tls);
  EXPECT_FALSE(d.verify);
  Settings v = resolve({"-c", tmp / "c"});
  EXPECT_TRUE(v.verify) << "verification is on by default";
  EXPECT_EQ(v.ca_file, tmp / "c/rootCA.crt") << "rootCA.crt of the directory is the default CA";
  Settings z = resolve({"-c", tmp / "c", "-rt", "0"});
  EXPECT_TRUE(z.exit_on_connect_failure);
}

TEST(ConfigDir, ExtendedTypeNeedsValidMetaHeader) {
  ClientTempDir tmp;
  make_config(tmp / "c", 254, 4096);
  EXPECT_THROW(resolve({"-c", tmp / "c"}), UsageError);
  write_file(tmp / "c/metaheader.json", "{\"no\": \"type\"}");
  EXPECT_THROW(resolve({"-c", tmp / "c"}), UsageError);
  write_file(tmp / "c/metaheader.json", "[1,2]");
  EXPECT_THROW(resolve({"-c", tmp / "c"}), UsageError);
  write_file(tmp / "c/metaheader.json", "{\"type\": \"ja3-jl\"}\n");
  Settings s = resolve({"-c", tmp / "c"});
  EXPECT_EQ(s.data_type, 254);
  write_file(tmp / "c/type", "2\n");
  EXPECT_EQ(resolve({"-c", tmp / "c"}).data_type, 254) << "type 2 sends its data as 254";
}

TEST(ConfigDir, ValidationErrors) {
  ClientTempDir tmp;
  make_config(tmp / "c", 1, 4096);
  auto bad = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"-c", tmp / "c"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_THROW(resolve(args), UsageError) << extra[0];
  };
  bad({"--type", "9"});
  bad({"--type", "0"});
  bad({"--snaplen", "0"});
  bad({"--snaplen", "1000001"});
  bad({"--snaplen", "12abc"});
  bad({"--uuid", "not-a-uuid"});
  bad({"--uuid", "8bd5b2b2-3c8a-1a39-9a5e-1a4f1f2b7c01"});  // version 1
  bad({"--destination", "host-without-port"});
  bad({"--destination", "::1:4443"});
  bad({"--destination", "host:99999"});
  bad({"--source", "redis"});
  bad({"--source", "file"});
  bad({"--source", "pcap"});
  bad({"--eof", "maybe"});
  bad({"--overflow", "spill"});
  bad({"-ct", "5 parsecs"});
  bad({"--rate-limit", "fast"});
  bad({"-cc"});  // no rootCA.crt in the directory
  EXPECT_THROW(parse_command_line(std::vector<std::string>{"--no-such-flag"}), UsageError);
  EXPECT_THROW(parse_command_line(std::vector<std::string>{"-c"}), UsageError);
  EXPECT_THROW(parse_command_line(std::vector<std::string>{"stray"}), UsageError);
  std::filesystem::remove(tmp / "c/key");
  EXPECT_THROW(resolve({"-c", tmp / "c"}), UsageError);
  EXPECT_THROW(resolve({"--type", "1"}), UsageError) << "no directory and no --uuid";
}

TEST(ConfigDir, ValueParsers) {
  EXPECT_EQ(parse_duration_ms("200ms", "x"), 200);
  EXPECT_EQ(parse_duration_ms("1h30m", "x"), 5'400'000);
  EXPECT_EQ(parse_duration_ms("1.5s", "x"), 1500);
  EXPECT_EQ(parse_duration_ms("7", "x"), 7000);
  EXPECT_EQ(parse_size("64k", "x"), 65536u);
  EXPECT_EQ(parse_size("16M", "x"), 16u << 20);
  EXPECT_EQ(parse_size("1G", "x"), 1u << 30);
  EXPECT_TRUE(parse_bool("yes", "x"));
  EXPECT_FALSE(parse_bool("false", "x"));
}

// A bad command line exits with 2, a bad configuration (directory, files) with 78.
TEST(Binary, UsageErrorsExitWith2AndConfigurationErrorsWith78) {
  ClientTempDir tmp;
  make_config(tmp / "c", 1, 4096);
  make_config(tmp / "bad", 1, 4096);
  write_file(tmp / "bad/snaplen", "lots\n");
  for (auto [args, status] : std::vector<std::pair<std::vector<std::string>, int>>{
           {{"--bogus"}, 2},
           {{"-c", tmp / "c", "--type", "77"}, 2},
           {{"-c", tmp / "c", "--snaplen", "x"}, 2},
           {{"-c", tmp / "missing-dir"}, 78},
           {{"-c", tmp / "bad"}, 78}}) {
    args.insert(args.begin(), client_binary());
    ClientProcess p(args, "/dev/null");
    EXPECT_EQ(p.wait(10s), status) << args[1] << " " << p.err();
    EXPECT_NE(p.err().find("d4-client:"), std::string::npos);
    EXPECT_TRUE(p.out().empty()) << "nothing on stdout on errors";
  }
}

TEST(Binary, HelpDocumentsEveryFlag) {
  ClientProcess p({client_binary(), "--help"}, "/dev/null");
  ASSERT_EQ(p.wait(10s), 0);
  std::string help = p.out();
  for (const char* flag : {"-c, --config",
                           "--uuid",
                           "--key-file",
                           "--type",
                           "--protocol-version",
                           "--snaplen",
                           "--metaheader",
                           "--timestamp",
                           "--chunking",
                           "--source",
                           "--file",
                           "--interface",
                           "--filter",
                           "--capture-snaplen",
                           "--promisc",
                           "--folder",
                           "-json",
                           "-daily",
                           "--eof",
                           "-rl",
                           "--destination",
                           "-ce",
                           "-cc",
                           "--insecure",
                           "--ca-file",
                           "--cert",
                           "--cert-key",
                           "--server-name",
                           "-ct",
                           "-cka",
                           "-rt",
                           "--retry-min",
                           "--user-timeout",
                           "--resend-acked",
                           "--spool-memory",
                           "--spool-dir",
                           "--spool-disk-max",
                           "--overflow",
                           "--rate-limit",
                           "--grace",
                           "--stats-interval",
                           "--verbose",
                           "--quiet",
                           "--version",
                           "--help",
                           "rootCA.crt",
                           "metaheader.json"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  ClientProcess v({client_binary(), "-V"}, "/dev/null");
  EXPECT_EQ(v.wait(10s), 0);
  EXPECT_NE(v.out().find("d4-client"), std::string::npos);
}

TEST(Binary, GeneratedUuidIsUsedInPackets) {
  ClientTempDir tmp;
  make_config(tmp / "c", 3, 4096);
  std::filesystem::remove(tmp / "c/uuid");
  ClientProcess p({client_binary(), "-c", tmp / "c"}, vector_path("auth.log"));
  ASSERT_EQ(p.wait(10s), 0) << p.err();
  auto uuid = d4::protocol::Uuid::parse(read_text(tmp / "c/uuid"));
  ASSERT_TRUE(uuid.has_value());
  auto pkts = parse_stream(p.out());
  ASSERT_FALSE(pkts.empty());
  EXPECT_EQ(pkts[0].header.uuid, *uuid);
  EXPECT_NE(p.err().find("generated sensor UUID"), std::string::npos);
}
