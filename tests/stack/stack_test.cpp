// d4-stack end to end: the generated configuration runs the server, the worker, the web interface
// and the analyzers; data sent by d4-client reaches each analyzer through its queue.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "core/redis_client.hpp"
#include "core/redis_endpoint.hpp"
#include "protocol/text.hpp"
#include "support/bytes.hpp"
#include "support/process.hpp"
#include "support/text.hpp"

namespace d4::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// GET on loopback; {status, body}, status 0 when nothing answers.
std::pair<int, std::string> http_get(const std::string& host_port, const std::string& target) {
  namespace beast = boost::beast;
  try {
    boost::asio::io_context io;
    auto colon = host_port.rfind(':');
    boost::asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(5s);
    stream.connect(resolver.resolve(host_port.substr(0, colon), host_port.substr(colon + 1)));
    beast::http::request<beast::http::empty_body> req{beast::http::verb::get, target, 11};
    req.set(beast::http::field::host, host_port);
    beast::http::write(stream, req);
    beast::flat_buffer buf;
    beast::http::response<beast::http::string_body> res;
    beast::http::read(stream, buf, res);
    return {static_cast<int>(res.result_int()), res.body()};
  } catch (const std::exception&) {
    return {0, {}};
  }
}

// Every port d4-stack chose near the reference defaults is moved to a random free one, so that
// the test neither meets a stack running on this machine nor another test doing the same.
void move_ports(const fs::path& config, const fs::path& sensor_destination) {
  std::string text = read_text(config);
  std::map<std::string, std::string> moved;
  std::regex port_re(R"((127\.0\.0\.1|\[::\]|0\.0\.0\.0):(\d{4,5}))");
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), port_re);
  std::size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    std::string port = m[2].str();
    if (!moved.count(port)) moved[port] = std::to_string(free_port());
    out += text.substr(last, static_cast<std::size_t>(m.position(0)) - last);
    out += "127.0.0.1:" + moved[port];  // tests stay on loopback, the sensor listener too
    last = static_cast<std::size_t>(m.position(0) + m.length(0));
  }
  out += text.substr(last);
  write_text(config, out);
  std::string dest = read_text(sensor_destination);
  auto colon = dest.rfind(':');
  std::string port = dest.substr(colon + 1);
  while (!port.empty() && (port.back() == '\n' || port.back() == '\r')) port.pop_back();
  ASSERT_TRUE(moved.count(port)) << "sensor port " << port << " not in the configuration";
  write_text(sensor_destination, "127.0.0.1:" + moved[port] + "\n");
}

// `d4-stack --init-only` into `data` (its output in `dir`), then its ports moved to free ones.
void init_stack_data(const TempDir& dir, const fs::path& data) {
  Process init({(bin_dir() / "d4-stack").string(), "--data-dir", data.string(), "--init-only"},
               Process::Options{{}, dir / "init.out", dir / "init.err", {}, {}});
  ASSERT_EQ(init.wait(60s), 0) << read_text(dir / "init.err");
  ASSERT_NO_FATAL_FAILURE(move_ports(data / "d4.toml", data / "sensor" / "destination"));
}

std::string config_value(const std::string& config, const std::string& section, const std::string& key) {
  // The generated file is simple TOML: find the section, then `key = "value"`.
  auto s = config.find("[" + section + "]\n");
  if (s == std::string::npos) return {};
  std::smatch m;
  std::string rest = config.substr(s);
  auto next = rest.find("\n[", 1);
  if (next != std::string::npos) rest = rest.substr(0, next);
  if (std::regex_search(rest, m, std::regex("\n" + key + R"( = "([^"]*)\")"))) return m[1].str();
  return {};
}

// Every D4 metric the Grafana dashboard (docs/grafana/d4.json) plots is exported by the running
// stack, whose summary says where: d4-server, d4-worker, d4-web and every analyzer process.
void expect_dashboard_metrics_exported(const std::string& config, const std::string& summary) {
  std::string server = config_value(config, "server", "metrics_listen");
  std::string worker = config_value(config, "workers", "metrics_listen");
  std::string web = config_value(config, "web", "metrics_listen");
  ASSERT_FALSE(server.empty() || worker.empty() || web.empty()) << config;
  EXPECT_NE(summary.find("worker metrics      http://" + worker + "/metrics"), std::string::npos) << summary;
  EXPECT_NE(summary.find("web metrics         http://" + web + "/metrics"), std::string::npos) << summary;
  for (const char* process :
       {"d4-pdns-ingest", "d4-pdns-serve", "d4-pibs", "d4-passivessl-ingest", "d4-passivessl-serve"})
    EXPECT_NE(summary.find("/metrics  (" + std::string(process) + ")"), std::string::npos) << summary;
  std::set<std::string> exported;
  std::regex sample_re(R"(^([a-z_:][a-z0-9_:]*)[ {])");
  std::regex url_re(R"(http://([0-9.:]+)/metrics)");
  std::regex type_re(R"(^# TYPE ([a-z_:][a-z0-9_:]*) ([a-z]+))");
  int endpoints = 0;
  for (auto it = std::sregex_iterator(summary.begin(), summary.end(), url_re); it != std::sregex_iterator();
       ++it) {
    auto [status, text] = http_get((*it)[1].str(), "/metrics");
    EXPECT_EQ(status, 200) << (*it)[1].str();
    ++endpoints;
    for (const auto& line : lines_of(text)) {
      std::smatch m;
      if (std::regex_search(line, m, sample_re)) exported.insert(m[1].str());
      // A family served before its first sample (request counters before the first request).
      if (std::regex_search(line, m, type_re)) {
        exported.insert(m[1].str());
        if (m[2].str() == "histogram")
          for (const char* suffix : {"_bucket", "_sum", "_count"}) exported.insert(m[1].str() + suffix);
      }
    }
  }
  EXPECT_GE(endpoints, 8) << summary;
  auto dashboard = nlohmann::json::parse(
      read_text(fs::path(D4_TEST_DATA_DIR) / ".." / ".." / "docs" / "grafana" / "d4.json"));
  std::set<std::string> plotted;
  std::regex name_re(R"(\b((?:d4|process)_[a-z0-9_]+))");
  for (const auto& panel : dashboard["panels"])
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      std::string expr = target["expr"];
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name_re); it != std::sregex_iterator();
           ++it)
        plotted.insert((*it)[1].str());
    }
  ASSERT_GT(plotted.size(), 20u);
  for (const auto& name : plotted) {
    // The stack runs no exporter: d4-export's series are checked by its own test.
    if (name.rfind("d4_export_", 0) == 0) continue;
    EXPECT_TRUE(exported.count(name)) << name << " is plotted but not exported";
  }
}

// A stack generated by `d4-stack --init-only` and started, once for a suite; its ports moved to
// free ones. `edit` changes the generated configuration before the start.
struct RunningStack {
  TempDir dir;
  fs::path data = dir / "data";
  std::string config, summary;
  std::unique_ptr<Process> stack;

  void start(const std::function<void(std::string&)>& edit = {}) {
    ASSERT_NO_FATAL_FAILURE(init_stack_data(dir, data));
    config = read_text(data / "d4.toml");
    if (edit) {
      ASSERT_NO_FATAL_FAILURE(edit(config));
      write_text(data / "d4.toml", config);
    }
    stack = std::make_unique<Process>(
        std::vector<std::string>{(bin_dir() / "d4-stack").string(), "--data-dir", data.string()},
        Process::Options{{}, dir / "stack.out", dir / "stack.err", {}, {}});
    ASSERT_TRUE(eventually(
        [&] { return read_text(dir / "stack.out").find("Press Ctrl-C") != std::string::npos; }, 120s, 100ms))
        << read_text(dir / "stack.out") << read_text(dir / "stack.err");
    summary = read_text(dir / "stack.out");
  }
  // A sensor of `type` configured like the generated one, under dir/name.
  fs::path sensor(const std::string& name, const std::string& type) {
    fs::path d = dir / name;
    fs::copy(data / "sensor", d, fs::copy_options::recursive);
    write_text(d / "type", type + "\n");
    return d;
  }
  // d4-client with the sensor configuration `conf`, `input` on its standard input; its exit status.
  int send(const fs::path& conf, const fs::path& input) {
    Process c({(bin_dir() / "d4-client").string(), "-c", conf.string()},
              Process::Options{input,
                               dir / (conf.filename().string() + ".out"),
                               dir / (conf.filename().string() + ".err"),
                               {},
                               {}});
    return c.wait(60s);
  }
  std::string client_errors(const std::string& name) { return read_text(dir / (name + ".err")); }
};

void expect_executables_built(std::initializer_list<const char*> executables) {
  for (const char* exe : executables)
    ASSERT_TRUE(fs::exists(bin_dir() / exe)) << exe << " is not built in " << bin_dir();
}

// The generated stack with its analyzers (passive DNS, backscatter, passive SSL), once for the
// suite. Sensors send through d4-client; each test first makes sure what it needs was sent
// (sent_once()), so that it also passes alone.
class StackAnalyzers : public ::testing::Test {
 protected:
  struct Shared {
    RunningStack stack;
    std::string pdns_api, pssl_api;
    std::optional<core::RedisEndpoint> pibs_redis;
    std::map<std::string, int> sent;  // sensor name -> d4-client's exit status
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    ASSERT_NO_FATAL_FAILURE(expect_executables_built(
        {"d4-stack", "d4-server", "d4-worker", "d4-client", "d4-pdns", "d4-pibs", "d4-passivessl"}));
    ASSERT_NO_FATAL_FAILURE(s.stack.start([&](std::string& config) {
      ASSERT_NE(config.find("analyzers = [\"pdns\", \"pibs\", \"passivessl\"]"), std::string::npos) << config;
      s.pdns_api = config_value(config, "analyzers.pdns", "listen");
      s.pssl_api = config_value(config, "analyzers.tls", "listen");
      s.pibs_redis = core::RedisEndpoint::parse(config_value(config, "analyzers.pibs", "results_redis"));
      auto pdns_redis = core::RedisEndpoint::parse(config_value(config, "analyzers.pdns", "backend"));
      ASSERT_TRUE(s.pibs_redis && pdns_redis && !s.pdns_api.empty() && !s.pssl_api.empty()) << config;
    }));
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override { ASSERT_TRUE(shared_ && shared_->stack.stack) << "the suite's set-up failed"; }

  static Shared& s() { return *shared_; }
  static RunningStack& stack() { return s().stack; }
  // Sends `vector` once for the suite from the sensor `name` of `type`.
  static void sent_once(const std::string& name, const std::string& type, const std::string& vector) {
    if (!s().sent.count(name)) s().sent[name] = stack().send(stack().sensor(name, type), vector_path(vector));
    ASSERT_EQ(s().sent[name], 0) << stack().client_errors(name);
  }
  // The passive DNS records of dns.pcap's expected records, their counts times `count_factor`,
  // attributed to the sensor that sent the capture; each missing one is a failure.
  static void expect_dns_records(long long count_factor, const std::string& log);
  // d4-pibs's victims are those of backscatter.expected-pibs.csv, with the same packet counts.
  static void expect_expected_victims();

 private:
  static inline std::unique_ptr<Shared> shared_;
};

void StackAnalyzers::expect_dns_records(long long count_factor, const std::string& log) {
  std::string dns_sensor_id = read_text(stack().dir / "dns-sensor" / "uuid");
  dns_sensor_id.erase(std::remove(dns_sensor_id.begin(), dns_sensor_id.end(), '-'), dns_sensor_id.end());
  dns_sensor_id = std::string(d4::text::trim(dns_sensor_id));
  auto records = lines_of(read_text(vector_path("dns.expected-records.ndjson")));
  ASSERT_FALSE(records.empty());
  for (const auto& line : records) {
    auto want = nlohmann::json::parse(line);
    std::string name = want["rrname"];
    std::pair<int, std::string> res;
    bool found = eventually(
        [&] {
          res = http_get(s().pdns_api, "/query/" + name);
          if (res.first != 200) return false;
          for (const auto& l : lines_of(res.second)) {
            auto got = nlohmann::json::parse(l);
            if (got["rrtype"] == want["rrtype"] && got["rdata"] == want["rdata"] &&
                got["count"] == want["count"].get<long long>() * count_factor &&
                got["time_first"] == want["time_first"] && got["time_last"] == want["time_last"] &&
                got.value("sensor_id", "") == dns_sensor_id)
              return true;
          }
          return false;
        },
        90s, 200ms);
    EXPECT_TRUE(found) << name << " " << want.dump() << " -> " << res.first << " " << res.second << "\n"
                       << read_text(stack().data / "logs" / log);
  }
}

void StackAnalyzers::expect_expected_victims() {
  std::map<std::string, long long> expected;
  for (const auto& line : lines_of(read_text(vector_path("backscatter.expected-pibs.csv")))) {
    if (line.empty() || line[0] == '#') continue;
    auto a = line.find(','), b = line.find(',', a + 1);
    ++expected[line.substr(a + 1, b - a - 1)];
  }
  ASSERT_FALSE(expected.empty());
  core::RedisClient pibs(*s().pibs_redis);
  std::map<std::string, long long> seen;
  bool complete = eventually(
      [&] {
        seen.clear();
        auto r = pibs.command({"ZRANGE", "pibs:victims", "0", "-1", "WITHSCORES"});
        for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
          seen[r.elements[i].str] = std::stoll(r.elements[i + 1].str);
        return seen == expected;
      },
      90s, 200ms);
  EXPECT_TRUE(complete) << "victims seen: " << nlohmann::json(seen).dump()
                        << "\nexpected: " << nlohmann::json(expected).dump() << "\n"
                        << read_text(stack().data / "logs" / "d4-pibs.log");
}

TEST_F(StackAnalyzers, TheSummaryNamesEachAnalyzersApi) {
  EXPECT_NE(stack().summary.find("passive DNS API     http://" + s().pdns_api), std::string::npos)
      << stack().summary;
  EXPECT_NE(stack().summary.find("passive SSL API     http://" + s().pssl_api), std::string::npos)
      << stack().summary;
}

// The worker closes the capture at the end of the session and queues its path; d4-pibs finds the
// same victims, with the same packet counts, as the expected CSV.
TEST_F(StackAnalyzers, BackscatterOfAPacketCaptureSensorFindsTheExpectedVictims) {
  ASSERT_NO_FATAL_FAILURE(sent_once("pcap-sensor", "1", "backscatter.pcap"));
  expect_expected_victims();
}

// Passive DNS from a packet capture (type 1, no passivedns tool): every expected record, with its
// count and times, and the sensor it came from.
TEST_F(StackAnalyzers, PassiveDnsRecordsWhatAPacketCaptureSensorSends) {
  ASSERT_TRUE(s().sent.count("pdns-sensor") == 0) << "this test comes before the passivedns lines are sent";
  ASSERT_NO_FATAL_FAILURE(sent_once("dns-sensor", "1", "dns.pcap"));
  expect_dns_records(1, "d4-pdns-ingest-pcap.log");
}

// The same answers as passivedns lines (type 8) add their counts to the same records.
TEST_F(StackAnalyzers, PassiveDnsLinesOfTheSameAnswersAddTheirCountsToTheSameRecords) {
  ASSERT_NO_FATAL_FAILURE(sent_once("dns-sensor", "1", "dns.pcap"));
  ASSERT_NO_FATAL_FAILURE(sent_once("pdns-sensor", "8", "dns.passivedns.csv"));
  expect_dns_records(2, "d4-pdns-ingest.log");
}

// Passive SSL runs and answers (its data path is tested with the ja3-jl queue elsewhere).
TEST_F(StackAnalyzers, PassiveSslAnswers) {
  EXPECT_EQ(http_get(s().pssl_api, "/info").first, 200);
}

// Once the sensors' data went through every analyzer.
TEST_F(StackAnalyzers, EveryMetricTheDashboardPlotsIsExported) {
  ASSERT_NO_FATAL_FAILURE(sent_once("pcap-sensor", "1", "backscatter.pcap"));
  ASSERT_NO_FATAL_FAILURE(sent_once("dns-sensor", "1", "dns.pcap"));
  ASSERT_NO_FATAL_FAILURE(sent_once("pdns-sensor", "8", "dns.passivedns.csv"));
  ASSERT_NO_FATAL_FAILURE(expect_expected_victims());
  ASSERT_NO_FATAL_FAILURE(expect_dns_records(2, "d4-pdns-ingest.log"));
  expect_dashboard_metrics_exported(stack().config, stack().summary);
}

// The suite's last test.
TEST_F(StackAnalyzers, OneSigtermStopsTheWholeStack) {
  stack().stack->signal(SIGTERM);
  EXPECT_EQ(stack().stack->wait(60s), 0) << read_text(stack().dir / "stack.err");
  EXPECT_EQ(http_get(s().pdns_api, "/info").first, 0) << "the analyzers stopped with the stack";
}

// The generated stack with a durable stream Redis (AOF), no web interface, no analyzer, and no
// worker serving type 3, once for the suite: what a sensor sends of type 3 stays in the stream
// Redis, unprocessed.
class StackDurableStream : public ::testing::Test {
 protected:
  struct Shared {
    RunningStack stack;
    std::optional<core::RedisEndpoint> stream;
    bool sent = false;
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    ASSERT_NO_FATAL_FAILURE(expect_executables_built({"d4-stack", "d4-server", "d4-worker", "d4-client"}));
    ASSERT_NO_FATAL_FAILURE(s.stack.start([&](std::string& config) {
      ASSERT_NE(config.find("durable_stream = false"), std::string::npos)
          << "the generated file shows the setting";
      config = std::regex_replace(config, std::regex("durable_stream = false"), "durable_stream = true");
      config = std::regex_replace(config, std::regex("start_web = true"), "start_web = false");
      config = std::regex_replace(config, std::regex(R"(analyzers = \[[^\]]*\])"), "analyzers = []");
      ASSERT_NE(config.find("\n[workers]\n"), std::string::npos) << config;
      config = std::regex_replace(config, std::regex("\n\\[workers\\]\n"), "\n[workers]\ntypes = [1]\n");
      s.stream = core::RedisEndpoint::parse(config_value(config, "redis", "stream"));
      ASSERT_TRUE(s.stream);
    }));
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override { ASSERT_TRUE(shared_ && shared_->stack.stack) << "the suite's set-up failed"; }

  static Shared& s() { return *shared_; }
  // Every payload of the type 3 streams, in stream order.
  static std::string stored_type3(core::RedisClient& redis) {
    std::string all;
    for (const auto& k : redis.command({"KEYS", "stream:3:*"}).as_strings())
      for (const auto& e : redis.command({"XRANGE", k, "-", "+"}).elements)
        all += e.elements[1].elements[1].str;
    return all;
  }
  // auth.log sent once for the suite by a type 3 sensor, and stored.
  static void log_stored() {
    const std::string expected = read_text(vector_path("auth.log"));
    if (!s().sent) {
      s().sent = true;
      ASSERT_EQ(s().stack.send(s().stack.sensor("log-sensor", "3"), vector_path("auth.log")), 0)
          << s().stack.client_errors("log-sensor");
    }
    core::RedisClient redis(*s().stream, {std::chrono::milliseconds(500), std::chrono::milliseconds(2000)});
    ASSERT_TRUE(eventually([&] { return stored_type3(redis) == expected; }, 30s));
  }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(StackDurableStream, TheStreamRedisWritesAnAppendOnlyFile) {
  EXPECT_NE(s().stack.summary.find("durable: AOF"), std::string::npos) << s().stack.summary;
  core::RedisClient redis(*s().stream);
  EXPECT_EQ(redis.command({"CONFIG", "GET", "appendonly"}).as_strings().back(), "yes");
}

TEST_F(StackDurableStream, PacketsNoWorkerServesStayInTheStream) {
  ASSERT_NO_FATAL_FAILURE(log_stored());
}

// Once the AOF holds what was acknowledged (nothing buffered, no fsync pending), the stream Redis
// dies; d4-stack restarts it and the packets are still there.
TEST_F(StackDurableStream, UnprocessedPacketsSurviveTheStreamRedisKilledAndRestarted) {
  ASSERT_NO_FATAL_FAILURE(log_stored());
  core::RedisClient redis(*s().stream, {std::chrono::milliseconds(500), std::chrono::milliseconds(2000)});
  ASSERT_TRUE(eventually([&] {
    auto p = redis.command({"INFO", "persistence"}).str;
    return p.find("aof_buffer_length:0\r\n") != std::string::npos &&
           p.find("aof_pending_bio_fsync:0\r\n") != std::string::npos;
  }));
  auto info = redis.command({"INFO", "server"}).str;
  auto pid = std::stoi(info.substr(info.find("process_id:") + 11));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(eventually(
      [&] {
        try {
          core::RedisClient again(*s().stream,
                                  {std::chrono::milliseconds(200), std::chrono::milliseconds(500)});
          auto i = again.command({"INFO", "server"}).str;
          return std::stoi(i.substr(i.find("process_id:") + 11)) != pid;
        } catch (const std::exception&) {
          return false;
        }
      },
      60s, 200ms))
      << read_text(s().stack.data / "logs" / "redis-stream.log");
  core::RedisClient after(*s().stream);
  EXPECT_EQ(stored_type3(after), read_text(vector_path("auth.log")));
}

// The suite's last test.
TEST_F(StackDurableStream, OneSigtermStopsTheStack) {
  s().stack.stack->signal(SIGTERM);
  EXPECT_EQ(s().stack.stack->wait(60s), 0) << read_text(s().stack.dir / "stack.err");
}

// The uid in every slot (real, effective, saved, filesystem) of /proc/<pid>/status.
std::vector<long> uids_of(int pid) {
  for (const auto& line : lines_of(read_text("/proc/" + std::to_string(pid) + "/status"))) {
    if (!line.starts_with("Uid:")) continue;
    std::istringstream values(line.substr(4));
    std::vector<long> ids;
    for (long id; values >> id;) ids.push_back(id);
    return ids;
  }
  return {};
}

// The processes whose parent is `pid`.
std::vector<int> children_of(int pid) {
  std::vector<int> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    std::string stat = read_text(entry.path() / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid) out.push_back(std::stoi(name));
  }
  return out;
}

// Started as root with [general] user, d4-stack gives its data directory to the user and every
// component it starts (Redis, d4-server, d4-worker) runs as that user and works.
TEST(Stack, StartedAsRootWithAUserGivesItsDataToItAndRunsEveryComponentAsIt) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the CI runs the tests as root)";
  const passwd* pw = getpwnam("nobody");
  ASSERT_NE(pw, nullptr) << "no user nobody on this system";
  const long nobody = static_cast<long>(pw->pw_uid);
  TempDir dir;
  fs::permissions(dir.path(), fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add);
  fs::path data = dir / "data";
  ASSERT_NO_FATAL_FAILURE(init_stack_data(dir, data));
  std::string config = read_text(data / "d4.toml");
  config = std::regex_replace(config, std::regex("start_web = true"), "start_web = false");
  config = std::regex_replace(config, std::regex(R"(analyzers = \[[^\]]*\])"), "analyzers = []");
  ASSERT_NE(config.find("[general]\n"), std::string::npos) << config;
  config = std::regex_replace(config, std::regex("\\[general\\]\n"), "[general]\nuser = \"nobody\"\n");
  write_text(data / "d4.toml", config);

  Process stack({(bin_dir() / "d4-stack").string(), "--data-dir", data.string()},
                Process::Options{{}, dir / "stack.out", dir / "stack.err", {}, {}});
  ASSERT_TRUE(eventually(
      [&] { return read_text(dir / "stack.out").find("Press Ctrl-C") != std::string::npos; }, 120s, 100ms))
      << read_text(dir / "stack.out") << read_text(dir / "stack.err");
  EXPECT_EQ(uids_of(stack.pid()), std::vector<long>(4, nobody));
  auto children = children_of(stack.pid());
  EXPECT_GE(children.size(), 3u) << "redis-server, d4-server, d4-worker";
  for (int child : children)
    EXPECT_EQ(uids_of(child), std::vector<long>(4, nobody))
        << read_text("/proc/" + std::to_string(child) + "/cmdline");
  struct stat st {};
  ASSERT_EQ(::stat((data / "tls" / "server.key").c_str(), &st), 0);
  EXPECT_EQ(static_cast<long>(st.st_uid), nobody) << "the data directory is the user's";
  // It works as the user: what a sensor sends is archived by d4-worker into the data directory.
  fs::path sensor = dir / "log-sensor";
  fs::copy(data / "sensor", sensor, fs::copy_options::recursive);
  write_text(sensor / "type", "3\n");
  Process client({(bin_dir() / "d4-client").string(), "-c", sensor.string()},
                 Process::Options{vector_path("auth.log"), dir / "client.out", dir / "client.err", {}, {}});
  EXPECT_EQ(client.wait(60s), 0) << read_text(dir / "client.err");
  fs::path archived;
  EXPECT_TRUE(eventually(
      [&] {
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(data / "archive", ec); !ec && it != fs::end(it);
             it.increment(ec))
          if (it->is_regular_file() && it->file_size() > 0) archived = it->path();
        return !archived.empty();
      },
      60s, 200ms))
      << read_text(dir / "stack.err");
  if (!archived.empty()) {
    ASSERT_EQ(::stat(archived.c_str(), &st), 0);
    EXPECT_EQ(static_cast<long>(st.st_uid), nobody) << archived;
  }
  stack.signal(SIGTERM);
  EXPECT_EQ(stack.wait(60s), 0) << read_text(dir / "stack.err");
}

}  // namespace
}  // namespace d4::test
