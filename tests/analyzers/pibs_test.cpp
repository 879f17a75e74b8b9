// PIBS: the reference rule on the vector capture, the SYN table, IPv6/VLAN/SLL/IP options, the SYN
// window, per-victim aggregation, the outputs (CSV, JSON, pcap, Redis) and the ISN detector.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <zlib.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/pibs/classifier.hpp"
#include "analyzers/pibs/syn_table.hpp"
#include "analyzers/pibs/victims.hpp"
#include "core/redis_cluster.hpp"
#include "helpers.hpp"
#include "redis_dump.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

using namespace d4::analyzers;
using namespace d4::analyzers::pibs;
using namespace d4::test::an;
using d4::test::read_text;
using d4::test::RedisServer;
using d4::test::TempDir;
using d4::test::vector_path;

namespace {

struct ExpectedRow {
  std::string ts, ip, flags, port;
};

std::vector<ExpectedRow> expected_rows() {
  std::vector<ExpectedRow> rows;
  for (const auto& l : lines_of(read_text(vector_path("backscatter.expected-pibs.csv")))) {
    if (l.empty() || l[0] == '#') continue;
    std::vector<std::string> f;
    std::size_t pos = 0;
    for (;;) {
      auto c = l.find(',', pos);
      f.push_back(l.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
      if (c == std::string::npos) break;
      pos = c + 1;
    }
    rows.push_back({f.at(0), f.at(1), f.at(2), f.at(3)});
  }
  return rows;
}

std::vector<Verdict> classify_all(const Bytes& capture, Classifier& c) {
  std::vector<Verdict> out;
  auto r = packet::CaptureReader::from_memory(capture);
  packet::Frame f;
  packet::Packet p;
  while (r.next(f)) out.push_back(c.classify(f, p));
  return out;
}

}  // namespace

TEST(PibsVectors, CsvOutputReproducesTheExpectedFileByteForByte) {
  TempDir dir;
  auto r = run_tool("d4-pibs", {"-r", vector_path("backscatter.pcap"), "-b"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, read_text(vector_path("backscatter.expected-pibs.csv")));
}

TEST(PibsVectors, GzipPcapngAndTheQueueGiveTheSameOutput) {
  TempDir dir;
  auto bytes = d4::test::read_file(vector_path("backscatter.pcap"));
  std::string cmd =
      "editcap -F pcapng '" + vector_path("backscatter.pcap") + "' '" + (dir / "b.pcapng").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto ng = d4::test::read_file((dir / "b.pcapng").string());
  gzFile gz = gzopen((dir / "b.pcapng.gz").c_str(), "wb");
  gzwrite(gz, ng.data(), static_cast<unsigned>(ng.size()));
  gzclose(gz);
  const std::string expected = read_text(vector_path("backscatter.expected-pibs.csv"));
  auto r = run_tool("d4-pibs", {"-r", (dir / "b.pcapng.gz").string(), "-b"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  // The D4 type-1 queue holds paths of compressed captures.
  RedisServer redis;
  redis.cli({"LPUSH", "analyzer:1:pq", (dir / "b.pcapng.gz").string()}, 2);
  r = run_tool("d4-pibs", {"-u", "pq", "--analyzer-redis", redis.endpoint(2), "--exit-when-empty", "-b"},
               dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  EXPECT_EQ(redis.cli({"LLEN", "analyzer:1:pq"}, 2), "0\n");
  // Reference-style queue options -z/-p/-y.
  redis.cli({"LPUSH", "analyzer:1:pq", vector_path("backscatter.pcap")}, 2);
  r = run_tool("d4-pibs",
               {"-u", "pq", "-z", "127.0.0.1", "-p", std::to_string(redis.port()), "-y", "2",
                "--exit-when-empty", "-b"},
               dir);
  EXPECT_EQ(r.out, expected);
}

TEST(SynTable, BehavesLikeAMapThroughGrowthAndDeletion) {
  rc::check([](const std::vector<std::pair<std::uint32_t, std::uint32_t>>& ops,
               const std::vector<std::uint32_t>& erases) {
    SynTable<std::uint32_t> t(16);
    std::unordered_map<std::uint32_t, std::uint32_t> m;
    for (const auto& [k, v] : ops) {
      t.put(k % 4096, v);
      m[k % 4096] = v;
    }
    for (auto k : erases) RC_ASSERT(t.erase(k % 4096) == (m.erase(k % 4096) == 1));
    RC_ASSERT(t.size() == m.size());
    for (std::uint32_t k = 0; k < 4096; ++k) {
      auto it = m.find(k);
      const std::uint32_t* v = t.find(k);
      RC_ASSERT((v != nullptr) == (it != m.end()));
      if (v) RC_ASSERT(*v == it->second);
    }
  });
}

TEST(SynTable, HoldsMillionsOfAddressesWithoutAFixedCapacity) {
  SynTable<std::uint32_t> t;
  const std::uint32_t n = 2000000;  // the reference aborted beyond 261,120
  for (std::uint32_t i = 0; i < n; ++i) t.put(i * 2654435761u, i);
  EXPECT_EQ(t.size(), n);
  for (std::uint32_t i = 0; i < n; i += 9973) ASSERT_NE(t.find(i * 2654435761u), nullptr);
  EXPECT_EQ(t.remove_older_than(n / 2), n / 2);
  EXPECT_EQ(t.find(0), nullptr);
  EXPECT_NE(t.find((n - 1) * 2654435761u), nullptr);
}

TEST(PibsClassifier, Ipv6VlanCookedAndIpOptions) {
  CaptureFile eth;
  // A victim over IPv6 in a VLAN answers with SYN-ACK: backscatter.
  eth.add(1000000000,
          ethernet(0x86DD, ipv6("2001:db8::80", "2001:db8:ffff::1", 6, tcp_seg(443, 5555, 1, 0x12)), {7}));
  // A client sends a pure SYN, then its SYN-ACK-looking packets are not backscatter.
  eth.add(2000000000, ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.1", 6, tcp_seg(40000, 80, 1, 0x02),
                                            {1, 1, 1, 1})));
  eth.add(3000000000, ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.1", 6, tcp_seg(40000, 80, 1, 0x10),
                                            {1, 1, 1, 1})));
  // SYN with ECE|CWR is not a pure SYN (reference rule): its sender stays unknown.
  eth.add(4000000000, ethernet(0x0800, ipv4("198.51.100.2", "203.0.113.1", 6, tcp_seg(40001, 80, 1, 0xC2))));
  eth.add(5000000000, ethernet(0x0800, ipv4("198.51.100.2", "203.0.113.1", 6, tcp_seg(40001, 80, 1, 0x14))));
  // UDP and a later fragment are not TCP decisions.
  eth.add(6000000000, ethernet(0x0800, ipv4("198.51.100.3", "203.0.113.1", 17, udp(53, 53, {}))));
  eth.add(7000000000,
          ethernet(0x0800, ipv4("198.51.100.4", "203.0.113.1", 6, tcp_seg(1, 2, 3, 0x12), {}, 0x0008)));
  Classifier c;
  auto v = classify_all(eth.pcap(), c);
  std::vector<Verdict> want{Verdict::Backscatter, Verdict::Syn,    Verdict::Normal,     Verdict::Backscatter,
                            Verdict::Backscatter, Verdict::NotTcp, Verdict::Undecodable};
  EXPECT_EQ(v, want);
  EXPECT_EQ(c.stats().undecodable.at("fragment"), 1u);

  CaptureFile cooked;
  cooked.linktype = packet::linktype::kLinuxSll;
  cooked.add(0, sll(0x0800, ipv4("192.0.2.77", "100.64.0.1", 6, tcp_seg(53, 1, 1, 0x14))));
  cooked.add(0, sll(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 6, tcp_seg(80, 1, 1, 0x02))));
  cooked.add(0, sll(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 6, tcp_seg(80, 1, 1, 0x12))));
  Classifier c2;
  EXPECT_EQ(classify_all(cooked.pcap(), c2),
            (std::vector<Verdict>{Verdict::Backscatter, Verdict::Syn, Verdict::Normal}));
}

TEST(PibsClassifier, SynSendersExpireAfterTheWindow) {
  CaptureFile c;
  auto syn = ethernet(0x0800, ipv4("198.51.100.9", "203.0.113.1", 6, tcp_seg(1, 80, 1, 0x02)));
  auto ack = ethernet(0x0800, ipv4("198.51.100.9", "203.0.113.1", 6, tcp_seg(1, 80, 1, 0x10)));
  c.add(100LL * 1000000000, syn);
  c.add(150LL * 1000000000, ack);  // within 60 s: normal
  c.add(200LL * 1000000000, ack);  // 100 s after the SYN: forgotten, reported again
  ClassifierOptions windowed;
  windowed.syn_window_seconds = 60;
  Classifier w(windowed);
  EXPECT_EQ(classify_all(c.pcap(), w),
            (std::vector<Verdict>{Verdict::Syn, Verdict::Normal, Verdict::Backscatter}));
  EXPECT_EQ(w.known_clients(), 0u);
  Classifier forever;  // reference: never forgotten
  EXPECT_EQ(classify_all(c.pcap(), forever),
            (std::vector<Verdict>{Verdict::Syn, Verdict::Normal, Verdict::Normal}));
}

TEST(PibsVictims, AggregatesMatchTheExpectedRows) {
  // Independent aggregation of the expected CSV: packets, flag mix, ports, first/last per victim.
  struct Want {
    std::uint64_t packets = 0;
    std::map<int, std::uint64_t> flags;
    std::map<int, std::uint64_t> ports;
    std::int64_t first = INT64_MAX, last = 0;
  };
  std::map<std::string, Want> want;
  for (const auto& r : expected_rows()) {
    auto& w = want[r.ip];
    ++w.packets;
    ++w.flags[std::stoi(r.flags)];
    ++w.ports[std::stoi(r.port)];
    w.first = std::min<std::int64_t>(w.first, std::stoll(r.ts));
    w.last = std::max<std::int64_t>(w.last, std::stoll(r.ts));
  }
  Classifier c;
  VictimTable victims;
  auto bytes = d4::test::read_file(vector_path("backscatter.pcap"));
  auto reader = packet::CaptureReader::from_memory(bytes);
  packet::Frame f;
  packet::Packet p;
  while (reader.next(f))
    if (c.classify(f, p) == Verdict::Backscatter) victims.add(p, f.ts_seconds());
  ASSERT_EQ(victims.victims().size(), want.size());
  for (const auto& [ip, w] : want) {
    auto it = victims.victims().find(*packet::IpAddress::parse(ip));
    ASSERT_NE(it, victims.victims().end()) << ip;
    const auto& v = it->second;
    EXPECT_EQ(v.packets, w.packets) << ip;
    EXPECT_EQ(v.first_seen, w.first);
    EXPECT_EQ(v.last_seen, w.last);
    std::uint64_t syn_ack = 0, rst_ack = 0, ack = 0, ece = 0;
    for (auto [fl, n] : w.flags) {
      if ((fl & 0x17) == 0x12) syn_ack += n;
      if ((fl & 0x17) == 0x14) rst_ack += n;
      if ((fl & 0x17) == 0x10) ack += n;
      if (fl & 0x40) ece += n;
    }
    EXPECT_EQ(v.flags[static_cast<int>(FlagClass::SynAck)], syn_ack) << ip;
    EXPECT_EQ(v.flags[static_cast<int>(FlagClass::RstAck)], rst_ack) << ip;
    EXPECT_EQ(v.flags[static_cast<int>(FlagClass::Ack)], ack) << ip;
    EXPECT_EQ(v.ece, ece) << ip;
    for (auto [port, n] : w.ports)
      EXPECT_EQ(v.ports.at(static_cast<std::uint16_t>(port)), n) << ip << ":" << port;
    std::uint64_t in_buckets = 0;
    for (auto [b, n] : v.buckets) in_buckets += n;
    EXPECT_EQ(in_buckets, w.packets);
  }
  auto top = victims.top(3, 0, 0);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_GE(top[0]->packets, top[1]->packets);
  EXPECT_GE(top[1]->packets, top[2]->packets);
  EXPECT_EQ(top[0]->packets, std::max_element(want.begin(), want.end(), [](auto& a, auto& b) {
                               return a.second.packets < b.second.packets;
                             })->second.packets);
}

TEST(PibsOutputs, JsonPcapRedisSummaryAndTopTargets) {
  RedisServer redis;
  TempDir dir;
  auto r = run_tool("d4-pibs",
                    {"-r", vector_path("backscatter.pcap"), "--json", (dir / "bs.ndjson").string(), "-w",
                     (dir / "bs.pcap").string(), "--redis-endpoint", redis.endpoint(0), "--summary",
                     (dir / "victims.ndjson").string(), "--top", "2"},
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = expected_rows();
  auto json_lines = lines_of(read_text(dir / "bs.ndjson"));
  ASSERT_EQ(json_lines.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto j = nlohmann::json::parse(json_lines[i]);
    EXPECT_EQ(j["victim"], rows[i].ip);
    EXPECT_EQ(std::to_string(j["flags"].get<int>()), rows[i].flags);
    EXPECT_EQ(std::to_string(j["sport"].get<int>()), rows[i].port);
  }
  // The pcap holds exactly the backscatter frames: PIBS on it reports every frame.
  auto again = run_tool("d4-pibs", {"-r", (dir / "bs.pcap").string(), "-b"}, dir);
  EXPECT_EQ(again.out, read_text(vector_path("backscatter.expected-pibs.csv")));
  // Redis: per-victim hashes and the ranking.
  std::map<std::string, int> packets;
  for (const auto& row : rows) ++packets[row.ip];
  for (const auto& [ip, n] : packets) {
    EXPECT_EQ(redis.cli({"HGET", "pibs:victim:" + ip, "packets"}), std::to_string(n) + "\n") << ip;
    EXPECT_EQ(redis.cli({"ZSCORE", "pibs:victims", ip}), std::to_string(n) + "\n");
  }
  EXPECT_EQ(redis.cli({"ZSCORE", "pibs:victim:203.0.113.20:ports", "53"}), "120\n");
  EXPECT_EQ(redis.cli({"HGET", "pibs:stats", "backscatter"}), std::to_string(rows.size()) + "\n");
  EXPECT_EQ(redis.cli({"HGET", "pibs:stats", "syn"}), "200\n");
  EXPECT_EQ(redis.cli({"HGET", "pibs:victim:203.0.113.10", "first_seen"}), "1700001000\n");
  // A second run over the same capture doubles the counts (aggregates accumulate across runs).
  run_tool("d4-pibs", {"-r", vector_path("backscatter.pcap"), "--redis-endpoint", redis.endpoint(0)}, dir);
  EXPECT_EQ(redis.cli({"HGET", "pibs:victim:203.0.113.10", "packets"}),
            std::to_string(2 * packets["203.0.113.10"]) + "\n");
  auto summary = lines_of(read_text(dir / "victims.ndjson"));
  EXPECT_EQ(summary.size(), packets.size());
  auto first = nlohmann::json::parse(summary.at(0));
  EXPECT_EQ(first["packets"], 120);
  auto top = lines_of(r.out);
  ASSERT_EQ(top.size(), 3u);  // header + 2 victims
  EXPECT_EQ(top[0][0], '#');
}

TEST(PibsOutputs, DefaultResultsRedisIsTheMetaEndpointWithItsPassword) {
  // A meta Redis that requires a password: without results_redis, d4-pibs writes to its db 4
  // with the same credentials.
  TempDir dir;
  int port = d4::test::free_port();
  d4::test::Process redis({"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--save",
                           "", "--appendonly", "no", "--requirepass", "s3cret", "--dir", dir.path().string()},
                          d4::test::Process::Options{{}, dir / "redis.out", dir / "redis.err", {}, {}});
  auto meta = d4::core::RedisEndpoint::parse("redis://:s3cret@127.0.0.1:" + std::to_string(port) + "/0");
  ASSERT_TRUE(meta);
  d4::core::RedisClient results(meta->with_db(4));
  ASSERT_TRUE(d4::test::eventually([&] { return results.ping(); })) << read_text(dir / "redis.out");
  d4::test::write_text(dir / "d4.toml",
                       "[redis]\nstream = \"" + std::string("redis://:s3cret@127.0.0.1:") +
                           std::to_string(port) +
                           "/0\"\nmeta = \"redis://:s3cret@127.0.0.1:" + std::to_string(port) + "/0\"\n");
  auto r = run_tool("d4-pibs", {"-c", (dir / "d4.toml").string(), "--redis", vector_path("backscatter.pcap")},
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  std::set<std::string> expected;
  for (const auto& row : expected_rows()) expected.insert(row.ip);
  EXPECT_EQ(results.command({"ZCARD", "pibs:victims"}).integer, static_cast<long long>(expected.size()));
}

TEST(PibsIsn, ReportsSequenceNumbersEqualToTheDestinationAddress) {
  TempDir dir;
  CaptureFile c;
  // 203.0.113.5 = 0xcb007105
  c.add(0, ethernet(0x0800, ipv4("192.0.2.1", "203.0.113.5", 6, tcp_seg(1234, 23, 0xcb007105u, 0x02))));
  c.add(0, ethernet(0x0800, ipv4("192.0.2.1", "203.0.113.6", 6, tcp_seg(1234, 23, 0xcb007105u, 0x02))));
  c.add(0, ethernet(0x0800, ipv4("192.0.2.1", "198.51.100.1", 6, tcp_seg(1234, 2323, 0xc6336401u, 0x02))));
  c.write(dir / "scan.pcap");
  auto r = run_tool("d4-pibs", {"--isn", "-r", (dir / "scan.pcap").string()}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "cb007105\nc6336401\n");
  r = run_tool("d4-pibs", {"--isn", "--isn-format", "json", "-r", (dir / "scan.pcap").string()}, dir);
  auto j = nlohmann::json::parse(lines_of(r.out).at(0));
  EXPECT_EQ(j["dst"], "203.0.113.5");
  EXPECT_EQ(j["dport"], 23);
}

TEST(PibsCli, BadInputsAreReportedWithoutCrashing) {
  TempDir dir;
  auto bytes = d4::test::read_file(vector_path("backscatter.pcap"));
  write_bytes(dir / "cut.pcap", Bytes(bytes.begin(), bytes.begin() + 20000));
  write_bytes(dir / "junk.pcap", text_bytes("definitely not a capture"));
  auto r = run_tool("d4-pibs",
                    {"-r", (dir / "cut.pcap").string(), "-r", (dir / "junk.pcap").string(), "-r",
                     (dir / "missing.pcap").string(), "-b"},
                    dir);
  EXPECT_EQ(r.status, 66);  // some inputs failed (EX_NOINPUT)
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a pcap"), std::string::npos) << r.err;
  // The readable part of the cut file was still analysed: a prefix of the expected output.
  auto expected = read_text(vector_path("backscatter.expected-pibs.csv"));
  ASSERT_GT(r.out.size(), 100u);
  EXPECT_EQ(expected.substr(0, r.out.size()), r.out);
  EXPECT_EQ(run_tool("d4-pibs", {}, dir).status, 2) << "no input: a usage error";
}

// d4-pibs writing to a real 3-master Redis Cluster: a victim's hash, ports, series and the two
// rankings lie in several slots there, so the victim script takes the hash alone and the rest is
// written in per-slot steps (the ranking, the last seen time raised only, the expiries, the
// distinct ports counted after the write). The capture written twice gives exactly the results it
// gives on one Redis.
TEST(PibsCluster, VictimsWrittenToAClusterAreStoredAsOnOneRedis) {
  TempDir dir;
  RedisServer single;
  d4::test::RedisCluster cluster;
  ASSERT_TRUE(cluster.wait_ok());
  const std::string seeds = "redis-cluster://" + cluster.seeds();
  for (const std::string& storage : {single.endpoint(0), seeds})
    for (int run = 0; run < 2; ++run) {  // twice: the aggregates accumulate across runs
      auto r = run_tool("d4-pibs", {"-r", vector_path("backscatter.pcap"), "--redis-endpoint", storage}, dir);
      ASSERT_EQ(r.status, 0) << storage << ": " << r.err;
    }

  d4::core::RedisClient on_cluster_client(*d4::core::RedisEndpoint::parse(seeds));
  std::map<std::string, long long> packets;
  for (const auto& row : expected_rows()) ++packets[row.ip];
  for (const auto& [ip, n] : packets) {
    EXPECT_EQ(on_cluster_client.command({"HGET", "pibs:victim:" + ip, "packets"}).str, std::to_string(2 * n))
        << ip;
    EXPECT_EQ(on_cluster_client.command({"HGET", "pibs:victim:" + ip, "ports"}).as_integer(),
              on_cluster_client.command({"ZCARD", "pibs:victim:" + ip + ":ports"}).integer)
        << ip;
  }
  const std::string victim = "203.0.113.20";
  EXPECT_EQ(on_cluster_client.command({"ZSCORE", "pibs:victim:" + victim + ":ports", "53"}).str, "240");
  const std::set<int> slots{d4::core::cluster_key_slot("pibs:victim:" + victim),
                            d4::core::cluster_key_slot("pibs:victim:" + victim + ":ports"),
                            d4::core::cluster_key_slot("pibs:victims"),
                            d4::core::cluster_key_slot("pibs:victims:last_seen")};
  EXPECT_EQ(slots.size(), 4u) << "the victim script's keys are in several slots";

  std::map<std::string, std::string> on_single, on_cluster;
  const auto every_key = [](const std::string&) { return true; };
  dump_node(node_endpoint(single.port()), on_single, every_key);
  for (std::size_t n = 0; n < cluster.size(); ++n)
    dump_node(node_endpoint(cluster.node(n).port()), on_cluster, every_key);
  ASSERT_NE(on_single.at("pibs:victim:" + victim).find("(expires)"), std::string::npos);
  EXPECT_EQ(on_cluster, on_single);
}
