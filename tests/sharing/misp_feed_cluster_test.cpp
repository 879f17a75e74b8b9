// d4-misp-feed on a real 3-master Redis Cluster (cluster key layout): the sensors come from the
// sensor index (no keyspace SCAN, which would reach one master), every other read names one key.
// The same deployment is built twice, on the cluster and on one Redis in the reference layout, by
// the real writers: d4-server registering and indexing the sensors it receives, SensorPolicy (as
// d4-web) tagging them, the analyzers filling their result stores; the feeds written are compared
// file by file. The reference layout's bounded scan for sensors the reference server registered
// (which it does not index) is tested against one Redis.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzers/helpers.hpp"
#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "core/sensors.hpp"
#include "server/harness.hpp"
#include "sharing/misp_feed/sensors.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

namespace d4::test::misp_feed_cluster {
namespace {
namespace fs = std::filesystem;
namespace keys = core::keys;
using json = nlohmann::json;
using an::run_tool;

constexpr const char* kOrgUuid = "5f6e8a43-4d2c-4b71-9a55-0c1d2e3f4a5b";
constexpr const char* kOtherOrgUuid = "0b1c2d3e-4f50-4617-8899-aabbccddeeff";
constexpr const char* kAssignedOrg = "7a7a7a7a111142228333944444444444";
constexpr const char* kAssignedOrgDashed = "7a7a7a7a-1111-4222-8333-944444444444";
// Types 1 and 8, tagged tlp:green by an operator.
constexpr const char* kSensorA = "8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01";
// Type 8; a ja3-jl meta header with tlp:amber and the organisation "Other CSIRT".
constexpr const char* kSensorB = "9c0e1f2a-3b4c-4d5e-8f60-718293a4b5c6";
// Type 8; assigned to "Assigned CSIRT" by the server (d4:sensor:org).
constexpr const char* kSensorC = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
constexpr const char* kFinance = "misp-galaxy:sector=\"Finance\"";

std::string dashless(const char* uuid) {
  return protocol::Uuid::parse(uuid)->dashless();
}

json load(const fs::path& p) {
  return json::parse(read_text(p));
}

// The event of a feed directory whose info starts with `subject` (null when there is none).
json event_named(const fs::path& dir, const std::string& subject) {
  if (!fs::exists(dir / "manifest.json")) return nullptr;
  auto manifest = load(dir / "manifest.json");
  for (const auto& [uuid, entry] : manifest.items())
    if (entry["info"].get<std::string>().rfind(subject, 0) == 0) return load(dir / (uuid + ".json"));
  return nullptr;
}

std::set<std::string> tag_names(const json& event) {
  std::set<std::string> out;
  if (event.is_null()) return out;
  for (const auto& t : event["Event"]["Tag"]) out.insert(t["name"]);
  return out;
}

std::set<std::string> rrnames(const json& event) {
  std::set<std::string> out;
  if (event.is_null()) return out;
  for (const auto& o : event["Event"]["Object"])
    for (const auto& a : o["Attribute"])
      if (a["object_relation"] == "rrname") out.insert(a["value"]);
  return out;
}

// Every file under `root` (relative path -> content).
std::map<std::string, std::string> files_under(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (!fs::exists(root)) return out;
  for (const auto& f : fs::recursive_directory_iterator(root))
    if (f.is_regular_file()) out[fs::relative(f.path(), root).string()] = read_text(f.path());
  return out;
}

std::vector<std::string> csv_lines_with(const std::string& needle) {
  std::vector<std::string> out;
  std::ifstream csv(vector_path("dns.passivedns.csv"));
  for (std::string line; std::getline(csv, line);)
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

// One deployment: d4-server on its stream and meta Redis, the analyzers' stores, d4-misp-feed.
struct Deployment {
  std::string name;
  std::string redis_section;  // [redis] and the result stores, for d4-pdns and d4-misp-feed
  std::unique_ptr<ServerProcess> server;
  keys::KeyLayout layout;
  std::string pibs, pdns, tls;  // result store endpoints as the analyzers' options take them

  fs::path config(const TempDir& dir, const std::string& feed, const std::string& extra = {}) const {
    auto path = dir / (name + "-" + feed + ".toml");
    write_text(path, "[general]\ndata_dir = \"" + dir.path().string() + "\"\n" + redis_section +
                         "\n[analyzers.pdns]\nbackend = \"" + pdns +
                         "\"\norigin = \"https://pdns.example.org\"\n[analyzers.tls]\nstorage = \"" + tls +
                         "\"\n[sharing.misp]\norg_name = \"Example CSIRT\"\norg_uuid = \"" + kOrgUuid +
                         "\"\ntags = [\"tlp:green\"]\nfeed_dir = \"" + (dir / feed).string() + "\"\n" +
                         extra +
                         "\n[sharing.misp.passive_dns]\nwatch = [\"www.example.org\", \"93.184.216.35\", "
                         "\"d4-project.org\"]\n");
    return path;
  }
};

class MispFeedOnACluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    cluster_ = new RedisCluster();
    single_ = new RedisServer();
    ASSERT_TRUE(cluster_->wait_ok());
    auto sessions = run_tool("d4-tls-fingerprint", {vector_path("tls.pcap")}, *dir_);
    ASSERT_EQ(sessions.status, 0) << sessions.err;
    write_text(*dir_ / "sessions.ndjson", sessions.out);

    const std::string seeds = "redis-cluster://" + cluster_->seeds();
    on_cluster_ = new Deployment{
        "cluster",
        "[redis]\nkey_layout = \"cluster\"\nstream = \"" + seeds + "\"\nmeta = \"" + seeds + "\"\n",
        nullptr,
        keys::KeyLayout::Cluster,
        seeds,  // [analyzers.pibs] results_redis: the meta endpoint by default
        seeds,
        seeds};
    ServerOptions cluster_server;
    cluster_server.stream_endpoint = cluster_server.meta_endpoint = seeds;
    cluster_server.key_layout = "cluster";
    on_cluster_->server = std::make_unique<ServerProcess>(cluster_->node(0), cluster_server);
    // One Redis, reference layout: d4-server's stream db 0, meta db 1 (analyzer queues db 2), the
    // result stores dbs 4-6.
    on_one_ = new Deployment{"one",
                             "[redis]\nstream = \"" + single_->endpoint(0) + "\"\nmeta = \"" +
                                 single_->endpoint(1) + "\"\n[analyzers.pibs]\nresults_redis = \"" +
                                 single_->endpoint(4) + "\"\n",
                             std::make_unique<ServerProcess>(*single_),
                             keys::KeyLayout::Reference,
                             single_->endpoint(4),
                             single_->endpoint(5),
                             single_->endpoint(6)};
    for (auto* d : {on_cluster_, on_one_}) {
      ASSERT_NO_FATAL_FAILURE(deploy(*d));
      // Stopped once it has recorded the sensors: nothing else writes the meta Redis meanwhile.
      EXPECT_EQ(d->server->stop(), 0) << d->server->log();
      ASSERT_NO_FATAL_FAILURE(export_main_feed(*d));
    }
  }
  static void TearDownTestSuite() {
    delete on_cluster_;
    delete on_one_;
    delete single_;
    delete cluster_;
    delete dir_;
  }

  // Sensors as d4-server, SensorPolicy and the type-2 worker record them; results as the analyzers
  // store them.
  static void deploy(Deployment& d) {
    auto meta = d.server->meta();
    auto stream = d.server->stream();
    const std::map<std::string, std::vector<std::uint8_t>> types = {
        {kSensorA, {1, 8}}, {kSensorB, {8}}, {kSensorC, {8}}};
    for (const auto& [sensor, sent] : types)
      for (auto type : sent) {  // a session carries one type
        SensorConnection c(d.server->tls_port(), true);
        ASSERT_TRUE(c.send(make_packet(*protocol::Uuid::parse(sensor), type, kTestHmacKey, "payload")));
        c.close();
      }
    ASSERT_TRUE(eventually(
        [&] {
          for (const auto& [sensor, sent] : types)
            if (meta.command({"SISMEMBER", std::string(keys::kSensorIndex), dashless(sensor.c_str())})
                        .integer != 1 ||
                meta.command({"SCARD", keys::sensor_all_types(dashless(sensor.c_str()))}).integer !=
                    static_cast<long long>(sent.size()))
              return false;
          return true;
        },
        std::chrono::seconds(30)))
        << d.name << ": " << d.server->log();
    core::SensorPolicy policy(meta, stream, d.layout);
    for (const char* tag : {"tlp:green", "rack-3"}) {
      auto added = policy.add_tag(dashless(kSensorA), tag);
      ASSERT_TRUE(added) << added.message;
    }
    // The type-2 worker's writes at a completed meta header (src/workers/runner.cpp).
    const std::string b = dashless(kSensorB);
    meta.command_ok({"SADD", keys::sensor_all_extended_types(b), "ja3-jl"});
    meta.command_ok({"HSET", keys::sensor_meta_header(b), "ja3-jl",
                     std::string(R"({"type":"ja3-jl","tags":["tlp:amber"],"misp:org":{"uuid":")") +
                         kOtherOrgUuid + R"(","name":"Other CSIRT"}})"});
    // d4-web's assignment of sensor C to an organisation.
    meta.command_ok({"HSET", std::string(keys::kSensorOrganisation), dashless(kSensorC), kAssignedOrg});
    meta.command_ok({"HSET", keys::organisation(kAssignedOrg), "name", "Assigned CSIRT", "created", "1"});

    auto r = run_tool("d4-pibs", {"-r", vector_path("backscatter.pcap"), "--redis-endpoint", d.pibs}, *dir_);
    ASSERT_EQ(r.status, 0) << d.name << ": " << r.err;
    r = run_tool("d4-pdns", {"--backend", d.pdns, "csv", vector_path("dns.passivedns.csv")}, *dir_);
    ASSERT_EQ(r.status, 0) << d.name << ": " << r.err;
    // Records seen again through sensors' queues (as d4-worker pushes them: LPUSH): d4-project.org
    // by sensor B, www.example.org by sensor C.
    const auto cfg = d.config(*dir_, "pdns");
    core::RedisClient analyzer(
        *core::RedisEndpoint::parse(d.layout == keys::KeyLayout::Cluster ? d.pdns : single_->endpoint(2)));
    for (const auto& [sensor, name] :
         {std::pair{kSensorB, "d4-project.org"}, {kSensorC, "www.example.org"}}) {
      const std::string queue = "q" + dashless(sensor).substr(0, 8);
      for (const auto& line : csv_lines_with(name))
        analyzer.command_ok({"LPUSH", keys::analyzer_list("8", queue), line});
      r = run_tool("d4-pdns",
                   {"-c", cfg.string(), "ingest", "-u", queue, "--exit-when-empty", "--consumer", "t",
                    "--sensor-id", dashless(sensor)},
                   *dir_);
      ASSERT_EQ(r.status, 0) << d.name << ": " << r.err;
    }
    r = run_tool("d4-passivessl", {"--storage", d.tls, "import", (*dir_ / "sessions.ndjson").string()},
                 *dir_);
    ASSERT_EQ(r.status, 0) << d.name << ": " << r.err;
  }

  // Backscatter and passive DNS of 2023-11-14, passive SSL of 2026-11-25 (the vectors' days).
  static void export_main_feed(const Deployment& d) {
    for (const char* day : {"2023-11-14", "2026-11-25"}) {
      auto r = run_tool("d4-misp-feed",
                        {"-c", d.config(*dir_, d.name + "-feed").string(), "export", "--since", day,
                         "--until", day, "--now", "1800000000"},
                        *dir_);
      ASSERT_EQ(r.status, 0) << d.name << ": " << r.err;
    }
  }
  static fs::path feed(const Deployment& d) { return *dir_ / (d.name + "-feed"); }

  inline static TempDir* dir_ = nullptr;
  inline static RedisCluster* cluster_ = nullptr;
  inline static RedisServer* single_ = nullptr;
  inline static Deployment* on_cluster_ = nullptr;
  inline static Deployment* on_one_ = nullptr;
};

}  // namespace

// The same sensors and results give the same feed, byte for byte: events, objects, manifests and
// hashes of the three organisations (the default one, the one sensor B declares, the one the
// server assigned sensor C), with each sensor's tags in the events its data feeds.
TEST_F(MispFeedOnACluster, TheFeedOfSensorsOnAClusterIsTheFeedOfOneRedis) {
  const auto on_cluster = files_under(feed(*on_cluster_));
  const auto on_one = files_under(feed(*on_one_));
  std::set<std::string> names_on_cluster, names_on_one;
  for (const auto& [name, text] : on_cluster) names_on_cluster.insert(name);
  for (const auto& [name, text] : on_one) names_on_one.insert(name);
  EXPECT_EQ(names_on_cluster, names_on_one);
  for (const auto& [name, text] : on_one) {
    auto it = on_cluster.find(name);
    if (it != on_cluster.end()) {
      EXPECT_TRUE(it->second == text) << name << " differs";
    }
  }
  for (const auto& root : {feed(*on_cluster_), feed(*on_one_)}) {
    EXPECT_EQ(tag_names(event_named(root / kOrgUuid, "D4 backscatter")), std::set<std::string>{"tlp:green"})
        << "sensor A's tags (rack-3 is no machine tag)";
    EXPECT_EQ(tag_names(event_named(root / kOrgUuid, "D4 passive SSL")), std::set<std::string>{"tlp:amber"})
        << "sensor B's tlp:amber is stricter than the configured tlp:green";
    auto other = event_named(root / kOtherOrgUuid, "D4 passive DNS");
    EXPECT_EQ(rrnames(other), std::set<std::string>{"d4-project.org"}) << root;
    auto assigned = event_named(root / kAssignedOrgDashed, "D4 passive DNS");
    EXPECT_EQ(rrnames(assigned), std::set<std::string>{"www.example.org"}) << root;
    if (!assigned.is_null()) {
      EXPECT_EQ(assigned["Event"]["Orgc"]["name"], "Assigned CSIRT");
    }
  }
}

// On the cluster the sensors are those of sensor:index: no master runs a SCAN during an export,
// and a sensor hash that is not indexed (nothing in the cluster layout writes one) is not read.
TEST_F(MispFeedOnACluster, TheClusterLayoutReadsTheSensorIndexAndScansNoMaster) {
  core::RedisClient meta(*core::RedisEndpoint::parse(on_cluster_->pdns));
  const std::string unindexed = "d0d0d0d0e1e14f2f8a3a4b4b5c5c6d6d";
  meta.command_ok({"HSET", keys::sensor_metadata(unindexed), "first_seen", "1"});
  meta.command_ok({"SADD", keys::sensor_all_types(unindexed), "1"});
  meta.command_ok({"SADD", keys::sensor_tags(unindexed), kFinance});
  for (std::size_t n = 0; n < cluster_->size(); ++n) cluster_->node(n).cli({"CONFIG", "RESETSTAT"});
  auto r = run_tool("d4-misp-feed",
                    {"-c", on_cluster_->config(*dir_, "index-feed").string(), "export", "--since",
                     "2023-11-14", "--until", "2023-11-14", "--now", "1800000000", "--kind", "backscatter"},
                    *dir_);
  ASSERT_EQ(r.status, 0) << r.err;
  for (std::size_t n = 0; n < cluster_->size(); ++n) {
    auto stats = cluster_->node(n).cli({"INFO", "commandstats"});
    EXPECT_EQ(stats.find("cmdstat_scan:"), std::string::npos) << "node " << n << ": " << stats;
  }
  std::string all_stats;
  for (std::size_t n = 0; n < cluster_->size(); ++n)
    all_stats += cluster_->node(n).cli({"INFO", "commandstats"});
  EXPECT_NE(all_stats.find("cmdstat_sscan:"), std::string::npos)
      << "the index read, and counted: " << all_stats;
  EXPECT_EQ(tag_names(event_named(*dir_ / "index-feed" / kOrgUuid, "D4 backscatter")),
            std::set<std::string>{"tlp:green"})
      << "sensor A read from the index, the unindexed sensor's tag absent";
  meta.command_ok({"DEL", keys::sensor_metadata(unindexed)});
  meta.command_ok({"DEL", keys::sensor_all_types(unindexed)});
  meta.command_ok({"DEL", keys::sensor_tags(unindexed)});
}

// One Redis, reference layout: a sensor that the reference server registered (its metadata hash
// without an entry in sensor:index, which only this implementation maintains) is found by the
// scan of metadata_uuid:*, and its tags reach the events; without the scan it is not read.
TEST_F(MispFeedOnACluster, TheReferenceLayoutFindsSensorsMissingFromTheIndexWithItsScan) {
  core::RedisClient meta(*core::RedisEndpoint::parse(single_->endpoint(1)));
  const std::string unindexed = "e0e0e0e0f1f14a2a8b3b4c4c5d5d6e6e";
  meta.command_ok({"HSET", keys::sensor_metadata(unindexed), "first_seen", "1", "description", "reference"});
  meta.command_ok({"SADD", keys::sensor_all_types(unindexed), "1"});
  meta.command_ok(
      {"HSET", keys::sensor_meta_header(unindexed), "x", R"({"tags":["misp-galaxy:sector=\"Finance\""]})"});
  auto export_backscatter = [&](const std::string& feed, const std::string& extra) {
    auto r = run_tool("d4-misp-feed",
                      {"-c", on_one_->config(*dir_, feed, extra).string(), "export", "--since", "2023-11-14",
                       "--until", "2023-11-14", "--now", "1800000000", "--kind", "backscatter"},
                      *dir_);
    EXPECT_EQ(r.status, 0) << r.err;
    return tag_names(event_named(*dir_ / feed / kOrgUuid, "D4 backscatter"));
  };
  EXPECT_EQ(export_backscatter("scanned-feed", ""), (std::set<std::string>{"tlp:green", kFinance}));
  EXPECT_EQ(export_backscatter("unscanned-feed", "sensor_scan_max_keys = 0"),
            std::set<std::string>{"tlp:green"});
  EXPECT_EQ(meta.command({"SISMEMBER", std::string(keys::kSensorIndex), unindexed}).integer, 0)
      << "d4-misp-feed only reads";
  meta.command_ok({"DEL", keys::sensor_metadata(unindexed), keys::sensor_all_types(unindexed),
                   keys::sensor_meta_header(unindexed)});
}

// The scan's bound: stopped after about sensor_scan_max_keys keys examined (SCAN steps of 1,000
// keys), counted, and the indexed sensors read anyway; unbounded enough, every sensor is found.
TEST(MispFeedSensorScan, TheScanStopsAtItsBoundCountedAndTheIndexIsReadWhole) {
  RedisServer redis;
  core::RedisClient meta(*core::RedisEndpoint::parse(redis.endpoint(0)));
  const std::string indexed = "11111111222243338444555555555555";
  meta.command_ok({"SADD", std::string(keys::kSensorIndex), indexed});
  meta.command_ok({"HSET", keys::sensor_metadata(indexed), "first_seen", "1"});
  constexpr int kUnindexed = 20000;  // far more than one SCAN step examines
  std::vector<std::vector<std::string>> writes;
  for (int i = 0; i < kUnindexed; ++i)
    writes.push_back({"HSET", keys::sensor_metadata(fmt::format("{:032x}", i + 1)), "first_seen", "1"});
  for (const auto& reply : meta.pipeline(writes)) ASSERT_FALSE(reply.is_error()) << reply.str;

  using d4::sharing::misp::SensorCounters;
  using d4::sharing::misp::SensorDirectory;
  auto load = [&](keys::KeyLayout layout, std::uint64_t scan_max_keys, SensorCounters& counters) {
    SensorDirectory d({"Example CSIRT", kOrgUuid});
    d.load(meta, {100000, 100, layout, scan_max_keys}, counters);
    return d.sensors();
  };
  SensorCounters bounded;
  auto read = load(keys::KeyLayout::Reference, 1000, bounded);
  EXPECT_EQ(bounded.sensor_scans_incomplete, 1u);
  EXPECT_TRUE(read.count(indexed));
  EXPECT_GT(read.size(), 1u) << "the first step's sensors";
  EXPECT_LT(read.size(), static_cast<std::size_t>(kUnindexed) / 2) << "far from all of them";

  SensorCounters whole;
  EXPECT_EQ(load(keys::KeyLayout::Reference, 10000000, whole).size(),
            static_cast<std::size_t>(kUnindexed) + 1);
  EXPECT_EQ(whole.sensor_scans_incomplete, 0u);

  SensorCounters capped;
  SensorDirectory d({"Example CSIRT", kOrgUuid});
  d.load(meta, {100, 100, keys::KeyLayout::Reference, 10000000}, capped);
  EXPECT_EQ(d.sensors().size(), 100u);
  EXPECT_EQ(capped.sensors_not_read, static_cast<std::uint64_t>(kUnindexed) + 1 - 100);

  SensorCounters index_only;
  auto from_index = load(keys::KeyLayout::Cluster, 10000000, index_only);
  ASSERT_EQ(from_index.size(), 1u) << "the cluster layout reads the index alone";
  EXPECT_EQ(from_index.begin()->first, indexed);
}

}  // namespace d4::test::misp_feed_cluster
