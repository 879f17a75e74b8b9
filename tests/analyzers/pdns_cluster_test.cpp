// d4-pdns on a real 3-master Redis Cluster in the cluster key layout: the analyzer queue on the
// cluster, filled as a worker fills it, consumed by the real executable into a store on the same
// cluster, and the query API answering from it. The same input on one Redis (reference layout)
// gives exactly the same store and the same answers.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/redis_client.hpp"
#include "core/redis_cluster.hpp"
#include "helpers.hpp"
#include "redis_dump.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

using namespace d4::test::an;
using d4::test::Process;
using d4::test::read_text;
using d4::test::RedisCluster;
using d4::test::RedisServer;
using d4::test::TempDir;
using d4::test::vector_path;
using d4::test::write_text;

namespace {

const std::string kClusterTestQueue = "6a2461ce-c29d-44fc-b4fa-947d68826639";
const std::string kClusterTestList = "analyzer:8:" + kClusterTestQueue;
const std::string kClusterTestSensor = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";

// The vectors' lines, then the same names seen again earlier and later (first/last seen moved
// both ways across batches: the corrections after the pipelined writes), and two bad lines.
std::vector<std::string> input_lines() {
  std::vector<std::string> lines = lines_of(read_text(vector_path("dns.passivedns.csv")));
  lines.erase(std::remove(lines.begin(), lines.end(), std::string()), lines.end());
  lines.push_back("1600000000.5||192.0.2.10||198.51.100.53||IN||www.example.org.||A||93.184.216.34||300||1");
  lines.push_back("1800000000.5||192.0.2.11||198.51.100.53||IN||mail.example.org.||A||93.184.216.35||60||1");
  lines.push_back("garbage");
  lines.push_back("1||c||s||IN||q.org||A||999.0.0.1||60||1");
  return lines;
}

// The passive DNS store of one node: every key but the queue machinery's (analyzer:*, d4:*).
void dump_store(const d4::core::RedisEndpoint& node, std::map<std::string, std::string>& out) {
  dump_node(node, out,
            [](const std::string& k) { return !k.starts_with("analyzer:") && !k.starts_with("d4:"); });
}

std::map<std::string, nlohmann::json> pdns_answers(const std::string& config, const TempDir& dir) {
  int port = 0;
  Process server = start_server("d4-pdns", {"-c", config, "serve"}, port, dir);
  std::map<std::string, nlohmann::json> out;
  for (const std::string target :
       {"/query/www.example.org", "/query/mail.example.org", "/query/example.org", "/query/93.184.216.34",
        "/fquery/93.184.216.34", "/query/www.example.org?time_first_after=1650000000", "/info"}) {
    auto r = http_get(static_cast<std::uint16_t>(port), target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    // NDJSON (one record per line) or one JSON object (/info).
    nlohmann::json lines = nlohmann::json::array();
    for (const auto& l : lines_of(r.body))
      if (!l.empty()) lines.push_back(nlohmann::json::parse(l));
    out[target] = lines;
  }
  server.stop();
  return out;
}

}  // namespace

TEST(PdnsCluster, QueueOnAClusterGivesTheSameStoreAndAnswersAsOnOneRedis) {
  const auto lines = input_lines();
  TempDir dir;

  // One Redis, reference layout: queue in db 2, store in db 0.
  RedisServer single;
  write_text(dir / "single.toml", "[redis]\nmeta = \"" + single.endpoint(0) + "\"\nanalyzer = \"" +
                                      single.endpoint(2) + "\"\n[analyzers.pdns]\nbackend = \"" +
                                      single.endpoint(0) + "\"\nbatch_records = 7\n");
  // The cluster, cluster layout: queue and store on the same 3 masters.
  RedisCluster cluster;
  const std::string seeds = "redis-cluster://" + cluster.seeds();
  write_text(dir / "cluster.toml", "[redis]\nkey_layout = \"cluster\"\nmeta = \"" + seeds +
                                       "\"\n[analyzers.pdns]\nbackend = \"" + seeds +
                                       "\"\nbatch_records = 7\n");
  d4::core::RedisClient single_queue(*d4::core::RedisEndpoint::parse(single.endpoint(2)));
  d4::core::RedisClient cluster_client(*d4::core::RedisEndpoint::parse(seeds));
  // As d4-worker pushes: LPUSH, oldest first.
  for (const auto& l : lines) {
    single_queue.command_ok({"LPUSH", kClusterTestList, l});
    cluster_client.command_ok({"LPUSH", kClusterTestList, l});
  }

  for (const std::string setup : {"single", "cluster"}) {
    auto r = run_tool("d4-pdns",
                      {"-c", (dir / (setup + ".toml")).string(), "ingest", "-u", kClusterTestQueue,
                       "--exit-when-empty", "--consumer", "test", "--sensor-id", kClusterTestSensor},
                      dir);
    ASSERT_EQ(r.status, 0) << setup << ": " << r.err;
  }
  EXPECT_EQ(cluster_client.command({"LLEN", kClusterTestList}).integer, 0);
  EXPECT_EQ(
      cluster_client.command({"EXISTS", "d4:analyzer:processing:{" + kClusterTestList + "}:test"}).integer, 0)
      << "acknowledged";

  std::map<std::string, std::string> on_single, on_cluster;
  dump_store(*d4::core::RedisEndpoint::parse(single.endpoint(0)), on_single);
  for (std::size_t n = 0; n < cluster.size(); ++n)
    dump_store(node_endpoint(cluster.node(n).port()), on_cluster);
  ASSERT_EQ(on_single.at("stats:processed"), "string 62");
  EXPECT_EQ(on_single.at("s:www.example.org:93.184.216.34:1"), "string 1600000000");   // lowered
  EXPECT_EQ(on_single.at("l:mail.example.org:93.184.216.35:1"), "string 1800000000");  // raised
  EXPECT_EQ(on_cluster, on_single);
  std::set<int> masters;
  for (const auto& [key, value] : on_cluster)
    masters.insert(cluster.owner_of(d4::core::cluster_key_slot(key)));
  EXPECT_EQ(masters.size(), 3u) << "the store is spread over every master";

  auto from_single = pdns_answers((dir / "single.toml").string(), dir);
  auto from_cluster = pdns_answers((dir / "cluster.toml").string(), dir);
  EXPECT_FALSE(from_single.at("/query/www.example.org").empty());
  for (const auto& [target, body] : from_single) EXPECT_EQ(from_cluster.at(target), body) << target;
}
