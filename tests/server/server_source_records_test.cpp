// What peers that never authenticate can write into the persisted meta Redis is bounded: their
// rejects are recorded per source network (IPv4 /24, IPv6 /64), only for the top
// reject_sources_max networks, and while the meta Redis is down the server keeps aggregating in
// bounded memory and writes every count exactly once when it is back. The loopback /8 provides
// the many source addresses (127.x.y.z).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/keys.hpp"
#include "core/sensors.hpp"
#include "server/harness.hpp"
#include "support/process_memory.hpp"

using namespace d4;
using namespace d4::test;
namespace keys = d4::core::keys;

namespace {

// One rejected connection from `source`: plain TCP, a header of type 0 (never accepted).
void refused_from(int port, const std::string& source) {
  SensorConnection c(port, false, {}, {}, source);
  std::vector<std::uint8_t> junk(62, 0);
  c.send(junk);
  c.wait_closed(std::chrono::seconds(5));
}

// 127.<1 + n / 256>.<n % 256>.1: a distinct /24 for each n.
std::string address_in_network(int n) {
  return "127." + std::to_string(1 + n / 256) + "." + std::to_string(n % 256) + ".1";
}

long long count_keys(core::RedisClient& r, const std::string& pattern) {
  long long n = 0;
  std::string cursor = "0";
  do {
    auto reply = r.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    cursor = reply.elements.at(0).str;
    n += static_cast<long long>(reply.elements.at(1).elements.size());
  } while (cursor != "0");
  return n;
}

// Set in the copy of a test that runs inside its own network namespace.
constexpr const char* kInNetworkNamespace = "D4_TEST_IN_NETWORK_NAMESPACE";

// Runs the current test again, alone, in a new network namespace (unshare; as root directly,
// otherwise inside a user namespace mapping the caller to root), where it may give the loopback
// interface addresses of its own and bind to them. Fails, with the output, if the namespace
// cannot be made: the machine running the tests must allow it (CI runs as root).
void rerun_in_network_namespace() {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::vector<std::string> argv = {"unshare"};
  if (geteuid() != 0) argv.insert(argv.end(), {"--user", "--map-root-user"});
  argv.insert(argv.end(), {"--net", "--", std::filesystem::read_symlink("/proc/self/exe").string(),
                           std::string("--gtest_filter=") + test->test_suite_name() + "." + test->name()});
  TempDir dir;
  Process inner(argv, Process::Options{{}, dir / "out", dir / "err", {{kInNetworkNamespace, "1"}}, {}});
  int status = inner.wait(std::chrono::seconds(180));
  std::string out = read_text(dir / "out") + read_text(dir / "err");
  std::string command;
  for (const auto& a : argv) command += a + " ";
  ASSERT_EQ(status, 0) << "the test in a new network namespace (" << command << ") failed:\n" << out;
  EXPECT_NE(out.find("[  PASSED  ] 1 test"), std::string::npos) << out;
}

// In the namespace: lo up, with each address as a /128 (nodad: usable at once).
void add_loopback_addresses(const std::vector<std::string>& addresses) {
  TempDir dir;
  std::string batch = "link set lo up\n";
  for (const auto& a : addresses) batch += "addr add " + a + "/128 dev lo nodad\n";
  write_text(dir / "batch", batch);
  Process ip({"ip", "-batch", "-"}, Process::Options{dir / "batch", dir / "out", dir / "out", {}, {}});
  ASSERT_EQ(ip.wait(std::chrono::seconds(60)), 0) << read_text(dir / "out");
}

}  // namespace

TEST(SourceRecords, ManyFailingNetworksCreateABoundedSetOfKeys) {
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml = "reject_sources_max = 20\nmax_connections_per_ip = 0\n";
  ServerProcess server(redis, o);
  auto meta = server.meta();
  constexpr int kNetworks = 300;
  for (int n = 0; n < kNetworks; ++n) refused_from(server.plain_port(), address_in_network(n));
  // Every reject is counted...
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str ==
           std::to_string(kNetworks);
  })) << server.log();
  // ...but details exist for at most 20 networks: 2 keys each and the ranking.
  EXPECT_EQ(meta.command({"ZCARD", std::string(keys::kRejectSources)}).integer, 20);
  EXPECT_LE(count_keys(meta, "ip:rejects:*"), 20);
  EXPECT_LE(count_keys(meta, "ip:errors:*"), 20);
  EXPECT_LT(meta.command({"DBSIZE"}).integer, 60) << "keys of the meta Redis";
  // A network with repeated rejects takes a place, and keeps it and its details while newcomers
  // with fewer rejects come and go.
  for (int i = 0; i < 5; ++i) refused_from(server.plain_port(), "127.200.0." + std::to_string(i + 1));
  core::RedisClient stream_c = server.stream();
  core::SensorPolicy policy(meta, stream_c);
  EXPECT_TRUE(eventually([&] { return policy.ip_rejects("127.200.0.9")["type_not_accepted"] == 5; }))
      << "the record of 127.200.0.0/24";
  for (int n = kNetworks; n < kNetworks + 50; ++n) refused_from(server.plain_port(), address_in_network(n));
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str ==
           std::to_string(kNetworks + 55);
  }));
  EXPECT_EQ(policy.ip_rejects("127.200.0.9")["type_not_accepted"], 5);
  EXPECT_EQ(policy.ip_errors("127.200.0.0/24").size(), 5u);
  EXPECT_EQ(meta.command({"ZCARD", std::string(keys::kRejectSources)}).integer, 20);
  EXPECT_FALSE(meta.command({"ZSCORE", std::string(keys::kRejectSources), "127.200.0.0/24"}).is_nil());
}

TEST(SourceRecords, MetaRedisOutageKeepsBoundedMemoryAndCountsEveryRejectOnce) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
  setrlimit(RLIMIT_NOFILE, &rl);
  RedisServer stream_redis, meta_redis;
  ServerOptions o;
  o.meta_redis = &meta_redis;
  o.extra_server_toml = "max_connections_per_ip = 0\n";
  ServerProcess server(stream_redis, o);
  auto pending_meta = [&] {  // the control thread and the two session threads
    double sum = 0;
    for (int w = 0; w <= o.threads; ++w)
      sum += metric(server.metrics_port(),
                    "d4_server_redis_pending_requests{redis=\"meta\",worker=\"" + std::to_string(w) + "\"}")
                 .value_or(-1);
    return sum;
  };
  meta_redis.stop();
  long before = rss_kb(server.pid());
  constexpr int kNetworks = 3000;
  for (int n = 0; n < kNetworks; ++n) refused_from(server.plain_port(), address_in_network(n));
  long during = rss_kb(server.pid());
  // One flush (a few calls) waits per worker thread; the rest is aggregated, bounded.
  EXPECT_LT(pending_meta(), 100.0);
  if (kRssReflectsTheHeap) {
    EXPECT_LT(during - before, 16 * 1024) << "RSS " << before << " kB -> " << during << " kB";
  }
  meta_redis.start();
  auto meta = server.meta();
  EXPECT_TRUE(eventually(
      [&] {
        return meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str ==
               std::to_string(kNetworks);
      },
      std::chrono::seconds(20)))
      << meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str << "\n"
      << server.log();
  // Details beyond the per-interval bound were dropped, and counted.
  double dropped = metric(server.metrics_port(), "d4_server_reject_details_dropped_total").value_or(-1);
  EXPECT_GT(dropped, 0.0);
  EXPECT_LE(meta.command({"ZCARD", std::string(keys::kRejectSources)}).integer, 256);
  ASSERT_TRUE(server.wait_meta_flushed()) << server.log();  // re-sent calls included
  EXPECT_EQ(meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str,
            std::to_string(kNetworks))
      << "applied exactly once";
}

// IPv6 peers are recorded per /64, one party commonly holding a whole /64: 200 failing addresses of
// one /64 make one record with every reject counted, and 30 further /64s keep the ranking at its
// bound. The addresses (2001:db8::/32, for documentation) exist only in the test's own network
// namespace, on its loopback interface; d4-server listens on ::1. Each test re-runs itself, alone,
// in a new network namespace (rerun_in_network_namespace()).
class Ipv6SourceRecords : public ::testing::Test {
 protected:
  static constexpr int kOneNetwork = 200, kOtherNetworks = 30, kRanked = 10;

  static bool in_network_namespace() { return std::getenv(kInNetworkNamespace) != nullptr; }

  // The addresses on lo, a redis-server and d4-server on [::1]; the refusals of every address of
  // one /64, counted.
  void start_and_refuse_one_network() {
    char text[64];
    for (int i = 1; i <= kOneNetwork; ++i) {
      // Spread over the whole interface identifier, not only its last bits.
      std::snprintf(text, sizeof text, "2001:db8:0:1:%x:%x::%x", i * 251, i * 7, i);
      one_network_.push_back(text);
    }
    for (int n = 0; n < kOtherNetworks; ++n) {
      std::snprintf(text, sizeof text, "2001:db8:%x:%x::1", 100 + n, n * 13);
      other_networks_.push_back(text);
    }
    std::vector<std::string> all = one_network_;
    all.insert(all.end(), other_networks_.begin(), other_networks_.end());
    ASSERT_NO_FATAL_FAILURE(add_loopback_addresses(all));
    redis_ = std::make_unique<RedisServer>();
    ServerOptions o;
    o.plain_listen = "[::1]:0";
    o.extra_server_toml =
        "reject_sources_max = " + std::to_string(kRanked) + "\nmax_connections_per_ip = 0\n";
    server_ = std::make_unique<ServerProcess>(*redis_, o);
    meta_ = std::make_unique<core::RedisClient>(server_->meta());
    stream_ = std::make_unique<core::RedisClient>(server_->stream());
    policy_ = std::make_unique<core::SensorPolicy>(*meta_, *stream_);
    for (const auto& a : one_network_) refused_from(server_->plain_port(), a);
    ASSERT_TRUE(eventually([&] { return rejects() == kOneNetwork; }, std::chrono::seconds(30)))
        << server_->log();
  }
  // The refusals of one address in each of the other /64s, counted and flushed with the ranking.
  void refuse_other_networks() {
    for (const auto& a : other_networks_) refused_from(server_->plain_port(), a);
    ASSERT_TRUE(
        eventually([&] { return rejects() == kOneNetwork + kOtherNetworks; }, std::chrono::seconds(30)))
        << server_->log();
    ASSERT_TRUE(server_->wait_meta_flushed()) << server_->log();  // the ranking is written with the counts
  }
  long long rejects() {
    return meta_->command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"})
        .as_integer()
        .value_or(0);
  }
  long long ranked() { return meta_->command({"ZCARD", std::string(keys::kRejectSources)}).integer; }

  std::vector<std::string> one_network_, other_networks_;
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<core::RedisClient> meta_, stream_;
  std::unique_ptr<core::SensorPolicy> policy_;
};

TEST_F(Ipv6SourceRecords, TheAddressesOfOneSlash64MakeOneRecordHoldingEveryReject) {
  if (!in_network_namespace()) return rerun_in_network_namespace();
  ASSERT_NO_FATAL_FAILURE(start_and_refuse_one_network());
  // One record, for the /64, holding every reject; its error list capped.
  EXPECT_TRUE(eventually([&] {
    return policy_->ip_rejects(one_network_.back())["type_not_accepted"] == kOneNetwork;
  })) << server_->log();
  EXPECT_EQ(ranked(), 1);
  EXPECT_FALSE(meta_->command({"ZSCORE", std::string(keys::kRejectSources), "2001:db8:0:1::/64"}).is_nil());
  EXPECT_EQ(count_keys(*meta_, "ip:rejects:*"), 1);
  EXPECT_EQ(count_keys(*meta_, "ip:errors:*"), 1);
  auto errors = policy_->ip_errors("2001:db8:0:1::/64", 1000);
  EXPECT_GE(errors.size(), 1u);
  EXPECT_LE(errors.size(), 50u) << "error_list_size";
}

TEST_F(Ipv6SourceRecords, MoreSlash64sThanTheRankingKeepsLeaveAtMostItsBoundOfRecords) {
  if (!in_network_namespace()) return rerun_in_network_namespace();
  ASSERT_NO_FATAL_FAILURE(start_and_refuse_one_network());
  ASSERT_NO_FATAL_FAILURE(refuse_other_networks());
  // At most kRanked records, the busy /64 among them.
  EXPECT_EQ(ranked(), kRanked);
  EXPECT_LE(count_keys(*meta_, "ip:rejects:*"), kRanked);
  EXPECT_LE(count_keys(*meta_, "ip:errors:*"), kRanked);
  EXPECT_LT(meta_->command({"DBSIZE"}).integer, 2 * kRanked + 20) << "keys of the meta Redis";
  EXPECT_EQ(policy_->ip_rejects(one_network_.front())["type_not_accepted"], kOneNetwork);
  // Each ranked network is a /64 and none is an address.
  for (const auto& e : meta_->command({"ZRANGE", std::string(keys::kRejectSources), "0", "-1"}).elements)
    EXPECT_TRUE(e.str.starts_with("2001:db8:") && e.str.ends_with("::/64")) << e.describe();
}
