// d4-queue and d4-export as processes: every destination receives each element, a destination
// that is down or untrusted loses nothing, and TLS verification works with a private CA.
#include <gtest/gtest.h>

#include <fstream>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "queues/export/sinks.hpp"
#include "support/http.hpp"
#include "support/json_logs.hpp"
#include "support/ports.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/text.hpp"

namespace d4::test {
namespace {
namespace fs = std::filesystem;

class ExportTest : public ::testing::Test {
 protected:
  ExportTest() : analyzer(core::RedisEndpoint{"127.0.0.1", redis.port(), {}, 2, {}}) {
    redis.cli({"SADD", "server:accepted_type", "3", "8"});
  }
  std::string queue_cli(const std::string& args) {
    return shell_output((bin_dir() / "d4-queue").string() + " --meta " + redis.endpoint(0) + " --analyzer " +
                        redis.endpoint(2) + " " + args + " 2>&1");
  }
  std::string list() const { return "analyzer:8:" + queue; }
  void push(const std::vector<std::string>& elements) {
    for (const auto& i : elements) analyzer.command_ok({"LPUSH", list(), i});
  }
  Process exporter(const std::string& to, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{(bin_dir() / "d4-export").string(),
                                  "--analyzer",
                                  redis.endpoint(2),
                                  "--meta",
                                  redis.endpoint(0),
                                  "-u",
                                  queue,
                                  "--to",
                                  to};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Process::Options o;
    o.stderr_file = dir / "export.log";
    return Process(argv, o);
  }
  Process listener(const std::string& socat_address, const fs::path& out) {
    Process::Options o;
    o.stdout_file = out;
    o.stderr_file = dir / "socat.log";
    return Process({"socat", "-u", socat_address, "STDOUT"}, o);
  }
  void SetUp() override {
    queue = "11111111-2222-4333-8444-555555555555";
    auto out = queue_cli("create -t 8 --id " + queue + " -d test");
    ASSERT_NE(out.find(queue), std::string::npos) << out;
  }
  TempDir dir;
  RedisServer redis{true};
  core::RedisClient analyzer;
  std::string queue;
  const std::vector<std::string> items{"one", "two", "three"};
};

TEST_F(ExportTest, QueueCliManagesQueues) {
  EXPECT_NE(queue_cli("list").find("analyzer:8:" + queue), std::string::npos);
  EXPECT_NE(queue_cli("edit " + queue + " -m 2 -d renamed").find("renamed"), std::string::npos);
  EXPECT_NE(queue_cli("push " + queue + " a b c").find("dropped 1"), std::string::npos);
  auto json = queue_cli("--json show " + queue);
  EXPECT_NE(json.find("\"dropped\":1"), std::string::npos) << json;
  EXPECT_NE(queue_cli("create -t 5").find("not in server:accepted_type"), std::string::npos);
  EXPECT_NE(queue_cli("delete " + queue).find("deleted"), std::string::npos);
  EXPECT_EQ(queue_cli("list"), "");
}

TEST_F(ExportTest, FileAndStdoutReceiveElementsInQueueOrder) {
  push(items);
  auto e = exporter("file:" + (dir / "out.txt").string(), {"--once"});
  EXPECT_EQ(e.wait(std::chrono::seconds(20)), 0);
  EXPECT_EQ(read_text(dir / "out.txt"), "one\ntwo\nthree\n");
  push(items);
  auto out = shell_output((bin_dir() / "d4-export").string() + " --analyzer " + redis.endpoint(2) +
                          " --list " + list() + " --to stdout --once --no-newline 2>/dev/null");
  EXPECT_EQ(out, "onetwothree");
  EXPECT_EQ(analyzer.command({"LLEN", list()}).integer, 0);
}

TEST_F(ExportTest, TcpDestinationDownLosesNothingAndReconnects) {
  int port = free_port();
  push(items);
  auto e = exporter("tcp:127.0.0.1:" + std::to_string(port));
  // Nothing listens: the exporter retries with backoff and takes nothing from the queue.
  ASSERT_TRUE(eventually([&] { return count_of(read_text(dir / "export.log"), "retrying in") >= 2; }))
      << read_text(dir / "export.log");
  EXPECT_EQ(analyzer.command({"LLEN", list()}).integer, 3);
  auto l = listener("TCP-LISTEN:" + std::to_string(port) + ",reuseaddr", dir / "tcp.txt");
  ASSERT_TRUE(
      eventually([&] { return read_text(dir / "tcp.txt") == "one\ntwo\nthree\n"; }, std::chrono::seconds(20)))
      << read_text(dir / "tcp.txt");
  push({"four"});
  ASSERT_TRUE(eventually([&] { return read_text(dir / "tcp.txt") == "one\ntwo\nthree\nfour\n"; }));
  e.stop();
}

// With log_format = "json", the retry line names the sink, the queue, the reason and the error as
// members a log shipper can alert on.
TEST_F(ExportTest, JsonRetryLineNamesTheSinkQueueReasonAndDetail) {
  JsonLogsForChildren json_logs;
  const std::string to = "tcp:127.0.0.1:" + std::to_string(free_port());  // nothing listens
  push(items);
  auto e = exporter(to);
  ASSERT_TRUE(eventually([&] {
    return read_text(dir / "export.log").find("retrying in") != std::string::npos;
  })) << read_text(dir / "export.log");
  e.stop();
  auto line = json_log_line_with(json_log_lines(read_text(dir / "export.log")), "retrying in");
  EXPECT_EQ(line.value("component", ""), "d4-export") << line.dump();
  EXPECT_EQ(line.value("level", ""), "warning") << line.dump();
  EXPECT_NE(line.value("sink", "").find("127.0.0.1"), std::string::npos) << line.dump();
  EXPECT_EQ(line.value("queue", ""), list()) << line.dump();
  EXPECT_EQ(line.value("reason", ""), "sink_unavailable") << line.dump();
  EXPECT_FALSE(line.value("detail", "").empty()) << line.dump();
  EXPECT_GT(line.value("retry_ms", 0), 0) << line.dump();
}

TEST_F(ExportTest, ElementsLeftInTheProcessingListAreSentFirstAfterACrash) {
  // An exporter killed between its LMOVE and the send leaves the element in its processing list.
  auto out = dir / "again.txt";
  std::string name = "crashed";
  analyzer.command_ok({"LPUSH", core::keys::exporter_processing(name), "popped-before-crash"});
  push(items);
  auto e = exporter("file:" + out.string(), {"--once", "--name", name});
  EXPECT_EQ(e.wait(std::chrono::seconds(20)), 0);
  EXPECT_EQ(read_text(out), "popped-before-crash\none\ntwo\nthree\n");
  EXPECT_EQ(analyzer.command({"LLEN", core::keys::exporter_processing(name)}).integer, 0);
}

TEST_F(ExportTest, MetricsCountDeliveriesBytesFailuresRetriesAndBacklogPerSink) {
  int port = free_port();
  // An element left by an interrupted run goes first and counts as retried.
  analyzer.command_ok({"LPUSH", core::keys::exporter_processing("m"), "zero"});
  push(items);
  auto e =
      exporter("tcp:127.0.0.1:" + std::to_string(port), {"--name", "m", "--metrics-listen", "127.0.0.1:0"});
  int m = wait_for_listening(dir / "export.log", "metrics and health, HTTP", e, std::chrono::seconds(60));
  const std::string q = "{queue=\"" + list() + "\"}";
  // Nothing listens: failures are counted, nothing is taken, health is degraded.
  ASSERT_TRUE(
      eventually([&] { return metric(m, "d4_export_send_failures_total{sink=\"tcp\"}").value_or(0) >= 2; },
                 std::chrono::seconds(20)));
  EXPECT_EQ(metric(m, "d4_export_queue_length" + q), 3.0);
  EXPECT_EQ(metric(m, "d4_export_processing_length" + q), 1.0);
  EXPECT_EQ(metric(m, "d4_export_items_total{sink=\"tcp\"}"), 0.0);
  EXPECT_EQ(http_get(m, "/health")->status, 503);
  auto l = listener("TCP-LISTEN:" + std::to_string(port) + ",reuseaddr", dir / "tcp.txt");
  // A delivery is counted in items, then bytes, then its time: the last one is waited for.
  ASSERT_TRUE(eventually(
      [&] {
        return metric(m, "d4_export_items_total{sink=\"tcp\"}") == 4.0 &&
               metric(m, "d4_export_last_delivery_timestamp_seconds{sink=\"tcp\"}").value_or(0) > 0.0;
      },
      std::chrono::seconds(30)))
      << read_text(dir / "export.log");
  EXPECT_EQ(metric(m, "d4_export_bytes_total{sink=\"tcp\"}"),
            double(std::string("zero\none\ntwo\nthree\n").size()));
  EXPECT_EQ(metric(m, "d4_export_retried_items_total{sink=\"tcp\"}"), 1.0);
  EXPECT_EQ(metric(m, "d4_export_queue_length" + q), 0.0);
  EXPECT_EQ(metric(m, "d4_export_processing_length" + q), 0.0);
  EXPECT_GT(metric(m, "d4_export_last_delivery_timestamp_seconds{sink=\"tcp\"}").value_or(0), 0.0);
  ASSERT_TRUE(eventually([&] { return http_get(m, "/health")->status == 200; }));
  // The queue's Redis goes away: degraded, errors counted, the backlog cannot be read.
  redis.stop();
  ASSERT_TRUE(eventually([&] { return http_get(m, "/health")->status == 503; }, std::chrono::seconds(20)));
  EXPECT_GE(metric(m, "d4_export_redis_errors_total").value_or(0), 1.0);
  EXPECT_EQ(metric(m, "d4_export_queue_length" + q), std::nullopt);
  EXPECT_GE(metric(m, "d4_metrics_collector_errors_total").value_or(0), 1.0);
  e.stop();
}

TEST_F(ExportTest, UdpUnixAndSyslogDestinations) {
  int port = free_port();
  auto u = listener("UDP-RECV:" + std::to_string(port), dir / "udp.txt");
  auto sock = (dir / "s.sock").string();
  auto us = listener("UNIX-LISTEN:" + sock, dir / "unix.txt");
  auto dsock = (dir / "d.sock").string();
  auto ud = listener("UNIX-RECV:" + dsock, dir / "unixgram.txt");
  int sport = free_port();
  auto st = listener("TCP-LISTEN:" + std::to_string(sport) + ",reuseaddr", dir / "syslog.txt");
  ASSERT_TRUE(eventually([&] {
    return fs::exists(sock) && fs::exists(dsock) && port_bound(port, Transport::udp) && port_bound(sport);
  }));
  struct Case {
    std::string to;
    fs::path out;
    std::string expected_part;
  } cases[] = {{"udp:127.0.0.1:" + std::to_string(port), dir / "udp.txt", "one\ntwo\nthree\n"},
               {"unix:" + sock, dir / "unix.txt", "one\ntwo\nthree\n"},
               {"unixgram:" + dsock, dir / "unixgram.txt", "onetwothree"},
               {"syslog-tcp:127.0.0.1:" + std::to_string(sport), dir / "syslog.txt", "<134>1 "}};
  for (const auto& c : cases) {
    push(items);
    std::vector<std::string> extra{"--once"};
    if (c.to.rfind("unixgram", 0) == 0) extra.push_back("--no-newline");
    auto e = exporter(c.to, extra);
    EXPECT_EQ(e.wait(std::chrono::seconds(20)), 0) << c.to << ": " << read_text(dir / "export.log");
    EXPECT_TRUE(eventually([&] { return read_text(c.out).find(c.expected_part) != std::string::npos; }))
        << c.to << " got: " << read_text(c.out);
  }
  // RFC 6587 octet counting: "<length> <message>" with the element as MSG.
  auto syslog = read_text(dir / "syslog.txt");
  auto sp = syslog.find(' ');
  ASSERT_NE(sp, std::string::npos);
  auto len = std::stoul(syslog.substr(0, sp));
  auto first = syslog.substr(sp + 1, len);
  EXPECT_EQ(first.rfind("<134>1 ", 0), 0u) << first;
  EXPECT_EQ(first.substr(first.size() - 4), " one");
}

TEST(Rfc5424, MessageLayout) {
  queues::SinkOptions o;
  o.syslog_facility = 1;
  o.syslog_severity = 3;
  o.syslog_app = "d4";
  o.syslog_msgid = "d4";
  EXPECT_EQ(queues::format_rfc5424("hello", o, "host", 42, "2024-01-01T00:00:00.000Z"),
            "<11>1 2024-01-01T00:00:00.000Z host d4 42 d4 - hello");
}

class TlsExportTest : public ExportTest {
 protected:
  void make_ca(const std::string& name) {
    auto d = dir.path().string();
    std::string cmd =
        "cd '" + d + "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes " +
        "-keyout " + name + ".key -out " + name + ".pem -days 2 -subj /CN=" + name + " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void SetUp() override {
    ExportTest::SetUp();
    make_ca("ca");
    make_ca("other-ca");
    auto d = dir.path().string();
    std::string cmd =
        "cd '" + d +
        "' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key "
        "-out srv.csr -subj /CN=localhost 2>/dev/null && printf 'subjectAltName=IP:127.0.0.1' > ext "
        "&& openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
        "-days 2 -extfile ext 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
};

TEST_F(TlsExportTest, VerifiesTheServerWithAPrivateCaAndRefusesAnUntrustedOne) {
  int port = free_port();
  // socat as the TLS server (one child per connection, unbuffered output).
  auto server = listener("OPENSSL-LISTEN:" + std::to_string(port) + ",reuseaddr,fork,verify=0,cert=" +
                             (dir / "srv.pem").string() + ",key=" + (dir / "srv.key").string(),
                         dir / "tls.txt");
  ASSERT_TRUE(eventually([&] { return port_bound(port); }));
  push(items);
  // Untrusted CA: the handshake fails, nothing is lost.
  auto bad = exporter("tls:127.0.0.1:" + std::to_string(port), {"--ca", (dir / "other-ca.pem").string()});
  EXPECT_TRUE(eventually([&] {
    return read_text(dir / "export.log").find("certificate verify failed") != std::string::npos;
  })) << read_text(dir / "export.log");
  bad.stop();
  auto pending =
      analyzer.command({"LLEN", list()}).integer +
      analyzer
          .command(
              {"LLEN", core::keys::exporter_processing(list() + "|tls:127.0.0.1:" + std::to_string(port))})
          .integer;
  EXPECT_EQ(pending, 3);
  // The right CA: delivered, starting with the element the failed run had popped.
  auto good =
      exporter("tls:127.0.0.1:" + std::to_string(port), {"--ca", (dir / "ca.pem").string(), "--once"});
  EXPECT_EQ(good.wait(std::chrono::seconds(20)), 0) << read_text(dir / "export.log");
  EXPECT_TRUE(eventually([&] { return read_text(dir / "tls.txt") == "one\ntwo\nthree\n"; }))
      << read_text(dir / "tls.txt");
}

}  // namespace
}  // namespace d4::test
