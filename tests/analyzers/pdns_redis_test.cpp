// Passive DNS against a real redis-server: the reference key schema, expiry, exclusions, the COF
// query API served by the real d4-pdns executable, queue ingestion and Redis restarts.
#include <gtest/gtest.h>
#include <zlib.h>

#include <map>
#include <nlohmann/json.hpp>

#include "analyzers/pdns/passivedns_csv.hpp"
#include "analyzers/pdns/store.hpp"
#include "dns_builder.hpp"
#include "helpers.hpp"
#include "support/redis_server.hpp"

using namespace d4::analyzers::pdns;
using namespace d4::test::an;
using d4::test::eventually;
using d4::test::Process;
using d4::test::read_text;
using d4::test::RedisServer;
using d4::test::TempDir;
using d4::test::vector_path;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

d4::core::RedisEndpoint endpoint(const RedisServer& r, int db = 0) {
  return *d4::core::RedisEndpoint::parse(r.endpoint(db));
}

std::map<std::tuple<std::string, std::string, std::string>, nlohmann::json> by_key(
    const std::string& ndjson) {
  std::map<std::tuple<std::string, std::string, std::string>, nlohmann::json> m;
  for (const auto& l : lines_of(ndjson)) {
    if (l.empty()) continue;
    auto j = nlohmann::json::parse(l);
    m[{j["rrname"].get<std::string>(), j["rrtype"].dump(), j["rdata"].get<std::string>()}] = j;
  }
  return m;
}

}  // namespace

TEST(PdnsStore, ReferenceKeySchemaForTheSampleLine) {
  RedisServer redis;
  d4::core::RedisClient client(endpoint(redis));
  PdnsStore store(client, {});
  PdnsRecord r;
  ASSERT_EQ(parse_passivedns_line(
                "1548624738.280922||192.168.1.12||8.8.8.8||IN||www-google-analytics.l.google.com.||"
                "AAAA||2a00:1450:400e:801::200e||299||12",
                r, CsvOptions{{}, false}),
            CsvStatus::Ok);
  store.add(r);
  store.flush();
  const std::string q = "www-google-analytics.l.google.com", v = "2a00:1450:400e:801::200e";
  EXPECT_EQ(redis.cli({"SMEMBERS", "r:" + q + ":28"}), v + "\n");
  EXPECT_EQ(redis.cli({"SMEMBERS", "v:" + v + ":28"}), q + "\n");
  EXPECT_EQ(redis.cli({"GET", "s:" + q + ":" + v + ":28"}), "1548624738\n");
  EXPECT_EQ(redis.cli({"GET", "l:" + q + ":" + v + ":28"}), "1548624738\n");
  EXPECT_EQ(redis.cli({"GET", "o:" + q + ":" + v + ":28"}), "1\n");
  EXPECT_EQ(redis.cli({"HGET", "dist:ttl", "299"}), "1\n");
  EXPECT_EQ(redis.cli({"HGET", "dist:class", "IN"}), "1\n");
  EXPECT_EQ(redis.cli({"HGET", "dist:type", "28"}), "1\n");
  EXPECT_EQ(redis.cli({"GET", "stats:processed"}), "1\n");
  EXPECT_EQ(redis.cli({"TTL", "r:" + q + ":28"}), "-1\n");  // no expiry configured for type 28
}

TEST(PdnsStore, FirstLastMinMaxExpiryAndExclusions) {
  RedisServer redis;
  d4::core::RedisClient client(endpoint(redis));
  StoreOptions o;
  o.expiry_seconds[16] = 24000;
  o.exclude_substrings = {"spamhaus.org", "asn.cymru.com"};
  o.batch_records = 2;  // exercise intermediate writes
  PdnsStore store(client, o);
  auto rec = [](std::string name, std::uint16_t type, std::string rdata, std::int64_t t,
                std::uint64_t count = 1) {
    PdnsRecord r;
    r.rrname = std::move(name);
    r.rrtype = type;
    r.rdata = std::move(rdata);
    r.time_first = r.time_last = t;
    r.count = count;
    r.ttl = 60;
    return r;
  };
  EXPECT_TRUE(store.add(rec("a.example.org", 1, "1.1.1.1", 500)));
  EXPECT_TRUE(store.add(rec("a.example.org", 1, "1.1.1.1", 700, 3)));
  EXPECT_TRUE(store.add(rec("a.example.org", 1, "1.1.1.1", 300)));  // older: lowers first seen
  EXPECT_TRUE(store.add(rec("txt.example.org", 16, "hello", 100)));
  EXPECT_FALSE(store.add(rec("1.2.3.4.zen.spamhaus.org", 1, "127.0.0.2", 100)));
  store.reject("bad_answer", "1||c||s||IN||q||A||x||1||1");
  store.flush();
  EXPECT_EQ(redis.cli({"GET", "s:a.example.org:1.1.1.1:1"}), "300\n");
  EXPECT_EQ(redis.cli({"GET", "l:a.example.org:1.1.1.1:1"}), "700\n");
  EXPECT_EQ(redis.cli({"GET", "o:a.example.org:1.1.1.1:1"}), "5\n");
  for (std::string k : {"r:txt.example.org:16", "v:hello:16", "s:txt.example.org:hello:16",
                        "l:txt.example.org:hello:16", "o:txt.example.org:hello:16"}) {
    long ttl = std::stol(redis.cli({"TTL", k}));
    EXPECT_GT(ttl, 23000) << k;  // the l: key expires too (the reference forgot it)
    EXPECT_LE(ttl, 24000) << k;
  }
  EXPECT_EQ(redis.cli({"EXISTS", "r:1.2.3.4.zen.spamhaus.org:1"}), "0\n");
  EXPECT_EQ(redis.cli({"GET", "stats:excluded"}), "1\n");
  EXPECT_EQ(redis.cli({"HGET", "stats:rejected", "bad_answer"}), "1\n");
  EXPECT_EQ(redis.cli({"GET", "stats:processed"}), "4\n");
}

TEST(PdnsStore, RedisDownKeepsPendingRecordsForTheNextFlush) {
  RedisServer redis;
  d4::core::RedisClient client(endpoint(redis));
  PdnsStore store(client, {});
  PdnsRecord r;
  ASSERT_EQ(parse_passivedns_line("100||c||s||IN||x.org||A||1.2.3.4||60||1", r), CsvStatus::Ok);
  store.add(r);
  redis.stop();
  EXPECT_THROW(store.flush(), d4::core::RedisError);
  EXPECT_GT(store.pending(), 0u);
  redis.start();
  store.flush();
  EXPECT_EQ(redis.cli({"GET", "o:x.org:1.2.3.4:1"}), "1\n");
  EXPECT_EQ(store.pending(), 0u);
}

class PdnsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r =
        run_tool("d4-pdns", {"--backend", redis.endpoint(), "csv", vector_path("dns.passivedns.csv")}, dir);
    ASSERT_EQ(r.status, 0) << r.err;
    // Extra records to exercise filters, IPv6 normalisation and pagination.
    d4::test::write_text(dir / "extra.csv",
                         "1700000500.0||c||s||IN||WWW.Example.ORG.||A||93.184.216.99||60||1\n"
                         "1700000600.0||c||s||IN||v6.example.org.||AAAA||2001:db8:0:0:0:0:0:1||60||1\n"
                         "1700000700.0||c||s||IN||bad line\n"
                         "1700000800.0||c||s||IN||x.example.org.||BOGUS||1.2.3.4||60||1\n");
    r = run_tool("d4-pdns", {"--backend", redis.endpoint(), "csv", (dir / "extra.csv").string()}, dir);
    ASSERT_EQ(r.status, 0) << r.err;
    server = start_server("d4-pdns", {"--backend", redis.endpoint(), "serve"}, port, dir);
  }
  void TearDown() override { server.stop(); }
  HttpResult get(const std::string& target, const std::string& token = {}) {
    return http_get(static_cast<std::uint16_t>(port), target, token);
  }
  RedisServer redis;
  TempDir dir;
  Process server;
  int port = 0;
};

TEST_F(PdnsApi, QueryAnswersTheExpectedRecordsInCofNdjson) {
  // Every expected record is answered by a /query on its name, with identical fields.
  for (const auto& line : lines_of(read_text(vector_path("dns.expected-records.ndjson")))) {
    if (line.empty()) continue;
    auto want = nlohmann::json::parse(line);
    auto res =
        get("/query/" + want["rrname"].get<std::string>() + "?rrtype=" + want["rrtype"].get<std::string>());
    ASSERT_EQ(res.status, 200) << res.body;
    EXPECT_EQ(res.content_type, "application/x-ndjson");
    auto got = by_key(res.body);
    auto it = got.find({want["rrname"], want["rrtype"].dump(), want["rdata"]});
    ASSERT_NE(it, got.end()) << res.body;
    for (const char* f : {"rrname", "rrtype", "rdata", "time_first", "time_last", "count"})
      EXPECT_EQ(it->second[f], want[f]) << f << " of " << line;
  }
}

TEST_F(PdnsApi, CaseInsensitiveNamesIpLookupsAndForwardQueries) {
  auto res = get("/query/WWW.EXAMPLE.ORG.");
  ASSERT_EQ(res.status, 200);
  auto all = by_key(res.body);
  EXPECT_EQ(all.size(), 3u);  // A 93.184.216.34, A 93.184.216.99, AAAA
  EXPECT_EQ(res.headers["X-Total-Count"], "3");
  // IP lookup: the names pointing at the address, with all their records (reference behaviour).
  res = get("/query/93.184.216.34");
  auto ip = by_key(res.body);
  EXPECT_TRUE(ip.count({"www.example.org", "\"A\"", "93.184.216.34"}));
  EXPECT_TRUE(ip.count({"www.example.org", "\"AAAA\"", "2606:2800:220:1:248:1893:25c8:1946"}));
  // IPv6 is normalised both when stored and when queried.
  res = get("/query/2001:DB8::0:1");
  EXPECT_EQ(by_key(res.body).count({"v6.example.org", "\"AAAA\"", "2001:db8::1"}), 1u) << res.body;
  // fquery on a name: who points at it (the CNAME alias), with its records.
  res = get("/fquery/www.example.org");
  auto f = by_key(res.body);
  EXPECT_TRUE(f.count({"alias.example.net", "\"CNAME\"", "www.example.org"})) << res.body;
  res = get("/fquery/ns1.example.org");
  EXPECT_TRUE(by_key(res.body).count({"example.org", "\"NS\"", "ns1.example.org"}));
  res = get("/query/nothing.example.org");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "");
  EXPECT_EQ(res.headers["X-Total-Count"], "0");
}

TEST_F(PdnsApi, FiltersPaginationAndTruncationHeaders) {
  auto res = get("/query/www.example.org?rrtype=AAAA");
  EXPECT_EQ(by_key(res.body).size(), 1u);
  res = get("/query/www.example.org?rrtype=1,28");
  EXPECT_EQ(by_key(res.body).size(), 3u);
  res = get("/query/www.example.org?time_last_after=1700000100");
  auto late = by_key(res.body);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(std::get<2>(late.begin()->first), "93.184.216.99");
  res = get("/query/www.example.org?time_first_before=1700000100");
  EXPECT_EQ(by_key(res.body).size(), 2u);
  // Pages of one record: all three records, each once, and the headers say there is more.
  std::set<std::string> seen;
  for (int off = 0; off < 3; ++off) {
    res = get("/query/www.example.org?limit=1&offset=" + std::to_string(off));
    ASSERT_EQ(lines_of(res.body).size(), 1u);
    seen.insert(res.body);
    EXPECT_EQ(res.headers["X-Total-Count"], "3");
    if (off < 2) {
      EXPECT_EQ(res.headers["X-Truncated"], "true");
      EXPECT_NE(res.headers["Link"].find("offset=" + std::to_string(off + 1)), std::string::npos)
          << res.headers["Link"];
    } else {
      EXPECT_EQ(res.headers.count("X-Truncated"), 0u);
    }
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(get("/query/www.example.org?limit=0").status, 400);
  EXPECT_EQ(get("/query/www.example.org?rrtype=BOGUS").status, 400);
  EXPECT_EQ(get("/query/www.example.org?time_first_after=soon").status, 400);
}

TEST_F(PdnsApi, InfoReportsProcessedAndRejectedLines) {
  auto res = get("/info");
  ASSERT_EQ(res.status, 200);
  auto j = nlohmann::json::parse(res.body);
  EXPECT_EQ(j["stats"], 62);  // 60 vector lines + 2 valid extra lines
  EXPECT_EQ(j["rejected"]["field_count"], 1);
  EXPECT_EQ(j["rejected"]["unknown_type"], 1);
  EXPECT_EQ(redis.cli({"LLEN", "stats:rejected:samples"}), "2\n");
}

TEST(PdnsApiAuth, BearerTokensAreRequiredWhenConfigured) {
  RedisServer redis;
  TempDir dir;
  d4::test::write_text(dir / "d4.toml", "[analyzers.pdns]\napi_tokens = [\"s3cret\", \"other\"]\n");
  int port = 0;
  // start_server probes /info without a token: it answers 401, which proves the server is up.
  Process server = start_server(
      "d4-pdns", {"-c", (dir / "d4.toml").string(), "--backend", redis.endpoint(), "serve"}, port, dir);
  auto p = static_cast<std::uint16_t>(port);
  EXPECT_EQ(http_get(p, "/query/x.org").status, 401);
  EXPECT_EQ(http_get(p, "/query/x.org", "wrong").status, 401);
  EXPECT_EQ(http_get(p, "/query/x.org", "s3cret").status, 200);
  EXPECT_EQ(http_get(p, "/info", "other").status, 200);
  server.stop();
}

TEST(PdnsQueue, IngestsCsvLinesFromTheAnalyzerQueueAndCountsBadLines) {
  RedisServer queues;
  RedisServer backend;
  TempDir dir;
  const std::string queue = "6a2461ce-c29d-44fc-b4fa-947d68826639";
  const std::string list = "analyzer:8:" + queue;
  // The server LPUSHes: push the file's lines in order, plus two malformed ones.
  for (const auto& line : lines_of(read_text(vector_path("dns.passivedns.csv"))))
    queues.cli({"LPUSH", list, line}, 2);
  queues.cli({"LPUSH", list, "garbage"}, 2);
  queues.cli({"LPUSH", list, "1||c||s||IN||q.org||A||999.0.0.1||60||1"}, 2);
  auto r = run_tool(
      "d4-pdns",
      {"--backend", backend.endpoint(), "ingest", "-u", queue, "--analyzer-redis", queues.endpoint(2),
       "--exit-when-empty", "--consumer", "test", "--sensor-id", "8bd5b2b23c8a4a399a5e1a4f1f2b7c01"},
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(queues.cli({"LLEN", list}, 2), "0\n");
  EXPECT_EQ(queues.cli({"EXISTS", "d4:analyzer:processing:test"}, 2), "0\n");  // acknowledged
  EXPECT_EQ(backend.cli({"GET", "stats:processed"}), "60\n");
  EXPECT_EQ(backend.cli({"GET", "o:www.example.org:93.184.216.34:1"}), "6\n");
  EXPECT_EQ(backend.cli({"GET", "s:www.example.org:93.184.216.34:1"}), "1700000000\n");
  EXPECT_EQ(backend.cli({"GET", "l:www.example.org:93.184.216.34:1"}), "1700000001\n");
  EXPECT_EQ(backend.cli({"HGET", "stats:rejected", "field_count"}), "1\n");
  EXPECT_EQ(backend.cli({"HGET", "stats:rejected", "bad_answer"}), "1\n");
  // Attributed to the queue's sensor: records, rejects and the sensor statistics.
  const std::string sensor = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";
  EXPECT_EQ(backend.cli({"HGET", "stats:rejected:sensor:" + sensor, "field_count"}), "1\n");
  EXPECT_EQ(backend.cli({"SMEMBERS", "sid:www.example.org:93.184.216.34:1"}), sensor + "\n");
  EXPECT_EQ(backend.cli({"ZSCORE", "stats:sensors", sensor}), "60\n");
}

TEST(PdnsQueue, ElementsLeftInTheProcessingListAreHandledAgainAtStart) {
  RedisServer redis;
  TempDir dir;
  // A previous run popped these and died before acknowledging them.
  redis.cli({"RPUSH", "d4:analyzer:processing:crashed", "100||c||s||IN||left.over.org||A||10.1.1.1||60||1"},
            2);
  auto r = run_tool("d4-pdns",
                    {"--backend", redis.endpoint(0), "ingest", "-u", "q1", "--analyzer-redis",
                     redis.endpoint(2), "--exit-when-empty", "--consumer", "crashed"},
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(redis.cli({"GET", "o:left.over.org:10.1.1.1:1"}), "1\n");
  EXPECT_EQ(redis.cli({"EXISTS", "d4:analyzer:processing:crashed"}, 2), "0\n");
}

TEST(PdnsQueue, SurvivesRedisRestartsAndWaitsForData) {
  RedisServer redis(true);  // persistent, so data written before the restart survives it
  TempDir dir;
  const std::string list = "analyzer:8:q2";
  std::vector<std::string> argv{(d4::test::bin_dir() / "d4-pdns").string(),
                                "--backend",
                                redis.endpoint(0),
                                "ingest",
                                "-u",
                                "q2",
                                "--analyzer-redis",
                                redis.endpoint(2),
                                "--consumer",
                                "restart"};
  Process::Options o;
  o.stdout_file = dir / "out.txt";
  o.stderr_file = dir / "err.txt";
  Process consumer(argv, o);
  redis.cli({"LPUSH", list, "100||c||s||IN||before.org||A||10.0.0.1||60||1"}, 2);
  ASSERT_TRUE(eventually([&] { return redis.cli({"GET", "o:before.org:10.0.0.1:1"}) == "1\n"; }));
  redis.stop();
  EXPECT_TRUE(eventually([&] {
    return read_text(dir / "err.txt").find("retrying with backoff") != std::string::npos;
  })) << read_text(dir / "err.txt");
  EXPECT_TRUE(consumer.running());
  redis.start();
  redis.cli({"LPUSH", list, "200||c||s||IN||after.org||A||10.0.0.2||60||1"}, 2);
  ASSERT_TRUE(eventually(
      [&] {
        return redis.cli({"GET", "o:after.org:10.0.0.2:1"}) == "1\n";
      },
      std::chrono::milliseconds(20000)))
      << read_text(dir / "err.txt");
  EXPECT_EQ(redis.cli({"GET", "stats:processed"}), "2\n");
  EXPECT_EQ(consumer.stop(), 0);  // SIGTERM: clean exit
  EXPECT_NE(read_text(dir / "err.txt").find("retrying"), std::string::npos);
}

TEST(PdnsQueue, PcapPathsFromTheType1QueueCarryTheSensorId) {
  RedisServer redis;
  TempDir dir;
  const std::string sensor = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";
  auto folder = dir.path() / sensor / "1" / "2023" / "11" / "14";
  std::filesystem::create_directories(folder);
  auto path = folder / (sensor + "-2023-11-14-221320.cap.gz");
  auto bytes = d4::test::read_file(vector_path("dns.pcap"));
  gzFile gz = gzopen(path.c_str(), "wb");
  gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(gz);
  redis.cli({"LPUSH", "analyzer:1:q3", path.string()}, 2);
  redis.cli({"LPUSH", "analyzer:1:q3", (dir / "missing.cap.gz").string()}, 2);
  auto r = run_tool("d4-pdns",
                    {"--backend", redis.endpoint(0), "ingest", "-t", "1", "-u", "q3", "--analyzer-redis",
                     redis.endpoint(2), "--exit-when-empty"},
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(redis.cli({"GET", "o:example.org:mx1.example.org:15"}), "6\n");
  EXPECT_EQ(redis.cli({"SMEMBERS", "sid:example.org:mx1.example.org:15"}), sensor + "\n");
  EXPECT_EQ(redis.cli({"HGET", "stats:rejected", "unreadable_capture"}), "1\n");
  int port = 0;
  Process server = start_server("d4-pdns", {"--backend", redis.endpoint(0), "serve"}, port, dir);
  auto res = http_get(static_cast<std::uint16_t>(port), "/query/example.org?rrtype=MX");
  auto j = nlohmann::json::parse(trim(res.body));
  EXPECT_EQ(j["sensor_id"], sensor);
  EXPECT_EQ(j["count"], 6);
  server.stop();
}

TEST(PdnsCli, ExtractAndImportCofRoundTrip) {
  RedisServer redis;
  TempDir dir;
  auto r = run_tool("d4-pdns", {"extract", "--format", "cof", vector_path("dns.pcap")}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  d4::test::write_text(dir / "records.ndjson", r.out);
  r = run_tool("d4-pdns", {"--backend", redis.endpoint(), "import-cof", (dir / "records.ndjson").string()},
               dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(redis.cli({"GET", "o:www.example.org:93.184.216.34:1"}), "6\n");
  EXPECT_EQ(redis.cli({"GET", "l:www.example.org:93.184.216.34:1"}), "1700000001\n");
  // extract --format csv gives passivedns lines that parse back to the same observations.
  r = run_tool("d4-pdns", {"extract", vector_path("dns.pcap")}, dir);
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 60u);
  PdnsRecord rec;
  for (const auto& l : lines) EXPECT_EQ(parse_passivedns_line(l, rec), CsvStatus::Ok) << l;
}

TEST(PdnsLive, CapturesDnsResponsesOnTheLoopbackInterface) {
  RedisServer redis;
  TempDir dir;
  // A DNS "server" port of our own, declared in the configuration, so no privileged port is needed.
  int server_port = d4::test::free_port();
  d4::test::write_text(dir / "d4.toml",
                       "[analyzers.pdns]\ndns_ports = [" + std::to_string(server_port) + "]\n");
  std::vector<std::string> argv{(d4::test::bin_dir() / "d4-pdns").string(),
                                "-c",
                                (dir / "d4.toml").string(),
                                "--backend",
                                redis.endpoint(0),
                                "pcap",
                                "-i",
                                "lo",
                                "-f",
                                "udp and port " + std::to_string(server_port)};
  Process::Options o;
  o.stdout_file = dir / "out.txt";
  o.stderr_file = dir / "err.txt";
  Process capture(argv, o);
  bool started =
      eventually([&] { return read_text(dir / "err.txt").find("capturing on lo") != std::string::npos; },
                 std::chrono::milliseconds(5000));
  if (!started) {
    capture.stop();
    if (read_text(dir / "err.txt").find("cannot start capture") != std::string::npos)
      GTEST_SKIP() << "no permission to capture on lo: " << read_text(dir / "err.txt");
    FAIL() << read_text(dir / "err.txt");
  }
  int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_port = htons(static_cast<std::uint16_t>(server_port));
  inet_pton(AF_INET, "127.0.0.1", &from.sin_addr);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
  sockaddr_in to = from;
  to.sin_port = htons(static_cast<std::uint16_t>(d4::test::free_port()));
  Bytes msg = d4::test::an::simple_response("live.example.org", 1, {192, 0, 2, 99}, 60, 9);
  for (int i = 0; i < 3; ++i)
    ::sendto(s, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  ::close(s);
  EXPECT_TRUE(eventually([&] {
    return redis.cli({"GET", "o:live.example.org:192.0.2.99:1"}) == "3\n";
  })) << read_text(dir / "err.txt");
  EXPECT_EQ(capture.stop(), 0);
}

TEST(PdnsStore, BackgroundWritesGiveTheSameResultAndSurviveAnOutage) {
  RedisServer redis;
  d4::core::RedisClient client(endpoint(redis));
  StoreOptions o;
  o.batch_records = 3;
  o.async_writes = true;
  PdnsStore store(client, o);
  auto add = [&](int i) {
    PdnsRecord r;
    r.rrname = "n" + std::to_string(i % 7) + ".example.org";
    r.rrtype = 1;
    r.rdata = "10.0.0." + std::to_string(i % 7);
    r.time_first = r.time_last = 1000 + i;
    r.ttl = 60;
    return store.add(r);
  };
  for (int i = 0; i < 50; ++i) add(i);
  store.flush();
  EXPECT_EQ(redis.cli({"GET", "stats:processed"}), "50\n");
  std::uint64_t total = 0;
  for (int k = 0; k < 7; ++k) {
    std::string key = "n" + std::to_string(k) + ".example.org:10.0.0." + std::to_string(k) + ":1";
    total += std::stoull(redis.cli({"GET", "o:" + key}));
    EXPECT_EQ(redis.cli({"GET", "s:" + key}), std::to_string(1000 + k) + "\n");
  }
  EXPECT_EQ(total, 50u);
  // Redis goes away with a batch in flight: nothing is lost or counted twice once it is back.
  redis.stop();
  int added = 0;
  for (int i = 50; i < 100; ++i) {
    try {
      if (add(i)) ++added;
    } catch (const d4::core::RedisError&) {
      --i;  // the record was not added: add it again, as retry_redis does
      if (++added > 10000) break;
      if (!redis.running()) redis.start();
    }
  }
  for (int attempt = 0; attempt < 50; ++attempt) {
    try {
      store.flush();
      break;
    } catch (const d4::core::RedisError&) {
      if (!redis.running()) redis.start();
    }
  }
  EXPECT_EQ(store.pending(), 0u);
  EXPECT_EQ(redis.cli({"GET", "stats:processed"}), "50\n");  // the restart emptied Redis: the new 50 only
  total = 0;
  for (int k = 0; k < 7; ++k)
    total += std::stoull("0" + redis.cli({"GET", "o:n" + std::to_string(k) + ".example.org:10.0.0." +
                                                     std::to_string(k) + ":1"}));
  EXPECT_EQ(total, 50u);
}
