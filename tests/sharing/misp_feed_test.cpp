// The MISP feed exporter: its building blocks (UUIDv5, dates, tags, templates, timestamps), then
// the whole path on the vectors with real components: a real redis-server filled by the real
// analyzers (d4-pibs on backscatter.pcap, d4-pdns on dns.passivedns.csv and a sensor's queue,
// d4-tls-fingerprint + d4-passivessl on tls.pcap), d4-misp-feed exporting it, the feed checked
// against what the analyzers found, and validated with PyMISP (validate_with_pymisp.py) when it is
// installed.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "analyzers/helpers.hpp"
#include "sharing/misp_feed/event.hpp"
#include "sharing/misp_feed/exporter.hpp"
#include "sharing/misp_feed/sensors.hpp"
#include "sharing/misp_feed/templates.hpp"
#include "sharing/misp_feed/uuid5.hpp"
#include "support/bytes.hpp"
#include "support/http.hpp"
#include "support/redis_server.hpp"

namespace fs = std::filesystem;
using namespace d4::sharing::misp;
using d4::test::Process;
using d4::test::read_text;
using d4::test::RedisServer;
using d4::test::TempDir;
using d4::test::vector_path;
using d4::test::write_text;
using d4::test::an::run_tool;
using json = nlohmann::json;

namespace {

constexpr const char* kOrgUuid = "5f6e8a43-4d2c-4b71-9a55-0c1d2e3f4a5b";
constexpr const char* kOtherOrgUuid = "0b1c2d3e-4f50-4617-8899-aabbccddeeff";
constexpr const char* kSensorA = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";  // type 1 and 8, tlp:green
constexpr const char* kSensorB = "9c0e1f2a3b4c4d5e8f60718293a4b5c6";  // ja3-jl, tlp:amber in its meta header
constexpr const char* kSensorC = "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d";  // type 8, organisation "Other CSIRT"
constexpr const char* kCertSha1 = "51e40bc32a067617cd4f01b797e7b66a0da121d9";

std::string md5_hex(const std::string& s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_md5(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < n; ++i) out += fmt::format("{:02x}", d[i]);
  return out;
}

json load(const fs::path& p) {
  return json::parse(read_text(p));
}

// Attribute values of an object by relation.
std::multimap<std::string, std::string> values_of(const json& object) {
  std::multimap<std::string, std::string> out;
  for (const auto& a : object["Attribute"]) out.emplace(a["object_relation"], a["value"]);
  return out;
}

std::string one(const json& object, const std::string& relation) {
  auto v = values_of(object);
  EXPECT_EQ(v.count(relation), 1u) << relation << " in " << object.dump();
  auto it = v.find(relation);
  return it == v.end() ? "" : it->second;
}

std::vector<std::string> tag_names(const json& event) {
  std::vector<std::string> out;
  for (const auto& t : event["Event"]["Tag"]) out.push_back(t["name"]);
  return out;
}

// The event of a feed directory whose info starts with `subject`.
json event_named(const fs::path& dir, const std::string& subject) {
  auto manifest = load(dir / "manifest.json");
  for (const auto& [uuid, entry] : manifest.items())
    if (entry["info"].get<std::string>().rfind(subject, 0) == 0) return load(dir / (uuid + ".json"));
  ADD_FAILURE() << "no event \"" << subject << "\" in " << manifest.dump();
  return json::object();
}

// Every event file against manifest.json and hashes.csv, as MISP reads them.
void expect_consistent_feed(const fs::path& dir) {
  auto manifest = load(dir / "manifest.json");
  std::map<std::string, std::multiset<std::string>> hashes;
  std::ifstream csv(dir / "hashes.csv");
  for (std::string line; std::getline(csv, line);) {
    auto comma = line.find(',');
    ASSERT_NE(comma, std::string::npos) << line;
    hashes[line.substr(comma + 1)].insert(line.substr(0, comma));
  }
  std::set<std::string> files;
  for (const auto& f : fs::directory_iterator(dir)) {
    auto name = f.path().filename().string();
    if (name == "manifest.json" || f.path().extension() != ".json") continue;
    files.insert(f.path().stem().string());
    auto e = load(f.path())["Event"];
    ASSERT_EQ(e["uuid"], f.path().stem().string());
    const auto& m = manifest[e["uuid"].get<std::string>()];
    for (const char* k :
         {"info", "date", "analysis", "threat_level_id", "timestamp", "publish_timestamp", "Orgc", "Tag"})
      EXPECT_EQ(m[k], e[k]) << k << " of " << name;
    std::multiset<std::string> expected;
    std::set<std::string> uuids{e["uuid"].get<std::string>()};
    for (const auto& o : e["Object"]) {
      EXPECT_TRUE(uuids.insert(o["uuid"].get<std::string>()).second) << "duplicate uuid " << o["uuid"];
      for (const auto& a : o["Attribute"]) {
        expected.insert(md5_hex(a["value"]));
        EXPECT_TRUE(uuids.insert(a["uuid"].get<std::string>()).second) << "duplicate uuid " << a["uuid"];
        EXPECT_LE(std::stoll(a["timestamp"].get<std::string>()),
                  std::stoll(o["timestamp"].get<std::string>()));
      }
      EXPECT_LE(std::stoll(o["timestamp"].get<std::string>()), std::stoll(e["timestamp"].get<std::string>()));
    }
    EXPECT_EQ(hashes[e["uuid"]], expected) << name;
  }
  std::set<std::string> listed;
  for (const auto& [uuid, entry] : manifest.items()) listed.insert(uuid);
  EXPECT_EQ(listed, files);
}

// The interpreter that can import pymisp: $D4_PYMISP_PYTHON, else the build's venv
// (tests/sharing/pymisp_venv.sh), else none.
std::string pymisp_python(const TempDir& dir) {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("D4_PYMISP_PYTHON")) candidates.push_back(p);
  candidates.push_back(std::string(D4_PYMISP_VENV) + "/bin/python3");
  for (const auto& py : candidates) {
    if (py.find('/') != std::string::npos && !fs::exists(py)) continue;
    Process p({py, "-c", "import pymisp"}, {{}, dir / "probe.out", dir / "probe.err", {}, {}});
    if (p.wait(std::chrono::seconds(60)) == 0) return py;
  }
  return {};
}

struct Validation {
  int status = -1;
  json summary;
  std::string problems;
};

Validation validate_with_pymisp(const std::string& python, const fs::path& feed, const TempDir& dir) {
  static int n = 0;
  auto out = dir / ("pymisp" + std::to_string(++n) + ".out"),
       err = dir / ("pymisp" + std::to_string(n) + ".err");
  Process p({python, std::string(D4_SHARING_TEST_DIR) + "/validate_with_pymisp.py", feed.string()},
            {{}, out, err, {}, {}});
  Validation v;
  v.status = p.wait(std::chrono::seconds(120));
  v.summary = json::parse(read_text(out), nullptr, false);
  v.problems = read_text(err);
  return v;
}

}  // namespace

// ---- building blocks ----

TEST(MispFeedUuid, Version5LikeRfc4122) {
  // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
  EXPECT_EQ(uuid5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org"),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d");
  EXPECT_EQ(uuid5(kFeedNamespace, "a"), uuid5(kFeedNamespace, "a"));
  EXPECT_NE(uuid5(kFeedNamespace, "a"), uuid5(kFeedNamespace, "b"));
  EXPECT_THROW(uuid5("not a uuid", "a"), std::invalid_argument);
}

TEST(MispFeedEvent, DatesInUtcAsPyMispPrintsThem) {
  EXPECT_EQ(format_datetime(1700000000), "2023-11-14 22:13:20+00:00");
  EXPECT_EQ(format_date(1700000000), "2023-11-14");
  auto periods = periods_between(1700000000, 1700000000 + 86400, 86400);
  ASSERT_EQ(periods.size(), 2u);
  EXPECT_EQ(periods[0].start, 1699920000);  // 2023-11-14 00:00 UTC
  EXPECT_EQ(periods[1].end, 1699920000 + 2 * 86400);
  EXPECT_EQ(periods_between(0, 100 * 3600, 3600, 10).size(), 10u);  // the latest ten hours
  EXPECT_EQ(periods_between(0, 100 * 3600, 3600, 10).back().start, 100 * 3600);
}

TEST(MispFeedTags, MachineTagsOnlyAndTheStrictestTlp) {
  std::uint64_t dropped = 0;
  auto tags =
      event_tags({"tlp:green"},
                 {"rack-3", "tlp:amber", "misp-galaxy:sector=\"Finance\"", "tlp:green", "x:\n"}, 50, dropped);
  EXPECT_EQ(tags, (std::vector<std::string>{"tlp:amber", "misp-galaxy:sector=\"Finance\""}));
  EXPECT_EQ(dropped, 0u);
  tags = event_tags({"a:1", "b:2", "c:3"}, {}, 2, dropped);
  EXPECT_EQ(tags.size(), 2u);
  EXPECT_EQ(dropped, 1u);
  EXPECT_FALSE(is_machine_tag("no namespace"));
  EXPECT_FALSE(is_machine_tag(":x"));
  EXPECT_TRUE(is_machine_tag("tlp:clear"));
}

TEST(MispFeedSensors, OrganisationFromTheMetaHeader) {
  bool invalid = false;
  auto org = declared_organisation(
      R"({"type":"ja3-jl","misp:org":{"uuid":"0B1C2D3E-4F50-4617-8899-AABBCCDDEEFF","name":"X"}})", &invalid);
  ASSERT_TRUE(org);
  EXPECT_EQ(org->uuid, kOtherOrgUuid);
  EXPECT_EQ(org->name, "X");
  EXPECT_EQ(declared_organisation(R"({"misp:org":"0b1c2d3e4f5046178899aabbccddeeff"})")->name, kOtherOrgUuid);
  EXPECT_FALSE(declared_organisation(R"({"misp:org":"../../etc"})", &invalid));
  EXPECT_TRUE(invalid);
  EXPECT_FALSE(declared_organisation(R"({"type":"x"})"));
  // Beyond the budget of declared organisations a sensor's data is published nowhere.
  SensorDirectory d({"Default", kOrgUuid});
  SensorCounters counters;
  SensorRecord s1{"s1", {}, Organisation{"X", kOtherOrgUuid}, {}, {}};
  SensorRecord s2{"s2", {}, Organisation{"Y", "11111111-2222-4333-8444-555555555555"}, {}, {}};
  d.add(s1, {100, 1}, counters);
  d.add(s2, {100, 1}, counters);
  EXPECT_EQ(counters.organisations_refused, 1u);
  EXPECT_EQ(d.organisation_of("s1")->uuid, kOtherOrgUuid);
  EXPECT_EQ(d.organisation_of("s2"), nullptr);
  EXPECT_EQ(d.organisation_of("unknown")->uuid, kOrgUuid);
}

TEST(MispFeedTemplates, ObjectsFollowTheirTemplate) {
  ObjectBuilder b(ddos_template(), uuid5(kFeedNamespace, "o"));
  b.add("ip-dst", "192.0.2.1")
      .add("dst-port", "80")
      .add("dst-port", "443")
      .add("dst-port", "80")
      .add("text", "");
  EXPECT_EQ(b.size(), 3u);  // the same port once, an empty value skipped
  EXPECT_THROW(b.add("ip-dst", "192.0.2.2"), std::logic_error);
  EXPECT_THROW(b.add("no-such-relation", "x"), std::logic_error);
  auto o = b.take();
  EXPECT_EQ(o.template_uuid, "e2f124d6-f57c-4f93-99e6-8450545fa05d");
  EXPECT_EQ(o.attributes[0].type, "ip-dst");
  EXPECT_EQ(o.attributes[0].category, "Network activity");
  EXPECT_FALSE(o.attributes[0].to_ids);
  // A single-valued relation keeps its uuid when its value changes (MISP edits the attribute).
  ObjectBuilder again(ddos_template(), o.uuid);
  again.add("ip-dst", "192.0.2.9");
  EXPECT_EQ(again.take().attributes[0].uuid, o.attributes[0].uuid);
}

TEST(MispFeedEvent, InvalidUtf8FromTheNetworkIsReplacedNotFatal) {
  ObjectBuilder b(passive_dns_template(), uuid5(kFeedNamespace, "txt"));
  b.add("rrname", "x.example").add("rrtype", "TXT").add("rdata", std::string("v=\xff\xfe ok"));
  MispEvent e;
  e.uuid = uuid5(kFeedNamespace, "utf8");
  e.objects.push_back(b.take());
  EXPECT_EQ(e.objects[0].attributes[2].value, "v=\xef\xbf\xbd\xef\xbf\xbd ok");
  EXPECT_NO_THROW(to_feed_json(e).dump());
  std::uint64_t dropped = 0;
  EXPECT_EQ(event_tags({}, {std::string("tlp:\xff")}, 5, dropped),
            std::vector<std::string>{"tlp:\xef\xbf\xbd"});
}

TEST(MispFeedEvent, TimestampsMoveOnlyWithChanges) {
  MispEvent e;
  e.uuid = uuid5(kFeedNamespace, "e");
  e.info = "test";
  e.orgc = {"Org", kOrgUuid};
  ObjectBuilder b(ja3_template(), uuid5(e.uuid, "x"));
  b.add("ja3-fingerprint-md5", "0123456789abcdef0123456789abcdef").add("first-seen", format_datetime(1));
  e.objects.push_back(b.take());
  stamp(e, nullptr, 100);
  EXPECT_EQ(e.timestamp, 100);
  auto previous = read_previous_event(to_feed_json(e).dump());
  ASSERT_TRUE(previous);
  MispEvent same = e;
  stamp(same, &*previous, 200);
  EXPECT_EQ(same.timestamp, 100);
  EXPECT_EQ(same.objects[0].timestamp, 100);
  MispEvent changed = e;
  changed.objects[0].attributes[1].value = format_datetime(2);
  stamp(changed, &*previous, 300);
  EXPECT_EQ(changed.objects[0].attributes[0].timestamp, 100);  // untouched value
  EXPECT_EQ(changed.objects[0].attributes[1].timestamp, 300);
  EXPECT_EQ(changed.timestamp, 300);
  EXPECT_EQ(changed.publish_timestamp, 300);
  MispEvent retagged = e;
  retagged.tags = {"tlp:red"};
  stamp(retagged, &*previous, 400);
  EXPECT_EQ(retagged.timestamp, 400);
  EXPECT_EQ(retagged.objects[0].timestamp, 100);
}

// ---- the whole path, on the vectors ----

class MispFeedExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    dir_ = new TempDir();
    fill_stores();
    fill_sensors();
  }
  static void TearDownTestSuite() {
    delete redis_;
    delete dir_;
  }

  // Results written by the analyzers themselves: pibs (db 4), pdns (db 5), passive SSL (db 6).
  static void fill_stores() {
    auto r = run_tool(
        "d4-pibs", {"-r", vector_path("backscatter.pcap"), "--redis-endpoint", redis_->endpoint(4)}, *dir_);
    ASSERT_EQ(r.status, 0) << r.err;
    r = run_tool("d4-pdns", {"--backend", redis_->endpoint(5), "csv", vector_path("dns.passivedns.csv")},
                 *dir_);
    ASSERT_EQ(r.status, 0) << r.err;
    // d4-project.org arrives again through sensor C's queue: attributed to it.
    std::ifstream csv(vector_path("dns.passivedns.csv"));
    for (std::string line; std::getline(csv, line);)
      if (line.find("d4-project.org") != std::string::npos) redis_->cli({"LPUSH", "analyzer:8:pq", line}, 2);
    r = run_tool("d4-pdns",
                 {"--backend", redis_->endpoint(5), "ingest", "-u", "pq", "--analyzer-redis",
                  redis_->endpoint(2), "--sensor-id", kSensorC, "--exit-when-empty"},
                 *dir_);
    ASSERT_EQ(r.status, 0) << r.err;
    r = run_tool("d4-tls-fingerprint", {vector_path("tls.pcap")}, *dir_);
    ASSERT_EQ(r.status, 0) << r.err;
    write_text(*dir_ / "sessions.ndjson", r.out);
    r = run_tool("d4-passivessl",
                 {"--storage", redis_->endpoint(6), "import", (*dir_ / "sessions.ndjson").string()}, *dir_);
    ASSERT_EQ(r.status, 0) << r.err;
  }

  // Sensors as the server and its workers record them (metadata db 0).
  static void fill_sensors() {
    for (const char* s : {kSensorA, kSensorB, kSensorC})
      redis_->cli({"HSET", std::string("metadata_uuid:") + s, "first_seen", "1"});
    redis_->cli({"SADD", std::string("all_types_by_uuid:") + kSensorA, "1", "8"});
    redis_->cli({"SADD", std::string("sensor:tags:") + kSensorA, "tlp:green", "rack-3"});
    redis_->cli({"SADD", std::string("all_types_by_uuid:") + kSensorB, "2", "254"});
    redis_->cli({"SADD", std::string("all_extended_types_by_uuid:") + kSensorB, "ja3-jl"});
    redis_->cli({"HSET", std::string("sensor:metaheader:") + kSensorB, "ja3-jl",
                 R"({"type":"ja3-jl","tags":["tlp:amber","misp-galaxy:sector=\"Finance\""]})"});
    redis_->cli({"SADD", std::string("all_types_by_uuid:") + kSensorC, "8"});
    redis_->cli({"HSET", std::string("sensor:metaheader:") + kSensorC, "pdns",
                 std::string(R"({"type":"pdns","tags":["tlp:clear"],"misp:org":{"uuid":")") + kOtherOrgUuid +
                     R"(","name":"Other CSIRT"}})"});
  }

  static fs::path config(const std::string& name, const std::string& extra = {}) {
    auto feed = *dir_ / (name + "-feed");
    std::string text = "[general]\ndata_dir = \"" + dir_->path().string() + "\"\n[redis]\nmeta = \"" +
                       redis_->endpoint(0) + "\"\n[analyzers.pibs]\nresults_redis = \"" +
                       redis_->endpoint(4) + "\"\n[analyzers.pdns]\nbackend = \"" + redis_->endpoint(5) +
                       "\"\norigin = \"https://pdns.example.org\"\n[analyzers.tls]\nstorage = \"" +
                       redis_->endpoint(6) +
                       "\"\n[sharing.misp]\norg_name = \"Example CSIRT\"\norg_uuid = \"" + kOrgUuid +
                       "\"\ntags = [\"tlp:green\"]\nfeed_dir = \"" + feed.string() + "\"\n" + extra +
                       "\n[sharing.misp.passive_dns]\nwatch = [\"www.example.org\", \"93.184.216.35\", "
                       "\"d4-project.org\"]\n";
    auto path = *dir_ / (name + ".toml");
    write_text(path, text);
    return path;
  }

  static d4::test::an::RunResult export_feed(const fs::path& cfg, std::vector<std::string> args) {
    std::vector<std::string> argv{"-c", cfg.string(), "export"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_tool("d4-misp-feed", argv, *dir_);
  }

  // The "main" feed: one export of 2023-11-14 (backscatter and passive DNS), then one of
  // 2026-11-25 (passive SSL), each run once in the suite by the first test that needs it.
  static fs::path feed() { return *dir_ / "main-feed" / kOrgUuid; }
  static fs::path other_feed() { return *dir_ / "main-feed" / kOtherOrgUuid; }
  static void exported_first_day() {
    if (first_day_done_) return;
    auto r = export_feed(config("main"),
                         {"--since", "2023-11-14", "--until", "2023-11-14", "--now", "1800000000"});
    ASSERT_EQ(r.status, 0) << r.err;
    first_day_done_ = true;
  }
  static void exported_second_day() {
    ASSERT_NO_FATAL_FAILURE(exported_first_day());
    if (second_day_done_) return;
    auto r = export_feed(config("main"),
                         {"--since", "2026-11-25", "--until", "2026-11-25", "--now", "1800000000"});
    ASSERT_EQ(r.status, 0) << r.err;
    second_day_done_ = true;
  }
  static inline bool first_day_done_ = false, second_day_done_ = false;

  static RedisServer* redis_;
  static TempDir* dir_;
};
RedisServer* MispFeedExport::redis_ = nullptr;
TempDir* MispFeedExport::dir_ = nullptr;

TEST_F(MispFeedExport, BackscatterIsAnEventOfTheDayWithTheOrganisationAndItsTags) {
  ASSERT_NO_FATAL_FAILURE(exported_first_day());
  auto backscatter = event_named(feed(), "D4 backscatter");
  const auto& ev = backscatter["Event"];
  EXPECT_EQ(ev["info"], "D4 backscatter: DDoS victims seen on 2023-11-14");
  EXPECT_EQ(ev["date"], "2023-11-14");
  EXPECT_EQ(ev["analysis"], "2");  // the day is over
  EXPECT_EQ(ev["Orgc"], json({{"name", "Example CSIRT"}, {"uuid", kOrgUuid}}));
  EXPECT_EQ(tag_names(backscatter), std::vector<std::string>{"tlp:green"});  // rack-3 is no machine tag
}

TEST_F(MispFeedExport, EachBackscatterVictimIsADdosObjectMostHitFirst) {
  ASSERT_NO_FATAL_FAILURE(exported_first_day());
  auto backscatter = event_named(feed(), "D4 backscatter");
  const auto& ev = backscatter["Event"];
  // One victim object per source of backscatter in the reference output, with its packets,
  // first/last seen and answering ports.
  struct Expected {
    std::uint64_t packets = 0;
    std::int64_t first = INT64_MAX, last = 0;
    std::set<std::string> ports;
  };
  std::map<std::string, Expected> expected;
  for (const auto& line : d4::test::an::lines_of(read_text(vector_path("backscatter.expected-pibs.csv")))) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    auto& e = expected[f[1]];
    ++e.packets;
    e.first = std::min<std::int64_t>(e.first, std::stoll(f[0]));
    e.last = std::max<std::int64_t>(e.last, std::stoll(f[0]));
    e.ports.insert(f[3]);
  }
  ASSERT_EQ(ev["Object"].size(), expected.size());
  std::uint64_t previous_packets = UINT64_MAX;
  for (const auto& o : ev["Object"]) {
    EXPECT_EQ(o["name"], "ddos");
    auto ip = one(o, "ip-dst");
    ASSERT_TRUE(expected.count(ip)) << ip;
    const auto& e = expected[ip];
    auto packets = std::stoull(one(o, "total-packets-sent"));
    EXPECT_EQ(packets, e.packets) << ip;
    EXPECT_LE(packets, previous_packets) << "most hit first";
    previous_packets = packets;
    EXPECT_EQ(one(o, "first-seen"), format_datetime(e.first)) << ip;
    EXPECT_EQ(one(o, "last-seen"), format_datetime(e.last)) << ip;
    std::set<std::string> ports;
    for (const auto& [rel, v] : values_of(o))
      if (rel == "dst-port") ports.insert(v);
    EXPECT_EQ(ports, e.ports) << ip;
    EXPECT_EQ(one(o, "capture-origin"), "Indirect network capture (e.g. backscatter)");
    EXPECT_NE(one(o, "text").find("flag mix syn_ack="), std::string::npos);
  }
}

TEST_F(MispFeedExport, PassiveDnsHasTheWatchedNameAndTheNamesPointingAtTheWatchedAddress) {
  ASSERT_NO_FATAL_FAILURE(exported_first_day());
  const auto feed = MispFeedExport::feed();
  auto dns = event_named(feed, "D4 passive DNS");
  std::set<std::string> records;
  for (const auto& o : dns["Event"]["Object"]) {
    EXPECT_EQ(o["name"], "passive-dns");
    records.insert(one(o, "rrname") + " " + one(o, "rrtype") + " " + one(o, "rdata"));
    EXPECT_EQ(one(o, "count"), "6");
    EXPECT_EQ(one(o, "origin"), "https://pdns.example.org");
  }
  EXPECT_EQ(records, (std::set<std::string>{"www.example.org A 93.184.216.34",
                                            "www.example.org AAAA 2606:2800:220:1:248:1893:25c8:1946",
                                            "mail.example.org A 93.184.216.35"}));
}

TEST_F(MispFeedExport, ANameSeenByAnotherOrganisationsSensorIsInThatOrganisationsFeed) {
  ASSERT_NO_FATAL_FAILURE(exported_first_day());
  // d4-project.org was seen by sensor C: it is the other organisation's, in its own feed, with its tags.
  auto other = event_named(other_feed(), "D4 passive DNS");
  ASSERT_EQ(other["Event"]["Object"].size(), 1u);
  EXPECT_EQ(one(other["Event"]["Object"][0], "rrname"), "d4-project.org");
  EXPECT_EQ(other["Event"]["Orgc"]["name"], "Other CSIRT");
  EXPECT_EQ(tag_names(other), std::vector<std::string>{"tlp:green"});  // stricter than the sensor's tlp:clear
}

// A second export (another day) adds its event; the first ones stay in the manifest.
TEST_F(MispFeedExport, ALaterDayAddsItsEventAndKeepsTheEarlierOnes) {
  ASSERT_NO_FATAL_FAILURE(exported_second_day());
  EXPECT_EQ(load(feed() / "manifest.json").size(), 3u);
}

TEST_F(MispFeedExport, PassiveSslIsAnEventOfCertificatesAndFingerprintsWithTheSensorsTags) {
  ASSERT_NO_FATAL_FAILURE(exported_second_day());
  const auto feed = MispFeedExport::feed();
  auto ssl = event_named(feed, "D4 passive SSL");
  EXPECT_EQ(tag_names(ssl), (std::vector<std::string>{"tlp:amber", "misp-galaxy:sector=\"Finance\""}));
  std::map<std::string, int> by_template;
  bool cert_found = false;
  for (const auto& o : ssl["Event"]["Object"]) {
    ++by_template[o["name"]];
    if (o["name"] == "x509" && one(o, "x509-fingerprint-sha1") == kCertSha1) {
      cert_found = true;
      EXPECT_EQ(one(o, "subject"), "O=D4 Test,CN=test.d4.example");
      EXPECT_EQ(one(o, "self_signed"), "True");
    }
  }
  EXPECT_TRUE(cert_found);
  EXPECT_EQ(by_template["ja3"], std::stoi(redis_->cli({"ZCARD", "pssl:all:ja3"}, 6)));
  EXPECT_GE(by_template["ja3s"], 1);
}

TEST_F(MispFeedExport, EveryFeedWrittenIsConsistent) {
  ASSERT_NO_FATAL_FAILURE(exported_second_day());
  for (const auto& d : {feed(), other_feed()}) expect_consistent_feed(d);
}

// The server's own assignments (d4:sensor:org, as d4-web's organisations page sets them) decide a
// sensor's organisation; its declared misp:org counts only where the server assigned nothing.
TEST_F(MispFeedExport, ServerAssignmentsWinOverDeclaredOrganisations) {
  const std::string assigned = "7a7a7a7a-1111-4222-8333-944444444444";
  const std::string assigned_dashless = "7a7a7a7a111142228333944444444444";
  redis_->cli({"HSET", "d4:sensor:org", kSensorC, assigned_dashless});
  redis_->cli({"HSET", "d4:org:" + assigned_dashless, "name", "Assigned CSIRT"});
  auto cfg = config("assigned");
  auto r = export_feed(cfg, {"--since", "2023-11-14", "--until", "2023-11-14", "--now", "1800000000",
                             "--kind", "passive-dns"});
  redis_->cli({"HDEL", "d4:sensor:org", kSensorC});
  redis_->cli({"DEL", "d4:org:" + assigned_dashless});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto root = *dir_ / "assigned-feed";
  // Sensor C's record is in the assigned organisation's feed, under its name; the organisation
  // C's meta header declares gets nothing.
  auto dns = event_named(root / assigned, "D4 passive DNS");
  ASSERT_EQ(dns["Event"]["Object"].size(), 1u);
  EXPECT_EQ(one(dns["Event"]["Object"][0], "rrname"), "d4-project.org");
  EXPECT_EQ(dns["Event"]["Orgc"], json({{"name", "Assigned CSIRT"}, {"uuid", assigned}}));
  EXPECT_FALSE(fs::exists(root / kOtherOrgUuid / "manifest.json"));
  expect_consistent_feed(root / assigned);

  // Without the assignment the declaration applies again.
  r = export_feed(config("declared"), {"--since", "2023-11-14", "--until", "2023-11-14", "--now",
                                       "1800000000", "--kind", "passive-dns"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto other = event_named(*dir_ / "declared-feed" / kOtherOrgUuid, "D4 passive DNS");
  EXPECT_EQ(other["Event"]["Orgc"]["name"], "Other CSIRT");
}

TEST_F(MispFeedExport, StableAcrossRunsAndUpdatedWhenResultsChange) {
  auto cfg = config("stable");
  const auto feed = *dir_ / "stable-feed" / kOrgUuid;
  std::vector<std::string> day{"--since", "2023-11-14", "--until", "2023-11-14", "--kind", "backscatter"};
  auto args = day;
  args.insert(args.end(), {"--now", "1800000000"});
  ASSERT_EQ(export_feed(cfg, args).status, 0);
  auto first =
      read_text(feed / (event_named(feed, "D4 backscatter")["Event"]["uuid"].get<std::string>() + ".json"));
  auto manifest = read_text(feed / "manifest.json");
  // Later, nothing new: the same bytes, the same timestamps (MISP sees no change).
  args = day;
  args.insert(args.end(), {"--now", "1800003600"});
  ASSERT_EQ(export_feed(cfg, args).status, 0);
  auto e1 = event_named(feed, "D4 backscatter");
  EXPECT_EQ(read_text(feed / (e1["Event"]["uuid"].get<std::string>() + ".json")), first);
  EXPECT_EQ(read_text(feed / "manifest.json"), manifest);
  // The same pcap analysed again doubles every count: same uuids, new values, newer timestamps.
  auto r = run_tool("d4-pibs",
                    {"-r", vector_path("backscatter.pcap"), "--redis-endpoint", redis_->endpoint(4)}, *dir_);
  ASSERT_EQ(r.status, 0) << r.err;
  args = day;
  args.insert(args.end(), {"--now", "1800007200"});
  ASSERT_EQ(export_feed(cfg, args).status, 0);
  auto e2 = event_named(feed, "D4 backscatter");
  EXPECT_EQ(e2["Event"]["uuid"], e1["Event"]["uuid"]);
  EXPECT_EQ(e2["Event"]["timestamp"], "1800007200");
  ASSERT_EQ(e2["Event"]["Object"].size(), e1["Event"]["Object"].size());
  for (std::size_t i = 0; i < e1["Event"]["Object"].size(); ++i) {
    const auto &o1 = e1["Event"]["Object"][i], &o2 = e2["Event"]["Object"][i];
    EXPECT_EQ(o1["uuid"], o2["uuid"]);
    EXPECT_EQ(std::stoull(one(o2, "total-packets-sent")), 2 * std::stoull(one(o1, "total-packets-sent")));
    for (std::size_t a = 0; a < o1["Attribute"].size(); ++a) {
      if (o1["Attribute"][a]["object_relation"] == "ip-dst") {
        EXPECT_EQ(o2["Attribute"][a]["uuid"], o1["Attribute"][a]["uuid"]);
        EXPECT_EQ(o2["Attribute"][a]["timestamp"], "1800000000");  // unchanged value, unchanged timestamp
      }
      if (o1["Attribute"][a]["object_relation"] == "total-packets-sent") {
        EXPECT_EQ(o2["Attribute"][a]["uuid"], o1["Attribute"][a]["uuid"]);
        EXPECT_EQ(o2["Attribute"][a]["timestamp"], "1800007200");
      }
    }
  }
  expect_consistent_feed(feed);
  // Undo the doubling for the other tests of the suite.
  redis_->cli({"FLUSHDB"}, 4);
  r = run_tool("d4-pibs", {"-r", vector_path("backscatter.pcap"), "--redis-endpoint", redis_->endpoint(4)},
               *dir_);
  ASSERT_EQ(r.status, 0) << r.err;
}

TEST_F(MispFeedExport, EventsAreBoundedAndTheDropsCounted) {
  redis_->cli({"DEL", "d4:mispfeed:stats"});
  auto cfg = config("bounded", "max_attributes_per_event = 25");
  auto r = export_feed(cfg, {"--since", "2023-11-14", "--until", "2023-11-14", "--kind", "backscatter",
                             "--now", "1800000000"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("left out: max_attributes_per_event reached"), std::string::npos) << r.err;
  auto e = event_named(*dir_ / "bounded-feed" / kOrgUuid, "D4 backscatter");
  std::size_t attributes = 0;
  for (const auto& o : e["Event"]["Object"]) attributes += o["Attribute"].size();
  EXPECT_LE(attributes, 25u);
  EXPECT_GE(e["Event"]["Object"].size(), 1u);
  auto dropped = std::stoull(redis_->cli({"HGET", "d4:mispfeed:stats", "objects_dropped"}));
  EXPECT_EQ(dropped + e["Event"]["Object"].size(), 8u);  // the eight victims, each kept or counted
  EXPECT_EQ(redis_->cli({"HGET", "d4:mispfeed:stats", "runs"}), "1\n");
}

TEST_F(MispFeedExport, ConfigurationErrorsExitWith78AndUsageErrorsWith2) {
  auto path = *dir_ / "bad.toml";
  write_text(path, "[sharing.misp]\norg_name = \"X\"\norg_uuid = \"nope\"\n");
  auto r = run_tool("d4-misp-feed", {"-c", path.string(), "export"}, *dir_);
  EXPECT_EQ(r.status, 78) << r.err;
  EXPECT_NE(r.err.find("org_uuid is not a UUID"), std::string::npos) << r.err;
  write_text(path, "[sharing.misp]\norg_name = \"X\"\n");
  r = run_tool("d4-misp-feed", {"-c", path.string(), "export"}, *dir_);
  EXPECT_EQ(r.status, 78) << r.err;
  r = run_tool("d4-misp-feed", {"-c", config("kinds").string(), "export", "--kind", "nope"}, *dir_);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--kind: unknown kind \"nope\""), std::string::npos) << r.err;
}

TEST_F(MispFeedExport, DaemonExportsOnItsIntervalAndStopsOnSigterm) {
  redis_->cli({"DEL", "d4:mispfeed:stats"});
  auto cfg = config("daemon", "interval_seconds = 1");
  Process p({(d4::test::bin_dir() / "d4-misp-feed").string(), "-c", cfg.string(), "run"},
            {{}, *dir_ / "daemon.out", *dir_ / "daemon.err", {}, {}});
  EXPECT_TRUE(d4::test::eventually(
      [&] {
        auto runs = redis_->cli({"HGET", "d4:mispfeed:stats", "runs"});
        return !runs.empty() && runs != "\n" && std::stoi(runs) >= 2;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(100)))
      << read_text(*dir_ / "daemon.err");
  EXPECT_TRUE(fs::exists(*dir_ / "daemon-feed" / kOrgUuid / "manifest.json"));
  EXPECT_EQ(p.stop(std::chrono::seconds(10)), 0) << read_text(*dir_ / "daemon.err");
  EXPECT_EQ(redis_->cli({"HEXISTS", "d4:mispfeed:stats", "last_error"}), "0\n");
}

// A suite of its own (its own analyzers' results), so that a skip where PyMISP cannot be installed
// shows as this test's skip, not as the MispFeedExport suite's (one CTest test).
class MispFeedPyMisp : public MispFeedExport {};

TEST_F(MispFeedPyMisp, ValidatesWithPyMisp) {
  auto python = pymisp_python(*dir_);
  if (python.empty())
    GTEST_SKIP() << "PyMISP is not installed (tests/sharing/pymisp_venv.sh could not fetch it; set "
                    "D4_PYMISP_PYTHON to an interpreter that imports pymisp)";
  auto cfg = config("pymisp", "[sharing.misp.passive_ssl]\ninclude_raw_certificates = true");
  for (const char* day : {"2023-11-14", "2026-11-25"}) {
    auto r = export_feed(cfg, {"--since", day, "--until", day, "--now", "1800000000"});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  auto v = validate_with_pymisp(python, *dir_ / "pymisp-feed" / kOrgUuid, *dir_);
  EXPECT_EQ(v.status, 0) << v.problems;
  ASSERT_TRUE(v.summary.is_object()) << v.problems;
  EXPECT_EQ(v.summary["events"], 3);
  EXPECT_EQ(v.summary["objects"]["ddos"], 8);
  EXPECT_EQ(v.summary["objects"]["passive-dns"], 3);
  EXPECT_GE(v.summary["objects"]["x509"], 1);
  EXPECT_GE(v.summary["objects"]["ja3"], 1);
  EXPECT_GE(v.summary["objects"]["ja3s"], 1);
  v = validate_with_pymisp(python, *dir_ / "pymisp-feed" / kOtherOrgUuid, *dir_);
  EXPECT_EQ(v.status, 0) << v.problems;
  EXPECT_EQ(v.summary["events"], 1);
}

// `run` serves /metrics and /health: runs counted by outcome, health degraded once a run failed
// (Redis gone).
TEST(MispFeedRun, MetricsCountRunsByOutcomeAndHealthFollowsTheLastRun) {
  RedisServer redis;
  TempDir dir;
  write_text(dir / "d4.toml", "[redis]\nmeta = \"" + redis.endpoint(0) +
                                  "\"\n[analyzers.pibs]\nresults_redis = \"" + redis.endpoint(4) +
                                  "\"\n[analyzers.pdns]\nbackend = \"" + redis.endpoint(5) +
                                  "\"\n[analyzers.tls]\nstorage = \"" + redis.endpoint(6) +
                                  "\"\n[sharing.misp]\norg_name = \"Example CSIRT\"\norg_uuid = \"" +
                                  kOrgUuid + "\"\nfeed_dir = \"" + (dir / "feed").string() + "\"\n");
  Process::Options o;
  o.stdout_file = dir / "run.out";
  o.stderr_file = dir / "run.log";
  Process run({(d4::test::bin_dir() / "d4-misp-feed").string(), "-c", (dir / "d4.toml").string(), "run",
               "--interval", "1", "--metrics-listen", "127.0.0.1:0"},
              o);
  int m = d4::test::wait_for_listening(dir / "run.log", "metrics and health, HTTP", run);
  const std::string ok = "d4_misp_feed_runs_total{outcome=\"success\"}";
  const std::string failed = "d4_misp_feed_runs_total{outcome=\"failure\"}";
  ASSERT_TRUE(d4::test::eventually([&] { return d4::test::metric(m, ok).value_or(0) >= 2; },
                                   std::chrono::seconds(20)))
      << read_text(dir / "run.log");
  EXPECT_EQ(d4::test::metric(m, failed), 0.0);
  EXPECT_GT(d4::test::metric(m, "d4_misp_feed_last_success_timestamp_seconds").value_or(0), 0.0);
  EXPECT_EQ(d4::test::http_get(m, "/health")->status, 200);
  redis.stop();
  ASSERT_TRUE(d4::test::eventually([&] { return d4::test::metric(m, failed).value_or(0) >= 1; },
                                   std::chrono::seconds(20)))
      << read_text(dir / "run.log");
  auto h = d4::test::http_get(m, "/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  EXPECT_EQ(json::parse(h->body)["last_run_ok"], false);
  EXPECT_EQ(run.stop(), 0);
}
