// End to end through the real ingest server: D4 streams sent to d4-server (plain loopback
// listener), stored in Redis by it, rebuilt by d4-worker into archives and analyzer queues.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "protocol/encoder.hpp"
#include "queues/queue_store.hpp"
#include "support/bytes.hpp"
#include "support/text.hpp"
#include "workers/worker_fixture.hpp"

namespace d4::test {
namespace {
namespace fs = std::filesystem;
namespace keys = core::keys;

// A raw TCP connection to the server's plain (loopback) listener.
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect failed");
  }
  ~Connection() { close(); }
  bool send(const std::vector<std::uint8_t>& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // True when the server closes the connection (the server never sends data).
  bool closed_by_server() {
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Unblocks a send() held by back-pressure in another thread.
  void shutdown() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

 private:
  int fd_ = -1;
};

class ServerEndToEnd : public WorkerTest {
 protected:
  void SetUp() override {
    if (!fs::exists(bin_dir() / "d4-server")) GTEST_SKIP() << "d4-server is not built in " << bin_dir();
    Process gen({(bin_dir() / "d4-server").string(), "--generate-cert", (dir / "certs").string()});
    ASSERT_EQ(gen.wait(std::chrono::seconds(30)), 0);
    start_server("server", stream_ep(), meta_ep(), plain_port, server);
  }
  // Starts a d4-server on a plain loopback port with the given Redis databases.
  void start_server(const std::string& name, const std::string& stream_db, const std::string& meta_db,
                    int& port, Process& proc, const std::string& extra_server_toml = "") {
    auto conf = dir / (name + ".toml");
    std::ofstream f(conf);
    f << "[general]\nlog_level = \"info\"\n\n[redis]\nstream = \"" << stream_db << "\"\nmeta = \"" << meta_db
      << "\"\n\n[server]\nlisten = [\"127.0.0.1:0\"]\nplain_listen = [\"127.0.0.1:0\"]\n"
      << "metrics_listen = \"127.0.0.1:0\"\ntls_cert = \"certs/server.crt\"\ntls_key = \"certs/server.key\"\n"
      << "mode = \"shared-secret\"\ndefault_hmac_key = \"d4-test-key\"\nthreads = 1\n"
      << "policy_refresh_ms = 100\nflush_interval_ms = 50\n"
      << extra_server_toml;
    f.close();
    Process::Options o;
    o.stderr_file = dir / (name + ".log");
    o.cwd = dir.path();
    proc = Process({(bin_dir() / "d4-server").string(), "-c", conf.string()}, o);
    port = wait_for_listening(dir / (name + ".log"), "sensors, plain TCP", proc, std::chrono::seconds(60));
    int p = port;
    ASSERT_TRUE(eventually(
        [&] {
          if (!proc.running()) return false;
          try {
            Connection c(p);
            return true;
          } catch (...) {
            return false;
          }
        },
        std::chrono::seconds(20)))
        << read_text(dir / (name + ".log"));
  }
  int plain_port = 0;
  Process server;
};

std::vector<std::uint8_t> bytes_of(const std::string& name) {
  return read_file(vector_path(name));
}

TEST_F(ServerEndToEnd, ReferenceClientVectorsBecomeArchivesAndQueueItems) {
  std::string q1 = create_queue("1"), q8 = create_queue("8"), q3 = create_queue("3");
  auto worker = start_worker();
  for (const char* v : {"c-client-type1-dns.d4", "c-client-type8-passivedns.d4", "c-client-type3-log.d4"}) {
    Connection c(plain_port);
    ASSERT_TRUE(c.send(bytes_of(v)));
    c.close();
  }
  auto csv = read_text(vector_path("dns.passivedns.csv"));
  auto log = read_text(vector_path("auth.log"));
  ASSERT_TRUE(eventually(
      [&] {
        return queue_items("8", q8).size() == 60 && queue_items("1", q1).size() == 1 &&
               queue_items("3", q3).size() == 2;
      },
      std::chrono::seconds(30)))
      << read_text(dir / "server.log");
  EXPECT_EQ(queue_items("8", q8), lines_of(csv));
  EXPECT_EQ(queue_items("3", q3), lines_of(log));
  auto pcap = queue_items("1", q1);
  ASSERT_EQ(pcap.size(), 1u);
  EXPECT_EQ(gunzip_file(pcap[0]), read_text(vector_path("dns.pcap")));
  // Sessions are cleaned up once the server ended them.
  ASSERT_TRUE(eventually([&] {
    return stream.command({"SCARD", keys::sessions_of_type("1")}).integer == 0 &&
           stream.command({"SCARD", keys::sessions_of_type("8")}).integer == 0 &&
           stream.command({"SCARD", keys::sessions_of_type("3")}).integer == 0;
  }));
  worker.stop();
}

TEST_F(ServerEndToEnd, MalformedPcapMakesTheServerCloseTheSensor) {
  auto uuid = protocol::Uuid::parse("8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01").value();
  protocol::PacketEncoder enc(1, 1, uuid, "d4-test-key");
  auto worker = start_worker("", {"--types", "1"});
  Connection c(plain_port);
  std::string junk(200, 'j');
  std::vector<std::uint8_t> pkt;
  enc.append_packet(pkt, std::span(reinterpret_cast<const std::uint8_t*>(junk.data()), junk.size()),
                    1700000000);
  ASSERT_TRUE(c.send(pkt));
  ASSERT_TRUE(eventually(
      [&] {
        return meta.command({"HGET", keys::sensor_rejects(kSensor), "pcap-invalid"}).str == "1";
      },
      std::chrono::seconds(20)));
  // The server drops the session on its next packet.
  bool closed = eventually(
      [&] {
        std::vector<std::uint8_t> more;
        enc.append_packet(more, std::span(reinterpret_cast<const std::uint8_t*>(junk.data()), junk.size()),
                          1700000000);
        return !c.send(more) || c.closed_by_server();
      },
      std::chrono::seconds(20), std::chrono::milliseconds(200));
  EXPECT_TRUE(closed);
  // Both sides are visible in the sensor's error list: the worker's reason and the server's close.
  auto errors = meta.command({"LRANGE", keys::sensor_errors(kSensor), "0", "-1"}).as_strings();
  bool worker_entry = false;
  for (const auto& e : errors)
    worker_entry |= e.find("pcap-invalid") != std::string::npos && e.find("worker:1") != std::string::npos;
  EXPECT_TRUE(worker_entry);
  EXPECT_TRUE(eventually([&] { return meta.command({"LLEN", keys::sensor_errors(kSensor)}).integer >= 2; }));
  worker.stop();
}

TEST_F(ServerEndToEnd, MetaHeaderSplitAcrossPacketsThenExtendedData) {
  std::string q = create_queue("maltrail");
  auto uuid = protocol::Uuid::parse("8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01").value();
  protocol::PacketEncoder enc(1, 2, uuid, "d4-test-key");
  std::vector<std::uint8_t> out;
  auto add = [&](std::string_view payload) {
    enc.append_packet(out, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
                      1700000000);
  };
  add("{\"type\": \"malt");
  add("rail\", \"tags\": [\"tlp:green\"]}");
  enc.set_type(254);
  add("trail-1\ntrai");
  add("l-2\n");
  auto worker = start_worker("", {"--types", "2"});
  Connection c(plain_port);
  ASSERT_TRUE(c.send(out));
  c.close();
  ASSERT_TRUE(eventually([&] { return queue_items("maltrail", q).size() == 2; }, std::chrono::seconds(20)))
      << read_text(dir / "server.log");
  EXPECT_EQ(queue_items("maltrail", q), (std::vector<std::string>{"trail-1", "trail-2"}));
  worker.stop();
}

TEST_F(ServerEndToEnd, MalformedMetaHeaderIsRejectedWithItsReason) {
  auto uuid = protocol::Uuid::parse("8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01").value();
  protocol::PacketEncoder enc(1, 2, uuid, "d4-test-key");
  std::vector<std::uint8_t> out;
  auto add = [&](std::string_view payload) {
    enc.append_packet(out, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
                      1700000000);
  };
  add("{\"no type here\": ");
  add("true}");
  auto worker = start_worker("", {"--types", "2"});
  Connection c(plain_port);
  ASSERT_TRUE(c.send(out));
  ASSERT_TRUE(eventually(
      [&] {
        return meta.command({"HGET", keys::sensor_rejects(kSensor), "meta-invalid"}).str == "1";
      },
      std::chrono::seconds(20)));
  enc.set_type(254);
  bool closed = eventually(
      [&] {
        out.clear();
        add("data\n");
        return !c.send(out) || c.closed_by_server();
      },
      std::chrono::seconds(20), std::chrono::milliseconds(200));
  EXPECT_TRUE(closed);
  auto errors = meta.command({"LRANGE", keys::sensor_errors(kSensor), "0", "-1"}).as_strings();
  bool found = false;
  for (const auto& e : errors)
    found |=
        e.find("meta-invalid") != std::string::npos && e.find("no \\\"type\\\" key") != std::string::npos;
  EXPECT_TRUE(found) << (errors.empty() ? "" : errors.back());
  worker.stop();
}

TEST_F(ServerEndToEnd, SensorHeldAtItsByteLimitResumesAsTheWorkerCatchesUpWithNothingLost) {
  int port = 0;
  Process limited;
  start_server("limited", stream_ep(), meta_ep(), port, limited, "max_session_backlog_bytes = 100000\n");
  std::string q = create_queue("3");
  auto uuid = protocol::Uuid::parse("8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01").value();
  protocol::PacketEncoder enc(1, 3, uuid, "d4-test-key");
  std::vector<std::uint8_t> out;
  std::vector<std::string> lines;
  for (int i = 0; i < 300; ++i) {
    lines.push_back(fmt::format("line {:04} {}", i, std::string(990, 'x')));
    std::string payload = lines.back() + "\n";
    enc.append_packet(out, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
                      1700000000);
  }
  Connection c(port);
  std::thread sender([&] { c.send(out); });
  struct JoinOnExit {
    Connection& c;
    std::thread& t;
    ~JoinOnExit() {
      if (!t.joinable()) return;
      c.shutdown();
      t.join();
    }
  } join_on_exit{c, sender};
  // No worker yet: the session waits at its limit, within one packet.
  auto backlog = [&] {
    return stream.command({"HGET", keys::kBacklogBytesBySensor, kSensor}).as_integer().value_or(0);
  };
  ASSERT_TRUE(eventually([&] { return backlog() >= 100'000; })) << read_text(dir / "limited.log");
  // The session paused at the limit (recorded in the sensor's backpressure counts).
  ASSERT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::sensor_backpressure(kSensor), "session_bytes"})
               .as_integer()
               .value_or(0) >= 1;
  })) << read_text(dir / "limited.log");
  EXPECT_LT(backlog(), 100'000 + 2'000);
  // The worker drains the backlog; the session goes on and every line arrives once, in order.
  auto worker = start_worker("", {"--types", "3"});
  sender.join();
  c.close();
  ASSERT_TRUE(
      eventually([&] { return queue_items("3", q).size() == lines.size(); }, std::chrono::seconds(60)))
      << queue_items("3", q).size();
  EXPECT_EQ(queue_items("3", q), lines);
  // The counts went back to nothing once the session was processed and cleaned up.
  EXPECT_TRUE(eventually([&] {
    return stream.command({"EXISTS", keys::kBacklogBytesBySensor}).integer == 0 &&
           stream.command({"EXISTS", keys::kBacklogBytesBySession}).integer == 0;
  }));
  EXPECT_GE(
      meta.command({"HGET", keys::sensor_backpressure(kSensor), "session_bytes"}).as_integer().value_or(0),
      1);
  worker.stop();
}

// Streams the elements of an analyzer queue to a D4 server as one sensor, oldest first, each
// element followed by "\n"; with a meta header the data is sent as type 2 + 254. This is what the
// Go client's d4server source does (our sensor client will get the same source).
void forward_queue(core::RedisClient& analyzer_db, const std::string& list, int port,
                   const protocol::Uuid& sensor, std::uint8_t type, const std::string& meta_header = {}) {
  protocol::PacketEncoder enc(1, meta_header.empty() ? type : 2, sensor, "d4-test-key");
  std::vector<std::uint8_t> out;
  auto add = [&](std::string_view payload) {
    enc.append_packet(out, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
                      protocol::unix_seconds());
  };
  if (!meta_header.empty()) {
    add(meta_header);
    enc.set_type(254);
  }
  for (;;) {
    auto r = analyzer_db.command({"RPOP", list});
    if (r.is_nil()) break;
    add(r.str + "\n");
  }
  Connection c(port);
  ASSERT_TRUE(c.send(out));
  c.close();
}

// Two servers chained by a queue forwarder: server A receives a sensor's passive DNS and maltrail
// data (with tags in its meta header); its queues are streamed to server B (its own databases on
// the same redis-servers) as another sensor, as the Go client's d4server source does.
class ServersChainedByAQueueForwarder : public ServerEndToEnd {
 protected:
  static constexpr const char* kMetaHeader =
      R"({"type": "maltrail", "tags": ["tlp:green", "misp-galaxy:sector=\"Finance\""]})";

  void SetUp() override {
    ServerEndToEnd::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(start_server_b());
    ASSERT_NO_FATAL_FAILURE(fill_queues_of_server_a());
    ASSERT_NO_FATAL_FAILURE(forward_queue(analyzer, keys::analyzer_list("8", q8_a_), port_b_, forwarder_, 8));
    ASSERT_NO_FATAL_FAILURE(
        forward_queue(analyzer, keys::analyzer_list("maltrail", qm_a_), port_b_, forwarder_, 2, kMetaHeader));
  }
  void TearDown() override {
    worker_a_.stop();
    worker_b_.stop();
  }

  void start_server_b() {
    meta_b_.emplace(core::RedisEndpoint{"127.0.0.1", meta_redis.port(), {}, 3, {}});
    analyzer_b_.emplace(core::RedisEndpoint{"127.0.0.1", meta_redis.port(), {}, 4, {}});
    meta_b_->command_ok({"SADD", keys::kAcceptedTypes, "1", "2", "3", "4", "8", "254"});
    meta_b_->command_ok({"SADD", keys::kAcceptedExtendedTypes, "maltrail"});
    ASSERT_NO_FATAL_FAILURE(
        start_server("server-b", stream_redis.endpoint(1), meta_redis.endpoint(3), port_b_, server_b_));
    queues::QueueStore store_b(*meta_b_, *analyzer_b_, 1000);
    queues::QueueSpec spec;
    spec.target = queues::QueueTarget::numeric(8);
    q8_b_ = store_b.create(spec);
    spec.target = queues::QueueTarget::extended("maltrail");
    qm_b_ = store_b.create(spec);
    std::ofstream conf(dir / "worker-b.toml");
    conf << "[general]\nlog_level = \"warn\"\n[redis]\nstream = \"" << stream_redis.endpoint(1)
         << "\"\nmeta = \"" << meta_redis.endpoint(3) << "\"\nanalyzer = \"" << meta_redis.endpoint(4)
         << "\"\n[workers]\nmonitor_interval_seconds = 0\narchive_dir = \"" << (dir / "archive-b").string()
         << "\"\n";
    conf.close();
    Process::Options wo;
    wo.stderr_file = dir / "worker-b.log";
    worker_b_ = Process({(bin_dir() / "d4-worker").string(), "-c", (dir / "worker-b.toml").string()}, wo);
  }

  void fill_queues_of_server_a() {
    q8_a_ = create_queue("8");
    qm_a_ = create_queue("maltrail");
    worker_a_ = start_worker();
    {
      Connection c(plain_port);
      ASSERT_TRUE(c.send(bytes_of("c-client-type8-passivedns.d4")));
    }
    auto sensor = protocol::Uuid::parse(kSensor).value();
    protocol::PacketEncoder enc(1, 2, sensor, "d4-test-key");
    std::vector<std::uint8_t> out;
    auto add = [&](std::string_view payload) {
      enc.append_packet(out, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
                        1700000000);
    };
    add(kMetaHeader);
    enc.set_type(254);
    add("evil.example,malware\nbad.example,c2\n");
    {
      Connection c(plain_port);
      ASSERT_TRUE(c.send(out));
    }
    ASSERT_TRUE(eventually(
        [&] { return queue_items("8", q8_a_).size() == 60 && queue_items("maltrail", qm_a_).size() == 2; },
        std::chrono::seconds(30)));
  }

  // Server B's queue, oldest first.
  std::vector<std::string> items_b(const queues::QueueInfo& q) {
    auto v = analyzer_b_->command({"LRANGE", q.list_key(), "0", "-1"}).as_strings();
    std::reverse(v.begin(), v.end());
    return v;
  }
  // Every forwarded element is in server B's queues.
  void wait_for_forwarded_items() {
    ASSERT_TRUE(eventually([&] { return items_b(q8_b_).size() == 60 && items_b(qm_b_).size() == 2; },
                           std::chrono::seconds(30)))
        << read_text(dir / "server-b.log") << read_text(dir / "worker-b.log");
  }
  fs::path archive_b() const { return dir / "archive-b" / forwarder_.dashless(); }

  std::optional<core::RedisClient> meta_b_, analyzer_b_;
  int port_b_ = 0;
  Process server_b_, worker_b_, worker_a_;
  queues::QueueInfo q8_b_, qm_b_;
  std::string q8_a_, qm_a_;
  const protocol::Uuid forwarder_ = protocol::Uuid::parse("0a0b0c0d-0e0f-4000-8000-0000000000f0").value();
};

TEST_F(ServersChainedByAQueueForwarder, ForwardedQueueItemsReachServerBsQueuesIntact) {
  ASSERT_NO_FATAL_FAILURE(wait_for_forwarded_items());
  EXPECT_EQ(items_b(q8_b_), lines_of(read_text(vector_path("dns.passivedns.csv"))));
  EXPECT_EQ(items_b(qm_b_), (std::vector<std::string>{"evil.example,malware", "bad.example,c2"}));
}

TEST_F(ServersChainedByAQueueForwarder, ServerBArchivesTheForwardedMetaHeaderWithItsTags) {
  ASSERT_NO_FATAL_FAILURE(wait_for_forwarded_items());
  auto metas = files_under(archive_b() / "254", ".json");
  ASSERT_EQ(metas.size(), 1u);
  auto j = nlohmann::json::parse(read_all(metas[0]));
  EXPECT_EQ(j["tags"], nlohmann::json::parse(kMetaHeader)["tags"]);
}

// The sensor's latest meta header per extended type, for the MISP feed's tags.
TEST_F(ServersChainedByAQueueForwarder, ServerBKeepsTheForwardersLatestMetaHeaderPerExtendedType) {
  ASSERT_NO_FATAL_FAILURE(wait_for_forwarded_items());
  auto kept = meta_b_->command({"HGET", keys::sensor_meta_header(forwarder_.dashless()), "maltrail"});
  EXPECT_EQ(nlohmann::json::parse(kept.str), nlohmann::json::parse(kMetaHeader));
}

TEST_F(ServersChainedByAQueueForwarder, ServerBArchivesTheForwardedPassiveDnsStream) {
  ASSERT_NO_FATAL_FAILURE(wait_for_forwarded_items());
  ASSERT_TRUE(eventually([&] { return files_under(archive_b() / "8", ".gz").size() == 1; }));
  EXPECT_EQ(gunzip_file(files_under(archive_b() / "8", ".gz")[0]),
            read_text(vector_path("dns.passivedns.csv")));
}

// One D4 stream of `type` from `sensor`: `data` cut into `size`-byte payloads.
struct CoalesceInput {
  std::uint8_t type;
  std::string data, suffix;
  std::size_t size;
};

std::vector<std::uint8_t> d4_stream_of(const protocol::Uuid& sensor, const CoalesceInput& in) {
  protocol::PacketEncoder enc(1, in.type, sensor, "d4-test-key");
  std::vector<std::uint8_t> out;
  for (const auto& part : chunk(in.data, in.size))
    enc.append_packet(out, std::span(reinterpret_cast<const std::uint8_t*>(part.data()), part.size()),
                      1700000000);
  return out;
}

long long xadd_calls_of(core::RedisClient& redis) {
  auto info = redis.command({"INFO", "commandstats"}).str;
  auto at = info.find("cmdstat_xadd:calls=");
  return at == std::string::npos ? 0 : std::stoll(info.substr(at + 19));
}

// The default server coalesces consecutive packets into stream entries; a second one stores one
// entry per packet (coalesce_max_bytes = 0). The same streams are sent through each, by two
// sensors: pcap (1) and two line types (3, 8), each input its own session.
class CoalescingServers : public ServerEndToEnd {
 protected:
  void SetUp() override {
    ServerEndToEnd::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(start_server("server-off", stream_ep(), meta_ep(), off_port_, off_server_,
                                         "coalesce_max_bytes = 0\n"));
    q1_ = create_queue("1");
    q8_ = create_queue("8");
    q3_ = create_queue("3");
    worker_ = start_worker();
    const long long calls_before = xadd_calls_of(stream);
    ASSERT_NO_FATAL_FAILURE(send_all(off_port_, off_sensor_));
    off_calls_ = xadd_calls_of(stream) - calls_before;
    ASSERT_NO_FATAL_FAILURE(send_all(plain_port, on_sensor_));
    on_calls_ = xadd_calls_of(stream) - calls_before - off_calls_;
  }
  void TearDown() override { worker_.stop(); }

  // Sends every input as its own session and waits until the worker has ended them all.
  void send_all(int port, const protocol::Uuid& sensor) {
    for (const auto& in : inputs_) {
      Connection c(port);
      ASSERT_TRUE(c.send(d4_stream_of(sensor, in)));
      c.close();
    }
    ASSERT_TRUE(eventually(
        [&] {
          for (const auto& in : inputs_)
            if (files_under(archive() / sensor.dashless() / std::to_string(in.type), in.suffix).size() != 1)
              return false;
          return stream.command({"SCARD", keys::sessions_of_type("1")}).integer == 0 &&
                 stream.command({"SCARD", keys::sessions_of_type("8")}).integer == 0 &&
                 stream.command({"SCARD", keys::sessions_of_type("3")}).integer == 0;
        },
        std::chrono::seconds(30)))
        << read_text(dir / "server.log");
  }

  const std::vector<CoalesceInput> inputs_ = {
      {1, read_text(vector_path("dns.pcap")), ".cap.gz", 1000},
      {8, read_text(vector_path("dns.passivedns.csv")), ".passivedns.txt.gz", 200},
      {3, read_text(vector_path("auth.log")), ".syslog.txt.gz", 16}};
  const protocol::Uuid on_sensor_ = protocol::Uuid::parse("c0a1e5ce-0000-4000-8000-000000000001").value();
  const protocol::Uuid off_sensor_ = protocol::Uuid::parse("c0a1e5ce-0000-4000-8000-000000000002").value();
  int off_port_ = 0;
  Process off_server_, worker_;
  std::string q1_, q8_, q3_;
  long long off_calls_ = 0, on_calls_ = 0;  // XADD calls for each sensor's streams
};

TEST_F(CoalescingServers, WithoutCoalescingEachPacketIsOneEntryAndWithItThereAreFewer) {
  std::uint64_t packets = 0;
  for (const auto& in : inputs_) packets += (in.data.size() + in.size - 1) / in.size;
  // Off: one XADD per packet, as the reference. On: fewer (how many depends on how the server's
  // reads cut the stream into batches; an entry never spans two batches).
  EXPECT_EQ(off_calls_, static_cast<long long>(packets));
  EXPECT_LT(on_calls_, off_calls_);
}

TEST_F(CoalescingServers, CoalescedEntriesRebuildTheSameFilesAsOneEntryPerPacket) {
  for (const auto& in : inputs_) {
    auto on = files_under(archive() / on_sensor_.dashless() / std::to_string(in.type), in.suffix);
    auto off = files_under(archive() / off_sensor_.dashless() / std::to_string(in.type), in.suffix);
    ASSERT_EQ(on.size(), 1u);
    ASSERT_EQ(off.size(), 1u);
    EXPECT_EQ(gunzip_file(on[0]), gunzip_file(off[0])) << int{in.type};
    EXPECT_EQ(gunzip_file(on[0]), in.data) << int{in.type};
  }
}

TEST_F(CoalescingServers, EachLineReachesTheQueuesOncePerSensor) {
  auto twice = [](const std::vector<std::string>& lines) {
    std::multiset<std::string> s(lines.begin(), lines.end());
    s.insert(lines.begin(), lines.end());
    return s;
  };
  auto items8 = queue_items("8", q8_), items3 = queue_items("3", q3_);
  EXPECT_EQ(std::multiset<std::string>(items8.begin(), items8.end()), twice(lines_of(inputs_[1].data)));
  EXPECT_EQ(std::multiset<std::string>(items3.begin(), items3.end()), twice(lines_of(inputs_[2].data)));
  EXPECT_EQ(queue_items("1", q1_).size(), 2u);
}

}  // namespace
}  // namespace d4::test
