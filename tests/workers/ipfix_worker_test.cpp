// d4-worker serving type 7 against real redis-servers: IPFIX exported by softflowd from the
// vector captures, cut at awkward D4 packet boundaries, decoded into queue records that match
// tshark's IPFIX dissector; archives that decode alone after rotation; rejects counted per
// sensor; a SIGKILLed worker resuming mid-message with its templates.
#include <gtest/gtest.h>

#include <csignal>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "support/bytes.hpp"
#include "workers/ipfix/decoder.hpp"
#include "workers/ipfix/record_json.hpp"
#include "workers/ipfix_support.hpp"
#include "workers/worker_fixture.hpp"

namespace d4::test {
namespace {
namespace keys = core::keys;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace test::ipfix;

std::vector<std::string> split_messages(const std::string& stream) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos + 4 <= stream.size();) {
    std::size_t len =
        (static_cast<unsigned char>(stream[pos + 2]) << 8) | static_cast<unsigned char>(stream[pos + 3]);
    if (len < 16) break;
    out.push_back(stream.substr(pos, len));
    pos += len;
  }
  return out;
}

// The records and file paths a type-7 queue received for one sensor, in queue order.
struct QueueContent {
  std::vector<json> records;
  std::vector<std::string> texts;
  std::vector<std::string> paths;
};
QueueContent queue_content(const std::vector<std::string>& items, const std::string& sensor) {
  QueueContent c;
  for (const auto& item : items) {
    if (!item.empty() && item[0] == '/') {
      if (item.find("/" + sensor + "/7/") != std::string::npos) c.paths.push_back(item);
      continue;
    }
    auto j = json::parse(item);
    if (j["d4_sensor"] != sensor) continue;
    c.records.push_back(j);
    c.texts.push_back(item);
  }
  return c;
}

// What the decoder outputs for a whole stream in one go (the reference for restarted workers).
std::vector<std::string> decode_in_one_go(const std::string& stream, const std::string& sensor) {
  struct Sink : workers::ipfix::RecordSink {
    workers::ipfix::MessageDecoder decoder{workers::ipfix::InformationModel::standard(), {}};
    workers::ipfix::RecordRenderer renderer{decoder.templates(), decoder.model()};
    std::string sensor;
    std::vector<std::string> texts;
    void on_record(const workers::ipfix::MessageHeader& h, const workers::ipfix::Template& t,
                   std::string_view r) override {
      texts.emplace_back();
      renderer.render(texts.back(), sensor, h, t, r);
    }
    void on_issue(std::string_view, std::string) override {}
  } sink;
  sink.sensor = sensor;
  workers::ipfix::MessageFramer framer;
  framer.feed(stream, [&](std::string_view m) { sink.decoder.decode(m, sink); });
  return sink.texts;
}

std::string sensor_id(int i) {
  return fmt::format("7e57{:04x}3c8a4a399a5e1a4f1f2b7c01", i);
}

TEST_F(WorkerTest, IpfixFromSoftflowdMatchesTsharkAndIsArchivedByteForByte) {
  std::string q = create_queue("7");
  const std::vector<std::string> captures{"dns.pcap", "tls.pcap", "backscatter.pcap"};
  std::vector<std::string> streams;
  for (std::size_t i = 0; i < captures.size(); ++i) {
    auto messages = softflowd_export(vector_path(captures[i]));
    ASSERT_FALSE(messages.empty()) << captures[i];
    streams.push_back(concat(messages));
    std::string session = fmt::format("77777777-0000-4000-8000-00000000000{}", i);
    add_packets(7, session, awkward_chunks(streams.back()), sensor_id(static_cast<int>(i)));
    end_session(session);
  }
  auto w = start_worker("", {"--types", "7"});
  for (std::size_t i = 0; i < captures.size(); ++i)
    ASSERT_TRUE(wait_cleaned(7, fmt::format("77777777-0000-4000-8000-00000000000{}", i)));
  auto items = queue_items("7", q);
  for (std::size_t i = 0; i < captures.size(); ++i) {
    SCOPED_TRACE(captures[i]);
    std::string sensor = sensor_id(static_cast<int>(i));
    auto content = queue_content(items, sensor);
    // softflowd also exports an options record (its sampling settings), which has no flow fields.
    std::erase_if(content.records, [](const json& r) { return r.contains("ipfix_options"); });
    auto pcap = dir / fmt::format("ipfix-{}.pcap", i);
    write_udp_pcap(pcap, split_messages(streams[i]), 4739);
    auto t = tshark_flows(pcap, 4739, dir.path());
    ASSERT_GT(t.src.size(), 0u);
    ASSERT_EQ(content.records.size(), t.src.size());
    std::vector<std::string> ports;
    for (std::size_t k = 0; k < content.records.size(); ++k) {
      const json& r = content.records[k];
      EXPECT_EQ(r["sourceIPv4Address"], t.src[k]);
      EXPECT_EQ(r["destinationIPv4Address"], t.dst[k]);
      EXPECT_EQ(std::to_string(r["protocolIdentifier"].get<int>()), t.protocol[k]);
      EXPECT_EQ(std::to_string(r["octetDeltaCount"].get<std::uint64_t>()), t.octets[k]);
      EXPECT_EQ(std::to_string(r["packetDeltaCount"].get<std::uint64_t>()), t.packets[k]);
      if (r.contains("sourceTransportPort"))
        ports.push_back(fmt::format("{}>{}", r["sourceTransportPort"].get<int>(),
                                    r["destinationTransportPort"].get<int>()));
    }
    EXPECT_EQ(ports, t.ports);
    // The archive is the stream byte for byte (one file: no rotation), its path queued once.
    auto files = files_under(archive() / sensor / "7", ".ipfix.gz");
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(gunzip_file(files[0]), streams[i]);
    ASSERT_EQ(content.paths.size(), 1u);
    EXPECT_EQ(content.paths[0], files[0].string());
    // softflowd's output is valid IPFIX: nothing was rejected.
    EXPECT_EQ(meta.command({"HLEN", keys::sensor_rejects(sensor)}).integer, 0);
  }
  w.stop();
}

TEST_F(WorkerTest, IpfixRotatedFilesEachDecodeAloneInTshark) {
  std::string q = create_queue("7");
  auto messages = softflowd_export(vector_path("backscatter.pcap"));
  const std::string session = "77777777-0000-4000-8000-000000000010";
  add_packets(7, session, awkward_chunks(concat(messages)));
  end_session(session);
  auto w = start_worker("rotate_bytes = 6000\ncompression = \"zstd\"\nipfix_queue = \"files\"\n",
                        {"--types", "7"});
  ASSERT_TRUE(wait_cleaned(7, session));
  auto files = files_under(archive() / kSensor / "7", ".ipfix.zst");
  ASSERT_GT(files.size(), 2u);
  auto items = queue_items("7", q);
  EXPECT_EQ(items.size(), files.size());  // paths only
  auto whole = dir / "whole.pcap";
  write_udp_pcap(whole, messages, 4739);
  std::size_t total = tshark_flows(whole, 4739, dir.path()).src.size();
  ASSERT_GT(total, 0u);
  std::size_t sum = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto part = dir / fmt::format("part-{}.pcap", i);
    write_udp_pcap(part, split_messages(unzstd_file(files[i])), 4739);
    std::size_t n = tshark_flows(part, 4739, dir.path()).src.size();
    EXPECT_GT(n, 0u) << files[i];
    sum += n;
  }
  EXPECT_EQ(sum, total);
  w.stop();
}

TEST_F(WorkerTest, IpfixHandBuiltSessionQueuesRecordsAndCountsRejectsPerSensor) {
  std::string q = create_queue("7");
  const std::string session = "77777777-0000-4000-8000-000000000020";
  add_packets(7, session, awkward_chunks(concat(hand_built_session())));
  end_session(session);
  auto w = start_worker("ipfix_queue = \"records\"\n", {"--types", "7"});
  ASSERT_TRUE(wait_cleaned(7, session));
  auto content = queue_content(queue_items("7", q), kSensor);
  EXPECT_TRUE(content.paths.empty());
  ASSERT_EQ(content.records.size(), 5u);
  EXPECT_EQ(content.records[0]["initialTCPFlags"], 0x12);
  EXPECT_EQ(content.records[0]["pen:99999:7"], "dead01");
  EXPECT_EQ(content.records[1]["applicationName"], "dns \"quoted\"\n");
  EXPECT_EQ(content.records[3]["ipfix_domain"], 8);
  EXPECT_EQ(meta.command({"HGET", keys::sensor_rejects(kSensor), "ipfix-unknown-template"}).str, "2");
  // Non-fatal: the sensor is not marked in error, the session was not refused.
  EXPECT_TRUE(meta.command({"HGET", keys::sensor_metadata(kSensor), "Error"}).str.empty());
  w.stop();
}

TEST_F(WorkerTest, IpfixStreamThatIsNotIpfixIsRejected) {
  std::string msg = MessageBuilder(1, 0).finish();
  msg[1] = 9;  // NetFlow v9 header
  const std::string session = "77777777-0000-4000-8000-000000000030";
  add_packets(7, session, {concat(hand_built_session()) + msg});
  auto w = start_worker("", {"--types", "7"});
  // The flag is in the stream Redis, the sensor's error and count in the metadata Redis: two
  // servers, so each is waited for.
  ASSERT_TRUE(eventually([&] {
    return stream.command({"SISMEMBER", keys::kIncorrectTypeSessions, session}).integer == 1 &&
           meta.command({"HGET", keys::sensor_rejects(kSensor), "ipfix-invalid"}).str == "1" &&
           !meta.command({"HGET", keys::sensor_metadata(kSensor), "Error"}).str.empty();
  }));
  EXPECT_EQ(meta.command({"HGET", keys::sensor_metadata(kSensor), "Error"}).str,
            "Error: Type=7, Incorrect file format");
  end_session(session);
  ASSERT_TRUE(wait_cleaned(7, session));
  // The archive keeps every message up to the broken one.
  auto files = files_under(archive() / kSensor / "7", ".ipfix.gz");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(gunzip_file(files[0]), concat(hand_built_session()));
  w.stop();
}

TEST_F(WorkerTest, IpfixWorkerKilledMidSessionKeepsTemplatesAndEveryRecordOnce) {
  std::string q = create_queue("7");
  auto messages = softflowd_export(vector_path("backscatter.pcap"));
  // softflowd sends its templates at the start: later messages decode only with the templates
  // restored from the progress of the killed worker.
  std::string input;
  for (int i = 0; i < 6; ++i) input += concat(messages) + (i == 0 ? concat(hand_built_session()) : "");
  const std::string session = "77777777-0000-4000-8000-000000000040";
  add_packets(7, session, awkward_chunks(input));
  end_session(session);
  auto expected = decode_in_one_go(input, kSensor);
  ASSERT_GT(expected.size(), 3000u);
  auto list = keys::analyzer_list("7", q);
  auto length = [&] { return analyzer.command({"LLEN", list}).integer; };
  const std::string slow = "read_count = 4\nipfix_queue = \"records\"\n";
  auto w1 = start_worker(slow, {"--types", "7", "--lease-ms", "1000", "--commit-delay-ms", "5"});
  ASSERT_TRUE(eventually([&] { return length() > 700; }, std::chrono::seconds(60)));
  w1.signal(SIGKILL);
  w1.wait(std::chrono::seconds(5));
  auto at_kill = length();
  ASSERT_LT(at_kill, static_cast<long long>(expected.size()));
  auto w2 = start_worker("ipfix_queue = \"records\"\n", {"--types", "7", "--lease-ms", "1000"});
  ASSERT_TRUE(wait_cleaned(7, session, std::chrono::seconds(60)));
  w2.stop();
  auto content = queue_content(queue_items("7", q), kSensor);
  ASSERT_EQ(content.texts.size(), expected.size());
  EXPECT_EQ(content.texts, expected);
  auto files = files_under(archive() / kSensor / "7", ".ipfix.gz");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(gunzip_file(files[0]), input);
}

}  // namespace
}  // namespace d4::test
