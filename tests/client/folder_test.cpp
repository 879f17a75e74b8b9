// The folder source with --folder-existing: files already in the folder are sent first, in order,
// then new ones; the state file makes a restart (even after SIGKILL) send nothing the receiver's
// TCP acknowledged, and everything it did not. The real client against the TLS receiver.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>

#include "client_test_util.hpp"
#include "process.hpp"
#include "receiver.hpp"

using namespace d4::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 30s;  // generous: the suite also runs under qemu

class FolderExisting : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SuitePki::make(); }
  static void TearDownTestSuite() { SuitePki::remove(); }
  FolderExisting() {
    make_config(tmp / "conf", 3, 4096);
    std::filesystem::create_directories(watch());
  }
  std::string watch() const { return tmp / "watch"; }
  std::string state() const { return tmp / "state"; }
  ReceiverOptions tls_receiver() {
    ReceiverOptions o;
    o.cert_file = SuitePki::pki->server_crt;
    o.key_file = SuitePki::pki->server_key;
    return o;
  }
  std::vector<std::string> args(const std::string& dest, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {
        client_binary(),       "-c",       tmp / "conf", "--destination", dest,    "--ca-file",
        SuitePki::pki->ca_crt, "--source", "folder",     "--folder",      watch(), "-json",
        "--retry-min",         "50ms",     "-rt",        "300ms"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // A file with the given content and modification time (seconds since the epoch).
  void put(const std::string& name, const std::string& content, long mtime) {
    std::string path = watch() + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    write_file(path, content);
    timespec t[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), t, 0), 0);
  }
  // Entries ("<mtime_ns> <size> <path>" lines) of the state file.
  std::size_t state_entries() {
    if (!std::filesystem::exists(state())) return 0;
    auto text = read_text(state());
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) - 1;
  }
  ClientTempDir tmp;
};

std::string received(Receiver& rx) {
  std::string out;
  for (auto& s : rx.sessions())
    for (auto& p : s.packets) out.append(p.payload.begin(), p.payload.end());
  return out;
}

bool wait_received(Receiver& rx, const std::string& text) {
  return rx.wait_until([&] { return received(rx) == text; }, kWait);
}

}  // namespace

TEST_F(FolderExisting, FilesAlreadyThereGoFirstOldestFirstThenNewOnes) {
  put("c.json", "c", 1700000000);
  put("a.json", "a", 1700000100);
  put("sub/b.json", "b", 1700000200);
  Receiver rx(tls_receiver());
  ClientProcess p(args(rx.destination(), {"--folder-existing", "--folder-state", state()}));
  ASSERT_TRUE(wait_received(rx, "c\na\nb\n")) << received(rx) << p.err();
  ASSERT_TRUE(p.wait_stderr("watching", kWait)) << p.err();
  write_file(watch() + "/z.json", "z");
  EXPECT_TRUE(wait_received(rx, "c\na\nb\nz\n")) << received(rx) << p.err();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(kWait), 0) << p.err();
  EXPECT_EQ(state_entries(), 4u) << read_text(state());
  EXPECT_NE(p.err().find("4 recorded as delivered"), std::string::npos) << p.err();
}

TEST_F(FolderExisting, NameOrderOnRequest) {
  put("c.json", "c", 1700000000);
  put("a.json", "a", 1700000100);
  put("b.json", "b", 1700000050);
  Receiver rx(tls_receiver());
  ClientProcess p(
      args(rx.destination(), {"--folder-existing", "--folder-state", state(), "--folder-order", "name"}));
  EXPECT_TRUE(wait_received(rx, "a\nb\nc\n")) << received(rx) << p.err();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(kWait), 0) << p.err();
}

// The state is written as acknowledgements arrive, not only at a clean exit: after SIGKILL the
// next run sends only what changed or appeared. Settings from the configuration directory.
TEST_F(FolderExisting, RestartAfterKillResendsNothingAcknowledged) {
  write_file(tmp / "conf/folder_existing", "true\n");
  put("1.json", "one", 1700000000);
  put("2.json", "two", 1700000001);
  put("3.json", "three", 1700000002);
  {
    Receiver rx(tls_receiver());
    ClientProcess p(args(rx.destination()));
    ASSERT_TRUE(wait_received(rx, "one\ntwo\nthree\n")) << received(rx) << p.err();
    // Default state file: DIR/folder.state.
    ASSERT_TRUE(rx.wait_until(
        [&] {
          return std::filesystem::exists(tmp / "conf/folder.state") &&
                 read_text(tmp / "conf/folder.state").find(" 3.json\n") != std::string::npos;
        },
        kWait))
        << p.err();
    p.signal(SIGKILL);
    p.wait(kWait);
  }
  put("2.json", "two, rewritten", 1700000100);  // changed since it was sent: sent again
  put("4.json", "four", 1700000200);
  std::filesystem::remove(watch() + "/1.json");  // gone: its entry is dropped
  Receiver rx(tls_receiver());
  ClientProcess p(args(rx.destination()));
  EXPECT_TRUE(wait_received(rx, "two, rewritten\nfour\n")) << received(rx) << p.err();
  EXPECT_TRUE(p.wait_stderr("2 of 3 files already in", kWait)) << p.err();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(kWait), 0) << p.err();
  auto text = read_text(tmp / "conf/folder.state");
  EXPECT_EQ(text.find(" 1.json\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" 4.json\n"), std::string::npos) << text;
}

// Files read into the spool while no server answers were never acknowledged: not recorded, so
// the next run sends them.
TEST_F(FolderExisting, FilesNeverAcknowledgedAreSentAgain) {
  put("a.json", "a", 1700000000);
  put("b.json", "b", 1700000001);
  int dead_port = 0;
  {
    Receiver probe(tls_receiver());  // a port that was free: nothing listens there afterwards
    dead_port = probe.port();
  }
  {
    ClientProcess p(
        args("127.0.0.1:" + std::to_string(dead_port), {"--folder-existing", "--folder-state", state()}));
    ASSERT_TRUE(p.wait_stderr("2 of 2 files already in", kWait)) << p.err();
    ASSERT_TRUE(p.wait_stderr("connect", kWait)) << p.err();
    p.signal(SIGKILL);
    p.wait(kWait);
  }
  EXPECT_EQ(state_entries(), 0u);
  Receiver rx(tls_receiver());
  ClientProcess p(args(rx.destination(), {"--folder-existing", "--folder-state", state()}));
  EXPECT_TRUE(wait_received(rx, "a\nb\n")) << received(rx) << p.err();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(kWait), 0) << p.err();
  EXPECT_EQ(state_entries(), 2u);
}

// On stdout a file counts as delivered once written.
TEST_F(FolderExisting, StdoutDestination) {
  put("a.json", "a", 1700000000);
  // Runs the client until it announced how many existing files it sends (and sent `expected`).
  auto run = [&](const std::string& announced, const std::string& expected) {
    ClientProcess p({client_binary(), "-c", tmp / "conf", "--source", "folder", "--folder", watch(), "-json",
                     "--folder-existing", "--folder-state", state()});
    EXPECT_TRUE(p.wait_stderr("watching", kWait)) << p.err();
    EXPECT_TRUE(p.wait_stderr(announced + " files already in", kWait)) << p.err();
    p.wait_stdout(
        [&](const std::string& out) {
          auto pay = concat_payloads(parse_stream(out));
          return std::string(pay.begin(), pay.end()) == expected;
        },
        kWait);
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(kWait), 0) << p.err();
    auto pay = concat_payloads(parse_stream(p.out()));
    return std::string(pay.begin(), pay.end());
  };
  EXPECT_EQ(run("1 of 1", "a\n"), "a\n");
  EXPECT_EQ(run("0 of 1", ""), "") << "sent again although written to stdout";
}

TEST_F(FolderExisting, ConfigurationErrors) {
  auto status = [&](std::vector<std::string> extra, bool with_conf = true) {
    std::vector<std::string> a = {client_binary()};
    if (with_conf)
      a.insert(a.end(), {"-c", tmp / "conf"});
    else
      a.insert(a.end(), {"--uuid", kTestUuid, "--key-file", tmp / "conf/key", "--type", "3"});
    a.insert(a.end(), {"--source", "folder", "--folder", watch()});
    a.insert(a.end(), extra.begin(), extra.end());
    ClientProcess p(a, "/dev/null");
    auto rc = p.wait(kWait);
    return std::make_pair(rc.value_or(-1), p.err());
  };
  auto [rc1, err1] = status({"--folder-state", state()});
  EXPECT_EQ(rc1, 2) << err1;
  EXPECT_NE(err1.find("--folder-existing"), std::string::npos) << err1;
  auto [rc2, err2] = status({"--folder-existing"}, false);
  EXPECT_EQ(rc2, 2) << err2;
  EXPECT_NE(err2.find("state file"), std::string::npos) << err2;
  auto [rc3, err3] = status({"--folder-existing", "--overflow", "drop"});
  EXPECT_EQ(rc3, 2) << err3;
  auto [rc4, err4] = status({"--folder-existing", "--folder-order", "size"});
  EXPECT_EQ(rc4, 2) << err4;
  write_file(state(), "not a state file\n");
  auto [rc5, err5] = status({"--folder-existing", "--folder-state", state()});
  EXPECT_EQ(rc5, 2) << err5;
  EXPECT_NE(err5.find("not a d4-client folder state file"), std::string::npos) << err5;
}
