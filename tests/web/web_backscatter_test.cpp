// Backscatter results in d4-web: the real d4-pibs analyses tests/data/vectors/backscatter.pcap
// (and a small IPv6 capture written here) into the test Redis, then the real d4-web serves them.
// API answers are checked against what d4-pibs itself reports (--summary) and against the
// independently computed expected CSV of the vectors.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/http_server.hpp"
#include "web_fixture.hpp"

using d4::webtest::admin_options;
using d4::webtest::Client;
using d4::webtest::SignedInAdmin;
using d4::webtest::WebInstance;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const fs::path kVectors = fs::path(D4_SOURCE_DIR) / "tests" / "data" / "vectors";

// ---- a raw-IP (linktype 101) capture of IPv6 TCP packets ----
struct V6Packet {
  std::int64_t ts;
  std::string src, dst;
  std::uint16_t sport, dport;
  std::uint8_t flags;
};

void put16(std::string& s, std::uint16_t v) {
  s += static_cast<char>(v >> 8);
  s += static_cast<char>(v & 0xff);
}
void put32le(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::string v6_bytes(const std::string& text) {
  unsigned char b[16];
  if (inet_pton(AF_INET6, text.c_str(), b) != 1) throw std::runtime_error("bad address " + text);
  return std::string(reinterpret_cast<char*>(b), 16);
}

void write_v6_pcap(const fs::path& file, const std::vector<V6Packet>& packets) {
  std::string out;
  put32le(out, 0xa1b2c3d4);
  out += std::string("\x02\x00\x04\x00", 4);  // version 2.4
  put32le(out, 0);
  put32le(out, 0);
  put32le(out, 65535);
  put32le(out, 101);  // LINKTYPE_RAW
  for (const auto& p : packets) {
    std::string frame = std::string("\x60\x00\x00\x00", 4);
    put16(frame, 20);  // payload: a bare TCP header
    frame += static_cast<char>(6);
    frame += static_cast<char>(64);
    frame += v6_bytes(p.src) + v6_bytes(p.dst);
    put16(frame, p.sport);
    put16(frame, p.dport);
    frame += std::string(8, '\x01');  // seq, ack
    frame += static_cast<char>(5 << 4);
    frame += static_cast<char>(p.flags);
    put16(frame, 65535);
    frame += std::string(4, '\0');  // checksum, urgent pointer
    put32le(out, static_cast<std::uint32_t>(p.ts));
    put32le(out, 0);
    put32le(out, static_cast<std::uint32_t>(frame.size()));
    put32le(out, static_cast<std::uint32_t>(frame.size()));
    out += frame;
  }
  std::ofstream(file, std::ios::binary) << out;
}

// Per victim: packets of the expected CSV of the vectors (ts,ip,flags,sport lines).
std::map<std::string, long long> expected_csv_packets() {
  std::ifstream f(kVectors / "backscatter.expected-pibs.csv");
  std::map<std::string, long long> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto a = line.find(','), b = line.find(',', a + 1);
    ++out[line.substr(a + 1, b - a - 1)];
  }
  return out;
}

// Runs the real d4-pibs with the instance's configuration file and returns its --summary lines.
std::map<std::string, json> run_pibs(WebInstance& web, const std::vector<fs::path>& captures,
                                     const fs::path& summary) {
  std::vector<std::string> argv = {(d4::test::bin_dir() / "d4-pibs").string(),
                                   "-c",
                                   web.config_path().string(),
                                   "--redis",
                                   "--summary",
                                   summary.string()};
  for (const auto& c : captures) argv.push_back(c.string());
  d4::test::Process::Options po;
  po.stdout_file = summary.string() + ".out";
  po.stderr_file = summary.string() + ".err";
  d4::test::Process pibs(argv, po);
  int rc = pibs.wait(std::chrono::seconds(60));
  EXPECT_EQ(rc, 0) << d4::test::read_text(po.stderr_file);
  std::map<std::string, json> out;
  std::ifstream f(summary);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) {
      auto j = json::parse(line);
      out[j["victim"].get<std::string>()] = j;
    }
  return out;
}

// One instance for the whole suite: d4-pibs runs once (IPv4 vectors from 2023, IPv6 victims
// seen two minutes and two hours ago so that the "current" windows have something to rank).
class WebBackscatter : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new d4::test::TempDir();
    web = new WebInstance(admin_options());
    site = new SignedInAdmin(*web);
    user_token = new std::string(site->make_user("user@example.test", "user"));
    reg_token = new std::string(site->make_user("register@example.test", "sensor_register"));
    now = std::time(nullptr);
    std::vector<V6Packet> v6;
    for (int i = 0; i < 20; ++i)
      v6.push_back({now - 120, "2001:db8::443", "2001:db8:ffff::" + std::to_string(i + 1), 443, 40000, 0x12});
    for (int i = 0; i < 10; ++i)
      v6.push_back({now - 100, "2001:db8::443", "2001:db8:ffff::99", 80, 40001, 0x14});
    for (int i = 0; i < 50; ++i)
      v6.push_back(
          {now - 7200 + i, "2001:db8::dead", "2001:db8:ffff::" + std::to_string(i + 1), 53, 5353, 0x52});
    fs::path v6_pcap = dir->path() / "v6.pcap";
    write_v6_pcap(v6_pcap, v6);
    summary = new std::map<std::string, json>(
        run_pibs(*web, {kVectors / "backscatter.pcap", v6_pcap}, dir->path() / "summary.ndjson"));
  }
  static void TearDownTestSuite() {
    delete summary;
    delete reg_token;
    delete user_token;
    delete site;
    delete web;
    delete dir;
  }
  Client user() {
    Client c = web->client();
    c.bearer = *user_token;
    return c;
  }
  json get_ok(const std::string& target) {
    auto r = user().get(target);
    EXPECT_EQ(r.status, 200) << target << " " << r.body;
    return r.status == 200 ? r.json() : json::object();
  }

  static inline d4::test::TempDir* dir = nullptr;
  static inline WebInstance* web = nullptr;
  static inline SignedInAdmin* site = nullptr;
  static inline std::string* user_token = nullptr;
  static inline std::string* reg_token = nullptr;
  static inline std::map<std::string, json>* summary = nullptr;
  static inline std::int64_t now = 0;
};

TEST_F(WebBackscatter, AllTimeRankingMatchesWhatPibsReports) {
  ASSERT_EQ(summary->size(), 10u) << "8 IPv4 victims of the vectors and 2 IPv6 victims";
  auto list = get_ok("/api/v1/backscatter/victims?window=0&limit=1000");
  EXPECT_EQ(list["total"], 10);
  EXPECT_EQ(list["truncated"], false);
  ASSERT_EQ(list["items"].size(), 10u);
  std::map<std::string, long long> from_api;
  long long previous = 1LL << 62;
  for (const auto& v : list["items"]) {
    from_api[v["victim"]] = v["packets"];
    EXPECT_LE(v["packets"].get<long long>(), previous) << "ranked by packets";
    previous = v["packets"];
    EXPECT_EQ(v["packets_total"], v["packets"]);
    EXPECT_EQ(v["family"], v["victim"].get<std::string>().find(':') == std::string::npos ? 4 : 6);
  }
  for (const auto& [ip, s] : *summary) EXPECT_EQ(from_api[ip], s["packets"].get<long long>()) << ip;
  // Independently of d4-pibs: the expected CSV of the vectors.
  for (const auto& [ip, n] : expected_csv_packets()) EXPECT_EQ(from_api[ip], n) << ip;
  EXPECT_EQ(from_api["2001:db8::443"], 30);
  EXPECT_EQ(from_api["2001:db8::dead"], 50);
}

TEST_F(WebBackscatter, VictimDetailMatchesThePibsSummary) {
  for (const auto& [ip, s] : *summary) {
    auto v = get_ok("/api/v1/backscatter/victims/" + d4::core::http::url_encode(ip) + "?ports=1000");
    EXPECT_EQ(v["victim"], ip);
    EXPECT_EQ(v["packets"], s["packets"]) << ip;
    EXPECT_EQ(v["first_seen"], s["first_seen"]) << ip;
    EXPECT_EQ(v["last_seen"], s["last_seen"]) << ip;
    EXPECT_EQ(v["flags"], s["flags"]) << ip;
    EXPECT_EQ(v["distinct_ports"], s["distinct_source_ports"]) << ip;
    EXPECT_EQ(v["series"], s["series"]) << ip;
    EXPECT_EQ(v["expired"], false);
    std::map<long long, long long> ports_api, ports_pibs;
    for (const auto& p : v["ports"]) ports_api[p["port"]] = p["packets"];
    for (const auto& p : s["source_ports"]) ports_pibs[p["port"]] = p["packets"];
    EXPECT_EQ(ports_api, ports_pibs) << ip;
  }
  auto web80 = get_ok("/api/v1/backscatter/victims/203.0.113.10");
  ASSERT_FALSE(web80["ports"].empty());
  EXPECT_EQ(web80["ports"][0]["port"], 80);
  EXPECT_EQ(web80["ports"][0]["service"], "http");
  EXPECT_EQ(get_ok("/api/v1/backscatter/victims/203.0.113.20")["ports"][0]["service"], "dns");
  EXPECT_EQ(get_ok("/api/v1/backscatter/victims/203.0.113.30")["ports"][0]["service"], "https");
  // IPv6 in any textual form is normalised to the form d4-pibs writes.
  auto v6 = get_ok("/api/v1/backscatter/victims/2001:DB8:0:0::443");
  EXPECT_EQ(v6["victim"], "2001:db8::443");
  EXPECT_EQ(v6["family"], 6);
  EXPECT_EQ(v6["flags"]["syn_ack"], 20);
  EXPECT_EQ(v6["flags"]["rst_ack"], 10);
  EXPECT_EQ(get_ok("/api/v1/backscatter/victims/2001:db8::dead")["flags"]["ece"], 50);
}

TEST_F(WebBackscatter, IntensitySeriesFillsGapsAndKeepsEveryPacket) {
  auto s = get_ok("/api/v1/backscatter/victims/2001:db8::443/series");
  ASSERT_EQ(s["dates"].size(), s["starts"].size());
  ASSERT_EQ(s["intensity"].size(), 1u);
  const auto& packets = s["intensity"].begin().value();
  ASSERT_EQ(packets.size(), s["starts"].size());
  long long sum = 0;
  for (const auto& p : packets) sum += p.get<long long>();
  EXPECT_EQ(sum, 30);
  EXPECT_EQ(s["bucket_seconds"], 60);
  // At most `points` steps: a long quiet gap would be summed into wider steps.
  auto narrow = get_ok("/api/v1/backscatter/victims/203.0.113.10/series?points=10");
  EXPECT_LE(narrow["starts"].size(), 10u);
  EXPECT_EQ(user().get("/api/v1/backscatter/victims/192.0.2.1/series").status, 404);
}

TEST_F(WebBackscatter, WindowsRankCurrentTargets) {
  // Default: the last hour before now, i.e. only the IPv6 victim attacked two minutes ago.
  auto hour = get_ok("/api/v1/backscatter/victims");
  EXPECT_EQ(hour["window"], 3600);
  ASSERT_EQ(hour["total"], 1) << hour.dump();
  EXPECT_EQ(hour["items"][0]["victim"], "2001:db8::443");
  EXPECT_EQ(hour["items"][0]["packets"], 30);
  auto six = get_ok("/api/v1/backscatter/victims?window=21600");
  ASSERT_EQ(six["total"], 2);
  EXPECT_EQ(six["items"][0]["victim"], "2001:db8::dead");
  // A window ending when the vectors were captured: the eight IPv4 victims, all their packets.
  auto then = get_ok("/api/v1/backscatter/victims?window=3600&until=1700001019&limit=100");
  ASSERT_EQ(then["total"], 8);
  auto csv = expected_csv_packets();
  for (const auto& v : then["items"]) EXPECT_EQ(v["packets"], csv[v["victim"]]) << v.dump();
  // A window holding no bucket start is an empty list, not an error.
  auto none = get_ok("/api/v1/backscatter/victims?window=5&until=1700001010");
  EXPECT_EQ(none["total"], 0);
  EXPECT_TRUE(none["items"].empty());
  // "latest" ends the window at the newest backscatter seen.
  auto latest = get_ok("/api/v1/backscatter/victims?window=60&until=latest");
  EXPECT_EQ(latest["until"], latest["latest"]);
  EXPECT_EQ(latest["latest"], now - 100);
}

TEST_F(WebBackscatter, FiltersByAddressNetworkOrText) {
  auto total = [&](const std::string& q) {
    return get_ok("/api/v1/backscatter/victims?window=0&q=" + d4::core::http::url_encode(q))["total"];
  };
  EXPECT_EQ(total("198.18.0.0/24"), 5);
  EXPECT_EQ(total("203.0.113.10"), 1);  // a full address is exact
  EXPECT_EQ(total("203.0.113"), 3);     // text matches a part
  EXPECT_EQ(total("2001:db8::/32"), 2);
  EXPECT_EQ(total("dead"), 1);
  EXPECT_EQ(get_ok("/api/v1/backscatter/victims?q=198.18.0.0/16")["total"], 0);  // none in the last hour
}

TEST_F(WebBackscatter, PaginationCoversEveryVictimOnce) {
  auto all = get_ok("/api/v1/backscatter/victims?window=0&limit=1000")["items"];
  for (const std::string filter : {"", "&q=203.0.113"}) {
    json pages = json::array();
    for (int offset = 0; offset < 12; offset += 3) {
      auto p =
          get_ok("/api/v1/backscatter/victims?window=0&limit=3&offset=" + std::to_string(offset) + filter);
      EXPECT_EQ(p["limit"], 3);
      EXPECT_EQ(p["offset"], offset);
      for (const auto& v : p["items"]) pages.push_back(v["victim"]);
    }
    std::vector<std::string> expected;
    for (const auto& v : all)
      if (filter.empty() || v["victim"].get<std::string>().find("203.0.113") != std::string::npos)
        expected.push_back(v["victim"]);
    EXPECT_EQ(pages, json(expected)) << filter;
  }
  auto beyond = get_ok("/api/v1/backscatter/victims?window=0&offset=500");
  EXPECT_EQ(beyond["total"], 10);
  EXPECT_TRUE(beyond["items"].empty());
}

TEST_F(WebBackscatter, BadParametersAre400) {
  for (const std::string target :
       {"/api/v1/backscatter/victims?window=-1", "/api/v1/backscatter/victims?window=abc",
        "/api/v1/backscatter/victims?window=99999999999", "/api/v1/backscatter/victims?limit=0",
        "/api/v1/backscatter/victims?limit=1001", "/api/v1/backscatter/victims?offset=-1",
        "/api/v1/backscatter/victims?until=yesterday", "/api/v1/backscatter/victims?until=0",
        "/api/v1/backscatter/victims?q=%3Cscript%3E", "/api/v1/backscatter/victims/not-an-ip",
        "/api/v1/backscatter/victims/203.0.113.300", "/api/v1/backscatter/victims/203.0.113.10?ports=0",
        "/api/v1/backscatter/victims/203.0.113.10/series?points=5", "/backscatter?window=x",
        "/backscatter/not-an-ip"}) {
    auto r = target.rfind("/api/", 0) == 0 ? user().get(target) : site->session.get(target);
    EXPECT_EQ(r.status, 400) << target << " " << r.body;
    if (target.rfind("/api/", 0) == 0) {
      EXPECT_EQ(r.json()["status"], "error") << target;
    }
  }
  EXPECT_EQ(user().get("/api/v1/backscatter/victims/192.0.2.1").status, 404);
  EXPECT_EQ(site->session.get("/backscatter/192.0.2.1").status, 404);
}

TEST_F(WebBackscatter, ReadOnlyEndpointsNeedTheUserRole) {
  for (const std::string target :
       {"/api/v1/backscatter/stats", "/api/v1/backscatter/victims",
        "/api/v1/backscatter/victims/203.0.113.10", "/api/v1/backscatter/victims/203.0.113.10/series"}) {
    EXPECT_EQ(web->client().get(target).status, 401) << target;
    Client reg = web->client();
    reg.bearer = *reg_token;
    auto forbidden = reg.get(target);
    EXPECT_EQ(forbidden.status, 403) << target;
    EXPECT_EQ(forbidden.json()["reason"], "Access Forbidden");
    EXPECT_EQ(user().get(target).status, 200) << target;
    EXPECT_EQ(site->session.call("GET", target).status, 200) << target;
    // Read-only: nothing else is routed there.
    EXPECT_EQ(site->session.call("POST", target, json::object()).status, 405) << target;
  }
  // Pages: signed-in users only.
  auto anon = web->client().get("/backscatter");
  EXPECT_EQ(anon.status, 303);
  EXPECT_EQ(anon.header("Location").rfind("/login?next=", 0), 0u);
}

TEST_F(WebBackscatter, StatsCountWhatPibsCounted) {
  auto s = get_ok("/api/v1/backscatter/stats");
  EXPECT_EQ(s["counters"]["backscatter"], 400 + 80);
  EXPECT_EQ(s["counters"]["frames"], 600 + 80);
  EXPECT_EQ(s["victims"], 10);
  EXPECT_EQ(s["victims_last_hour"], 1);
  EXPECT_EQ(s["latest"], now - 100);
  EXPECT_EQ(s["source"]["key_prefix"], "pibs:");
  EXPECT_EQ(s["source"]["redis"], "127.0.0.1:" + std::to_string(web->redis().port()) + "/4");
}

TEST_F(WebBackscatter, PagesShowRankingDetailAndChart) {
  auto list = site->session.get("/backscatter?window=0");
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("aria-current=\"page\">Backscatter"), std::string::npos);
  EXPECT_NE(list.body.find("href=\"/backscatter/203.0.113.10\""), std::string::npos);
  EXPECT_NE(list.body.find("href=\"/backscatter/2001%3Adb8%3A%3A443\""), std::string::npos);
  EXPECT_NE(list.body.find("80 (http)"), std::string::npos);
  auto current = site->session.get("/backscatter");
  EXPECT_NE(current.body.find("2001:db8::443"), std::string::npos);
  EXPECT_EQ(current.body.find("203.0.113.10"), std::string::npos) << "not attacked in the last hour";
  auto old = site->session.get("/backscatter?q=198.18.0.0/24");
  EXPECT_NE(old.body.find("until=latest"), std::string::npos)
      << "offers the window ending at the newest data";
  auto detail = site->session.get("/backscatter/2001%3Adb8%3A%3A443");
  ASSERT_EQ(detail.status, 200);
  EXPECT_NE(detail.body.find("data-chart=\"/api/v1/backscatter/victims/2001%3Adb8%3A%3A443/series\""),
            std::string::npos);
  EXPECT_NE(detail.body.find("SYN-ACK"), std::string::npos);
  EXPECT_NE(detail.body.find("https"), std::string::npos);
  auto second = site->session.get("/backscatter?window=0&page=2");
  EXPECT_EQ(second.status, 200);
}

// ---- other instances ----

TEST(WebBackscatterEmpty, NoResultsIsAnEmptyStateNotAnError) {
  WebInstance web(admin_options());
  SignedInAdmin site(web);
  Client& c = site.session;
  auto list = c.call("GET", "/api/v1/backscatter/victims?window=0");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json()["total"], 0);
  EXPECT_TRUE(list.json()["items"].empty());
  EXPECT_TRUE(list.json()["latest"].is_null());
  auto stats = c.call("GET", "/api/v1/backscatter/stats");
  ASSERT_EQ(stats.status, 200);
  EXPECT_EQ(stats.json()["victims"], 0);
  EXPECT_EQ(stats.json()["counters"]["backscatter"], 0);
  auto page = c.get("/backscatter");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("No backscatter results yet"), std::string::npos);
}

TEST(WebBackscatterOutage, UnreachableResultsRedisIs503) {
  int dead_port = d4::test::free_port();
  WebInstance web(admin_options("backscatter_redis = \"127.0.0.1:" + std::to_string(dead_port) + "/4\"\n"));
  SignedInAdmin site(web);
  Client& c = site.session;
  for (const std::string target : {"/api/v1/backscatter/stats", "/api/v1/backscatter/victims",
                                   "/api/v1/backscatter/victims/203.0.113.10"}) {
    auto r = c.call("GET", target);
    EXPECT_EQ(r.status, 503) << target << " " << r.body;
    EXPECT_EQ(r.json()["status"], "error");
  }
  EXPECT_EQ(c.get("/backscatter").status, 503);
  // The rest of the interface is unaffected.
  EXPECT_EQ(c.call("GET", "/api/v1/server").status, 200);
}

TEST(WebBackscatterPrefix, FollowsThePibsSectionOfTheSameConfiguration) {
  // d4-pibs and d4-web read one file: [analyzers.pibs] key_prefix moves both ends.
  WebInstance web(admin_options("\n[analyzers.pibs]\nkey_prefix = \"bs:\"\n"));
  SignedInAdmin site(web);
  d4::test::TempDir dir;
  auto summary = run_pibs(web, {kVectors / "backscatter.pcap"}, dir.path() / "summary.ndjson");
  ASSERT_EQ(summary.size(), 8u);
  d4::core::RedisEndpoint e;
  e.port = web.redis().port();
  e.db = 4;
  d4::core::RedisClient results(e);
  EXPECT_EQ(results.command({"ZCARD", "bs:victims"}).integer, 8);
  EXPECT_EQ(results.command({"EXISTS", "pibs:victims"}).integer, 0);
  auto list = site.session.call("GET", "/api/v1/backscatter/victims?window=0&limit=1");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["total"], 8);
  EXPECT_EQ(list.json()["items"][0]["packets"], 120);
  EXPECT_EQ(site.session.call("GET", "/api/v1/backscatter/stats").json()["source"]["key_prefix"], "bs:");

  // victim_ttl_seconds expired the details of a victim: the rankings still hold its totals.
  results.command(
      {"DEL", "bs:victim:203.0.113.10", "bs:victim:203.0.113.10:ports", "bs:victim:203.0.113.10:series"});
  auto detail = site.session.call("GET", "/api/v1/backscatter/victims/203.0.113.10");
  ASSERT_EQ(detail.status, 200) << detail.body;
  EXPECT_EQ(detail.json()["expired"], true);
  EXPECT_EQ(detail.json()["packets"], 120);
  EXPECT_EQ(detail.json()["last_seen"], summary["203.0.113.10"]["last_seen"]);
  EXPECT_TRUE(detail.json()["first_seen"].is_null());
  auto row = site.session.call("GET", "/api/v1/backscatter/victims?window=0&q=203.0.113.10").json();
  ASSERT_EQ(row["items"].size(), 1u);
  EXPECT_EQ(row["items"][0]["expired"], true);
  EXPECT_EQ(row["items"][0]["packets_total"], 120);
  auto page = site.session.get("/backscatter/203.0.113.10");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("expired"), std::string::npos);
}

}  // namespace

TEST(WebBackscatterSynCap, PageShowsTheSynSendersPibsEvictedAtItsMemoryCap) {
  // [analyzers.pibs] syn_table_max_mb = 1 and a flood of spoofed IPv6 SYNs: d4-pibs evicts
  // senders, and the Backscatter page shows how many it reported.
  WebInstance web(admin_options("\n[analyzers.pibs]\nsyn_table_max_mb = 1\n"));
  SignedInAdmin site(web);
  d4::test::TempDir dir;
  const long long t = std::time(nullptr) - 60;
  std::vector<V6Packet> packets;
  for (int i = 0; i < 20000; ++i) {
    char src[64];
    std::snprintf(src, sizeof src, "2001:db8:%x:%x::1", i >> 16, i & 0xffff);
    packets.push_back({t, src, "2001:db8::80", 40000, 80, 0x02});
  }
  packets.push_back({t + 1, "2001:db8::443", "2001:db8::1", 443, 40000, 0x12});  // one victim
  write_v6_pcap(dir.path() / "flood.pcap", packets);
  d4::test::Process::Options po;
  po.stdout_file = dir.path() / "pibs.out";
  po.stderr_file = dir.path() / "pibs.err";
  d4::test::Process pibs({(d4::test::bin_dir() / "d4-pibs").string(), "-c", web.config_path().string(),
                          "--redis", "-s", (dir.path() / "flood.pcap").string()},
                         po);
  ASSERT_EQ(pibs.wait(std::chrono::seconds(60)), 0) << d4::test::read_text(po.stderr_file);
  const std::string report = d4::test::read_text(po.stdout_file);
  const std::string label = "#Addresses evicted (memory cap): ";
  auto at = report.find(label);
  ASSERT_NE(at, std::string::npos) << report;
  const long long evicted = std::stoll(report.substr(at + label.size()));
  EXPECT_GT(evicted, 0);

  auto stats = site.session.call("GET", "/api/v1/backscatter/stats");
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_EQ(stats.json()["counters"]["syn_evicted"], evicted);
  EXPECT_EQ(stats.json()["counters"]["syn_table_max_bytes"], 1 << 20);
  EXPECT_LE(stats.json()["counters"]["syn_table_bytes"].get<long long>(), 1 << 20);
  auto page = site.session.get("/backscatter");
  ASSERT_EQ(page.status, 200);
  auto card = page.body.find("SYN senders evicted (memory cap)");
  ASSERT_NE(card, std::string::npos);
  // The count is the value of that card, just before its label.
  const std::string before = page.body.substr(card > 200 ? card - 200 : 0, card > 200 ? 200 : card);
  EXPECT_NE(before.find(">" + std::to_string(evicted) + "<"), std::string::npos) << before;
}
