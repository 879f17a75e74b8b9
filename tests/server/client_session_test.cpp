// The sensor client in real TLS sessions into d4-server: the server certificate is verified, and
// what the client reads (the vector inputs from a file or stdin, the files of a folder) is stored
// intact in the server's streams. The client under test is this build's d4-client, or the binary
// named by D4_CLIENT_UNDER_TEST, started through D4_TARGET_LAUNCHER (words separated by spaces,
// e.g. "qemu-s390x-static -L SYSROOT"): scripts/cross-client.sh runs these tests that way with a
// cross-built client on the emulated CPU against this machine's d4-server.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "server/harness.hpp"
#include "support/bytes.hpp"

using namespace d4;
using namespace d4::test;

namespace {

constexpr auto kClientTimeout = 120s;  // emulated CPUs are slow

std::vector<std::string> client_command() {
  std::vector<std::string> argv;
  if (const char* l = std::getenv("D4_TARGET_LAUNCHER")) {
    std::istringstream words(l);
    for (std::string w; words >> w;) argv.push_back(w);
  }
  const char* c = std::getenv("D4_CLIENT_UNDER_TEST");
  argv.push_back(c && *c ? std::string(c) : (bin_dir() / "d4-client").string());
  return argv;
}

class ClientSession : public ::testing::Test {
 protected:
  ClientSession() : server(redis) { write_text(dir / "key", "d4-test-key\n"); }

  // Common arguments: identity, key, the server's TLS port, its certificate as the only CA.
  std::vector<std::string> args(int type, const std::vector<std::string>& more) {
    auto argv = client_command();
    argv.insert(argv.end(),
                {"--uuid", uuid.dashed(), "--key-file", (dir / "key").string(), "--type",
                 std::to_string(type), "--destination", "127.0.0.1:" + std::to_string(server.tls_port()),
                 "--ca-file", (server.dir() / "certs" / "server.crt").string(), "-rt", "0"});
    argv.insert(argv.end(), more.begin(), more.end());
    return argv;
  }
  Process::Options output(const std::filesystem::path& stdin_file = {}) {
    return Process::Options{stdin_file, dir / "client.out", dir / "client.err", {}, {}};
  }
  std::string client_log() { return read_text(dir / "client.err"); }

  RedisServer redis;
  ServerProcess server;
  TempDir dir;
  protocol::Uuid uuid = random_uuid();
};

struct VectorInput {
  const char* file;
  int type;
};
class ClientSessionVectors : public ClientSession, public ::testing::WithParamInterface<VectorInput> {};

TEST_P(ClientSessionVectors, FileArrivesIntactOverVerifiedTls) {
  auto input = vector_path(GetParam().file);
  Process p(args(GetParam().type, {"--source", "file", "--file", input}), output());
  int rc = p.wait(kClientTimeout);
  auto stream = server.stream();
  auto expect = as_string(read_file(input));
  auto data = wait_stream(stream, GetParam().type, expect.size());
  EXPECT_EQ(rc, 0) << client_log();
  EXPECT_EQ(data.size(), expect.size()) << client_log();
  EXPECT_TRUE(data == expect) << "stored data differs from " << GetParam().file;
}

INSTANTIATE_TEST_SUITE_P(Vectors, ClientSessionVectors,
                         ::testing::Values(VectorInput{"dns.pcap", 1}, VectorInput{"auth.log", 3},
                                           VectorInput{"dns.passivedns.csv", 8}),
                         [](const ::testing::TestParamInfo<VectorInput>& i) {
                           return "type" + std::to_string(i.param.type);
                         });

TEST_F(ClientSession, StdinArrivesIntactOverVerifiedTls) {
  auto input = vector_path("dns.passivedns.csv");
  Process p(args(8, {}), output(input));
  int rc = p.wait(kClientTimeout);
  auto stream = server.stream();
  auto expect = as_string(read_file(input));
  EXPECT_EQ(wait_stream(stream, 8, expect.size()), expect) << client_log();
  EXPECT_EQ(rc, 0) << client_log();
}

// Files already in the folder (oldest first) and then a new one, sent raw with their separator.
TEST_F(ClientSession, FolderFilesOverVerifiedTls) {
  auto folder = dir / "watched";
  std::filesystem::create_directories(folder);
  write_text(folder / "b.json", R"({"n":1})");
  write_text(folder / "a.json", R"({"n":2})");
  // b.json is older, so it goes first although its name sorts last.
  timespec old_times[2] = {{1700000000, 0}, {1700000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (folder / "b.json").c_str(), old_times, 0), 0);
  Process p(args(3, {"--source", "folder", "--folder", folder.string(), "-json", "--folder-existing",
                     "--folder-state", (dir / "state").string()}),
            output());
  auto stream = server.stream();
  std::string first = "{\"n\":1}\n{\"n\":2}\n";
  ASSERT_EQ(wait_stream(stream, 3, first.size(), nullptr, kClientTimeout), first) << client_log();
  write_text(dir / "c.tmp", R"({"n":3})");
  std::filesystem::rename(dir / "c.tmp", folder / "c.json");  // moved in: a new file
  std::string all = first + "{\"n\":3}\n";
  EXPECT_EQ(wait_stream(stream, 3, all.size(), nullptr, kClientTimeout), all) << client_log();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(kClientTimeout), 0) << client_log();
  auto state = read_text(dir / "state");
  for (const char* f : {" a.json\n", " b.json\n", " c.json\n"})
    EXPECT_NE(state.find(f), std::string::npos) << f << " not recorded as delivered:\n" << state;
}

// A server whose certificate is not signed by the configured CA gets no data.
TEST_F(ClientSession, UntrustedServerIsRefused) {
  Process gen({(bin_dir() / "d4-server").string(), "--generate-cert", (dir / "other").string()},
              Process::Options{{}, dir / "gen.out", dir / "gen.err", {}, {}});
  ASSERT_EQ(gen.wait(30s), 0);
  auto argv = args(3, {"--source", "file", "--file", vector_path("auth.log")});
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == "--ca-file") argv[i + 1] = (dir / "other" / "server.crt").string();
  Process p(argv, output());
  EXPECT_EQ(p.wait(kClientTimeout), 1) << client_log();
  EXPECT_NE(client_log().find("certificate"), std::string::npos) << client_log();
  auto stream = server.stream();
  EXPECT_TRUE(stream_keys(stream, 3).empty());
}

}  // namespace
