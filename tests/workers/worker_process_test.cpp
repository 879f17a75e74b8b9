// d4-worker as a process against real redis-servers: the reference vectors end to end from the
// stream entries the ingest server writes to archives and analyzer queues.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "support/bytes.hpp"
#include "support/text.hpp"
#include "workers/worker_fixture.hpp"

namespace d4::test {
namespace {
namespace fs = std::filesystem;
namespace keys = core::keys;

// Number of packets tcpdump reads from a capture file (a real, independent reader); each packet
// line starts with its timestamp, continuation lines with white space.
int tcpdump_count(const fs::path& capture) {
  auto out = shell_output("tcpdump -n -q -r '" + capture.string() + "' 2>/dev/null | grep -c '^[0-9]'");
  return std::stoi(out);
}

std::string sha1_hex(const std::string& s) {
  unsigned char md[20];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha1(), nullptr);
  return to_hex(md, n);
}

std::string base64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

TEST_F(WorkerTest, PcapVectorIsArchivedByteIdenticalReadableByTcpdumpAndQueued) {
  std::string q = create_queue("1");
  add_packets(1, "11111111-0000-4000-8000-000000000001",
              payloads_of_d4_file(vector_path("c-client-type1-dns.d4")));
  end_session("11111111-0000-4000-8000-000000000001");
  auto w = start_worker();
  ASSERT_TRUE(wait_cleaned(1, "11111111-0000-4000-8000-000000000001"));
  auto files = files_under(archive() / kSensor / "1", ".cap.gz");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(gunzip_file(files[0]), as_string(read_file(vector_path("dns.pcap"))));
  auto plain = dir / "out.pcap";
  write_text(plain, gunzip_file(files[0]));
  EXPECT_EQ(tcpdump_count(plain), 120);
  EXPECT_EQ(queue_items("1", q), std::vector<std::string>{files[0].string()});
  // Reference layout: <root>/<uuid>/1/YYYY/MM/DD/<uuid>-YYYY-MM-DD-HHMMSS.cap.gz
  auto rel = fs::relative(files[0], archive()).string();
  EXPECT_TRUE(rel.rfind(kSensor + "/1/", 0) == 0) << rel;
  EXPECT_NE(files[0].filename().string().find(kSensor + "-"), std::string::npos);
  w.stop();
}

TEST_F(WorkerTest, PassiveDnsLinesSplitAcrossPacketsArriveOnceEachInOrder) {
  std::string q = create_queue("8");
  std::string csv = as_string(read_file(vector_path("dns.passivedns.csv")));
  // The C client's packets, and the same data cut every 7 bytes so that nearly every line spans
  // several packets.
  add_packets(8, "22222222-0000-4000-8000-000000000001",
              payloads_of_d4_file(vector_path("c-client-type8-passivedns.d4")));
  add_packets(8, "22222222-0000-4000-8000-000000000002", chunk(csv, 7));
  end_session("22222222-0000-4000-8000-000000000001");
  end_session("22222222-0000-4000-8000-000000000002");
  auto w = start_worker("", {"--types", "8"});
  ASSERT_TRUE(wait_cleaned(8, "22222222-0000-4000-8000-000000000001"));
  ASSERT_TRUE(wait_cleaned(8, "22222222-0000-4000-8000-000000000002"));
  auto expected = lines_of(csv);
  ASSERT_EQ(expected.size(), 60u);
  auto items = queue_items("8", q);
  ASSERT_EQ(items.size(), 120u);
  std::multiset<std::string> all(items.begin(), items.end());
  for (const auto& l : expected) EXPECT_EQ(all.count(l), 2u) << l;
  auto files = files_under(archive() / kSensor / "8", ".passivedns.txt.gz");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& f : files) EXPECT_EQ(gunzip_file(f), csv);
  w.stop();
}

TEST_F(WorkerTest, LogLinesKeepTheirOrderWithinASession) {
  std::string q = create_queue("3");
  std::string log = as_string(read_file(vector_path("auth.log")));
  add_packets(3, "33333333-0000-4000-8000-000000000001", chunk(log, 5));
  end_session("33333333-0000-4000-8000-000000000001");
  auto w = start_worker("", {"--types", "3", "--name", "stats-test"});
  ASSERT_TRUE(wait_cleaned(3, "33333333-0000-4000-8000-000000000001"));
  EXPECT_EQ(queue_items("3", q), lines_of(log));
  // The worker publishes its counters for the web UI and metrics.
  EXPECT_TRUE(eventually([&] {
    return analyzer.command({"HGET", keys::worker_stats("stats-test"), "3:items"}).str == "2" &&
           analyzer.command({"HGET", keys::worker_stats("stats-test"), "3:sessions_done"}).str == "1";
  }));
  EXPECT_EQ(analyzer.command({"SISMEMBER", keys::kWorkers, "stats-test"}).integer, 1);
  EXPECT_EQ(analyzer.command({"HGET", keys::worker_stats("stats-test"), "types"}).str, "3");
  auto files = files_under(archive() / kSensor / "3", ".syslog.txt.gz");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(gunzip_file(files[0]), log);
  w.stop();
}

TEST_F(WorkerTest, MalformedPcapStreamIsRejectedWithItsReason) {
  std::string q = create_queue("1");
  auto pcap = as_string(read_file(vector_path("dns.pcap")));
  // A valid global header, then a record header claiming one byte more than the snaplen.
  std::string broken = pcap.substr(0, 24);
  std::uint32_t snaplen = 0;
  std::memcpy(&snaplen, pcap.data() + 16, 4);
  std::string rec(16, '\0');
  std::uint32_t caplen = snaplen + 1, len = snaplen + 1;
  std::memcpy(rec.data() + 8, &caplen, 4);
  std::memcpy(rec.data() + 12, &len, 4);
  broken += rec + std::string(100, 'x');
  const std::string session = "44444444-0000-4000-8000-000000000001";
  add_packets(1, session, {broken});
  auto w = start_worker("", {"--types", "1"});
  // The flag is in the stream Redis, the sensor's error and count in the metadata Redis: two
  // servers, so each is waited for.
  ASSERT_TRUE(eventually([&] {
    return stream.command({"SISMEMBER", keys::kIncorrectTypeSessions, session}).integer == 1 &&
           meta.command({"HGET", keys::sensor_rejects(kSensor), "pcap-invalid"}).str == "1" &&
           !meta.command({"HGET", keys::sensor_metadata(kSensor), "Error"}).str.empty();
  }));
  EXPECT_EQ(meta.command({"HGET", keys::sensor_metadata(kSensor), "Error"}).str,
            "Error: Type=1, Incorrect file format");
  auto errors = meta.command({"LRANGE", keys::sensor_errors(kSensor), "0", "-1"}).as_strings();
  ASSERT_FALSE(errors.empty());
  auto j = nlohmann::json::parse(errors.back());
  EXPECT_EQ(j["reason"], "pcap-invalid");
  EXPECT_NE(j["detail"].get<std::string>().find("exceeds snaplen"), std::string::npos) << j.dump();
  // The server then closes the connection: the session ends and is cleaned up.
  end_session(session);
  ASSERT_TRUE(wait_cleaned(1, session));
  EXPECT_TRUE(queue_items("1", q).empty());
  w.stop();
}

TEST_F(WorkerTest, MetaHeaderSplitAcrossPacketsThenJa3JlCertificatesAndJsonFiles) {
  std::string q = create_queue("ja3-jl");
  const std::string session = "55555555-0000-4000-8000-000000000001";
  std::string der = "\x30\x82\x01\x0a fake certificate bytes";
  std::string line1 =
      R"({"Timestamp":"../../../../etc/passwd","JA3":"771,1","JA3Digest":"abc","Certificates":[{"Raw":")" +
      base64(der) + R"("}]})";
  std::string line2 = R"({"Timestamp":"2024","Certificates":null})";
  add_packets(2, session, {"{\"type\":", "\n \"ja3-", "jl\", \"tags\": [\"tlp:white\"]}"});
  add_packets(254, session, chunk(line1 + "\n" + line2 + "\n", 10));
  end_session(session);
  auto w = start_worker("", {"--types", "2"});
  ASSERT_TRUE(wait_cleaned(2, session));
  EXPECT_EQ(stream.command({"EXISTS", keys::stream("254", session)}).integer, 0);
  auto certs = files_under(archive() / "datas" / "ja3-jl" / "certs");
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(certs[0].filename().string(), sha1_hex(der) + ".crt");
  EXPECT_EQ(read_all(certs[0]), der);
  auto items = queue_items("ja3-jl", q);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(read_all(items[0]), line1);
  EXPECT_EQ(read_all(items[1]), line2);
  for (const auto& i : items) EXPECT_EQ(fs::path(i).parent_path(), archive() / "datas" / "ja3-jl" / "jsons");
  // Recorded per sensor as the reference does, and the meta header saved as JSON.
  EXPECT_EQ(meta.command({"SISMEMBER", keys::sensor_all_extended_types(kSensor), "ja3-jl"}).integer, 1);
  EXPECT_FALSE(
      meta.command({"HGET", keys::sensor_extended_type_metadata(kSensor, "ja3-jl"), "first_seen"}).is_nil());
  auto metas = files_under(archive() / kSensor / "254", ".json");
  ASSERT_EQ(metas.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(read_all(metas[0]))["tags"][0], "tlp:white");
  w.stop();
}

TEST_F(WorkerTest, MalformedAndUnsupportedMetaHeadersAreRejected) {
  add_packets(2, "66666666-0000-4000-8000-000000000001", {"{\"no_type\": 1}"});
  add_packets(2, "66666666-0000-4000-8000-000000000002", {"{\"type\": \"not-accepted\"}"},
              "0a0b0c0d0e0f40008000000000000002");
  auto w = start_worker("", {"--types", "2"});
  // The flags are in the stream Redis, the sensors' errors in the metadata Redis, written after
  // the flag: two servers, so each is waited for.
  ASSERT_TRUE(eventually([&] {
    return stream.command({"SCARD", keys::kIncorrectTypeSessions}).integer == 2 &&
           meta.command({"HEXISTS", keys::sensor_metadata(kSensor), "Error"}).integer == 1 &&
           meta.command({"HEXISTS", keys::sensor_metadata("0a0b0c0d0e0f40008000000000000002"), "Error"})
                   .integer == 1;
  }));
  EXPECT_EQ(meta.command({"HGET", keys::sensor_metadata(kSensor), "Error"}).str,
            "Error: Type=2, Incorrect JSON object");
  EXPECT_EQ(meta.command({"HGET", keys::sensor_rejects(kSensor), "meta-invalid"}).str, "1");
  EXPECT_EQ(meta.command({"HGET", keys::sensor_metadata("0a0b0c0d0e0f40008000000000000002"), "Error"}).str,
            "Error: Type=2, Unsupported extended_type: not-accepted");
  end_session("66666666-0000-4000-8000-000000000001");
  end_session("66666666-0000-4000-8000-000000000002");
  ASSERT_TRUE(wait_cleaned(2, "66666666-0000-4000-8000-000000000001"));
  ASSERT_TRUE(wait_cleaned(2, "66666666-0000-4000-8000-000000000002"));
  w.stop();
}

TEST_F(WorkerTest, GroupQueuesReceiveOnlyTheirSensorsAndMaxSizeDropsAreCounted) {
  const std::string other = "0a0b0c0d0e0f40008000000000000003";
  std::string all = create_queue("3");
  std::string group = create_queue("3", {kSensor});
  std::string small = create_queue("3", {}, 2);
  add_packets(3, "77777777-0000-4000-8000-000000000001", {"a1\na2\n"});
  add_packets(3, "77777777-0000-4000-8000-000000000002", {"b1\nb2\nb3\n"}, other);
  end_session("77777777-0000-4000-8000-000000000001");
  end_session("77777777-0000-4000-8000-000000000002");
  auto w = start_worker("", {"--types", "3"});
  ASSERT_TRUE(wait_cleaned(3, "77777777-0000-4000-8000-000000000001"));
  ASSERT_TRUE(wait_cleaned(3, "77777777-0000-4000-8000-000000000002"));
  EXPECT_EQ(queue_items("3", all).size(), 5u);
  EXPECT_EQ(queue_items("3", group), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(queue_items("3", small).size(), 2u);
  auto stats = analyzer.command({"HGET", keys::analyzer_queue_stats(small), "dropped"});
  EXPECT_EQ(stats.str, "3");
  EXPECT_EQ(analyzer.command({"HGET", keys::analyzer_queue_stats(small), "pushed"}).str, "5");
  w.stop();
}

TEST_F(WorkerTest, OversizedRecordIsDroppedCountedAndTheStreamResynchronises) {
  std::string q = create_queue("3");
  std::string big(500, 'x');
  add_packets(3, "88888888-0000-4000-8000-000000000001", chunk("first\n" + big + "\nlast\n", 64));
  end_session("88888888-0000-4000-8000-000000000001");
  auto w = start_worker("max_record_bytes = 100\n", {"--types", "3"});
  ASSERT_TRUE(wait_cleaned(3, "88888888-0000-4000-8000-000000000001"));
  EXPECT_EQ(queue_items("3", q), (std::vector<std::string>{"first", "last"}));
  EXPECT_EQ(meta.command({"HGET", keys::sensor_rejects(kSensor), "record-oversized"}).str, "1");
  // The archive still holds the stream byte for byte.
  auto files = files_under(archive() / kSensor / "3", ".gz");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(gunzip_file(files[0]), "first\n" + big + "\nlast\n");
  w.stop();
}

TEST_F(WorkerTest, NdjsonInvalidLinesAreCountedAndNotQueued) {
  std::string q = create_queue("6");
  add_packets(6, "99999999-0000-4000-8000-000000000001", chunk("{\"a\":1}\nnot json\n[1,2]\n{\"b\":\n", 3));
  end_session("99999999-0000-4000-8000-000000000001");
  auto w = start_worker("", {"--types", "6"});
  ASSERT_TRUE(wait_cleaned(6, "99999999-0000-4000-8000-000000000001"));
  EXPECT_EQ(queue_items("6", q), (std::vector<std::string>{"{\"a\":1}", "[1,2]"}));
  EXPECT_EQ(meta.command({"HGET", keys::sensor_rejects(kSensor), "ndjson-invalid"}).str, "2");
  w.stop();
}

TEST_F(WorkerTest, PcapRotationBySizeGivesFilesEachReadableAlone) {
  std::string q = create_queue("1");
  add_packets(1, "aaaaaaaa-0000-4000-8000-000000000001",
              payloads_of_d4_file(vector_path("c-client-type1-dns.d4")));
  end_session("aaaaaaaa-0000-4000-8000-000000000001");
  auto w = start_worker("rotate_bytes = 4000\ncompression = \"zstd\"\n", {"--types", "1"});
  ASSERT_TRUE(wait_cleaned(1, "aaaaaaaa-0000-4000-8000-000000000001"));
  auto files = files_under(archive() / kSensor / "1", ".cap.zst");
  ASSERT_GT(files.size(), 3u);
  auto items = queue_items("1", q);
  ASSERT_EQ(items.size(), files.size());
  int packets = 0;
  for (const auto& f : files) {
    auto plain = dir / "part.pcap";
    write_text(plain, unzstd_file(f));
    int n = tcpdump_count(plain);
    EXPECT_GT(n, 0);
    packets += n;
  }
  EXPECT_EQ(packets, 120);
  w.stop();
}

std::string pcapng_block(std::uint32_t type, const std::string& body) {
  std::string b;
  std::uint32_t len = static_cast<std::uint32_t>(12 + body.size() + (4 - body.size() % 4) % 4);
  b.append(reinterpret_cast<const char*>(&type), 4);
  b.append(reinterpret_cast<const char*>(&len), 4);
  b += body;
  b.append((4 - body.size() % 4) % 4, '\0');
  b.append(reinterpret_cast<const char*>(&len), 4);
  return b;
}

TEST_F(WorkerTest, PcapngIsValidatedRotatedAtBlocksAndEachFileStartsWithItsSection) {
  std::string q = create_queue("5");
  std::string shb_body("\x4d\x3c\x2b\x1a\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff", 16);
  std::string idb_body("\x01\x00\x00\x00\x00\x00\x04\x00", 8);  // Ethernet, snaplen 262144
  std::string stream_bytes = pcapng_block(0x0A0D0D0A, shb_body) + pcapng_block(1, idb_body);
  for (int i = 0; i < 40; ++i) {
    std::string pkt(60, static_cast<char>(i));
    std::string epb(20, '\0');
    std::uint32_t caplen = 60;
    std::memcpy(epb.data() + 12, &caplen, 4);
    std::memcpy(epb.data() + 16, &caplen, 4);
    stream_bytes += pcapng_block(6, epb + pkt);
  }
  add_packets(5, "bbbbbbbb-0000-4000-8000-000000000001", chunk(stream_bytes, 33));
  end_session("bbbbbbbb-0000-4000-8000-000000000001");
  auto w = start_worker("rotate_bytes = 1000\n", {"--types", "5"});
  ASSERT_TRUE(wait_cleaned(5, "bbbbbbbb-0000-4000-8000-000000000001"));
  auto files = files_under(archive() / kSensor / "5", ".pcapng.gz");
  ASSERT_GT(files.size(), 2u);
  EXPECT_EQ(queue_items("5", q).size(), files.size());
  int packets = 0;
  for (const auto& f : files) {
    auto plain = dir / "part.pcapng";
    write_text(plain, gunzip_file(f));
    packets += tcpdump_count(plain);
  }
  EXPECT_EQ(packets, 40);
  w.stop();
}

TEST_F(WorkerTest, BrokenPcapngIsRejected) {
  add_packets(5, "bbbbbbbb-0000-4000-8000-000000000002", {std::string(64, 'z')});
  auto w = start_worker("", {"--types", "5"});
  ASSERT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::sensor_rejects(kSensor), "pcapng-invalid"}).str == "1";
  }));
  EXPECT_EQ(
      stream.command({"SISMEMBER", keys::kIncorrectTypeSessions, "bbbbbbbb-0000-4000-8000-000000000002"})
          .integer,
      1);
  w.stop();
}

TEST_F(WorkerTest, FilewatcherStoresByHashAndIgnoresATraversalExtension) {
  std::string q = create_queue("filewatcher");
  const std::string session = "cccccccc-0000-4000-8000-000000000001";
  add_packets(2, session, {R"({"type":"filewatcher","extension":"../../../tmp/evil","segregate":false})"});
  add_packets(254, session, {base64("hello file") + "\n"});
  end_session(session);
  auto w = start_worker("", {"--types", "2"});
  ASSERT_TRUE(wait_cleaned(2, session));
  auto items = queue_items("filewatcher", q);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(fs::path(items[0]).parent_path(), archive() / "datas" / "filewatcher" / "files");
  EXPECT_EQ(fs::path(items[0]).extension(), "");  // the sensor's extension was not used
  EXPECT_EQ(read_all(items[0]), "hello file");
  EXPECT_EQ(meta.command({"HGET", keys::sensor_rejects(kSensor), "filewatcher-invalid-extension"}).str, "1");
  w.stop();
}

TEST_F(WorkerTest, DefaultExtendedTypeHandlerArchivesAndQueuesLines) {
  std::string q = create_queue("d4-telemetry");
  const std::string session = "dddddddd-0000-4000-8000-000000000001";
  add_packets(2, session, {R"({"type":"d4-telemetry"})"});
  add_packets(254, session, chunk("t1\nt2\nt3", 2));
  end_session(session);
  auto w = start_worker("", {"--types", "2"});
  ASSERT_TRUE(wait_cleaned(2, session));
  EXPECT_EQ(queue_items("d4-telemetry", q), (std::vector<std::string>{"t1", "t2", "t3"}));
  auto files = files_under(archive() / kSensor / "254", ".txt.gz");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(files[0].string().find("/d4-telemetry/"), std::string::npos);
  EXPECT_EQ(gunzip_file(files[0]), "t1\nt2\nt3");
  w.stop();
}

TEST_F(WorkerTest, DnscapMessagesAreRecordsAcrossPackets) {
  std::string q = create_queue("4");
  std::string text =
      "[56] 2024-01-01 10:00:00 [1.2.3.4].53 query\n  dns QUERY,NOERROR\n  1 example.org,IN,A\n"
      "[57] 2024-01-01 10:00:01 [1.2.3.4].53 answer\n  example.org,IN,A,300,93.184.216.34\n";
  add_packets(4, "eeeeeeee-0000-4000-8000-000000000001", chunk(text, 9));
  end_session("eeeeeeee-0000-4000-8000-000000000001");
  auto w = start_worker("", {"--types", "4"});
  ASSERT_TRUE(wait_cleaned(4, "eeeeeeee-0000-4000-8000-000000000001"));
  auto items = queue_items("4", q);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0],
            "[56] 2024-01-01 10:00:00 [1.2.3.4].53 query\n  dns QUERY,NOERROR\n  1 example.org,IN,A");
  EXPECT_EQ(items[1], "[57] 2024-01-01 10:00:01 [1.2.3.4].53 answer\n  example.org,IN,A,300,93.184.216.34");
  w.stop();
}

TEST_F(WorkerTest, TwoWorkerProcessesShareSessionsWithoutDuplicates) {
  std::string q = create_queue("8");
  std::string csv = as_string(read_file(vector_path("dns.passivedns.csv")));
  std::vector<std::string> sessions;
  for (int i = 0; i < 6; ++i) {
    sessions.push_back("ffffffff-0000-4000-8000-00000000000" + std::to_string(i));
    add_packets(8, sessions.back(), chunk(csv, 100));
    end_session(sessions.back());
  }
  auto w1 = start_worker("", {"--types", "8"});
  auto w2 = start_worker("", {"--types", "8"});
  for (const auto& s : sessions) ASSERT_TRUE(wait_cleaned(8, s));
  auto items = queue_items("8", q);
  EXPECT_EQ(items.size(), 6u * 60u);
  std::multiset<std::string> all(items.begin(), items.end());
  for (const auto& l : lines_of(csv)) EXPECT_EQ(all.count(l), 6u);
  EXPECT_EQ(files_under(archive() / kSensor / "8", ".gz").size(), 6u);
  w1.stop();
  w2.stop();
}

}  // namespace
}  // namespace d4::test
