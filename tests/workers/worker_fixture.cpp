#include "workers/worker_fixture.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <fstream>

#include "core/keys.hpp"
#include "protocol/framer.hpp"
#include "protocol/hmac.hpp"
#include "queues/queue_store.hpp"
#include "support/bytes.hpp"

namespace d4::test {
namespace fs = std::filesystem;
namespace keys = core::keys;

std::vector<std::string> payloads_of_d4_file(const std::string& path) {
  auto bytes = read_file(path);
  protocol::FramerOptions opt;
  protocol::Framer framer(opt);
  framer.set_key(protocol::HmacKey("d4-test-key"));
  framer.feed(bytes);
  std::vector<std::string> out;
  protocol::Packet p;
  while (framer.next(p) == protocol::Framer::Status::Ready)
    out.emplace_back(reinterpret_cast<const char*>(p.payload.data()), p.payload.size());
  if (framer.error() != protocol::FrameError::None) throw std::runtime_error("bad vector " + path);
  return out;
}

std::vector<std::string> chunk(std::string_view data, std::size_t size) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < data.size(); i += size) out.emplace_back(data.substr(i, size));
  return out;
}

std::string gunzip_file(const fs::path& p) {
  gzFile f = gzopen(p.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + p.string());
  std::string out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  gzclose(f);
  return out;
}

std::string unzstd_file(const fs::path& p) {
  std::string in = read_all(p), out;
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  std::string buf(1 << 16, '\0');
  while (ib.pos < ib.size) {
    ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
    std::size_t rc = ZSTD_decompressStream(d, &ob, &ib);
    if (ZSTD_isError(rc)) {
      ZSTD_freeDCtx(d);
      throw std::runtime_error("bad zstd file " + p.string());
    }
    out.append(buf.data(), ob.pos);
  }
  ZSTD_freeDCtx(d);
  return out;
}

std::vector<fs::path> files_under(const fs::path& dir, std::string_view suffix) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string s = e.path().string();
    if (suffix.empty() ||
        (s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_all(const fs::path& p) {
  auto v = read_file(p.string());
  return std::string(v.begin(), v.end());
}

WorkerTest::WorkerTest()
    : stream(core::RedisEndpoint{"127.0.0.1", stream_redis.port(), {}, 0, {}}),
      meta(core::RedisEndpoint{"127.0.0.1", meta_redis.port(), {}, 0, {}}),
      analyzer(core::RedisEndpoint{"127.0.0.1", meta_redis.port(), {}, 2, {}}) {
  meta.command_ok({"SADD", keys::kAcceptedTypes, "1", "2", "3", "4", "5", "6", "7", "8", "254"});
  meta.command_ok({"SADD", keys::kAcceptedExtendedTypes, "ja3-jl", "maltrail", "filewatcher",
                   "filewatcherjson", "d4-telemetry"});
}

WorkerTest::~WorkerTest() = default;

void WorkerTest::add_packets(int type, const std::string& session, const std::vector<std::string>& payloads,
                             const std::string& sensor) {
  std::string key = keys::stream(std::to_string(type), session);
  std::vector<std::vector<std::string>> cmds;
  for (const auto& p : payloads) {
    std::string id = std::to_string(next_id_++) + "-0";
    cmds.push_back(
        {"XADD", key, id, "message", p, "uuid", sensor, "timestamp", "1700000000", "version", "1"});
    if (cmds.size() == 500) {
      for (auto& r : stream.pipeline(cmds)) ASSERT_FALSE(r.is_error()) << r.str;
      cmds.clear();
    }
  }
  if (!cmds.empty()) {
    for (auto& r : stream.pipeline(cmds)) ASSERT_FALSE(r.is_error()) << r.str;
  }
  // The server registers 2->254 sessions under type 2 only.
  if (type != 254) stream.command_ok({"SADD", keys::sessions_of_type(std::to_string(type)), session});
}

void WorkerTest::end_session(const std::string& session) {
  stream.command_ok({"SADD", keys::kEndedSessions, session});
}

std::string WorkerTest::create_queue(const std::string& target, std::vector<std::string> sensors,
                                     std::optional<long long> max_size) {
  queues::QueueStore store(meta, analyzer, 100'000'000);
  queues::QueueSpec spec;
  spec.target = queues::QueueTarget::parse(target);
  spec.sensors = std::move(sensors);
  spec.max_size = max_size;
  return store.create(spec).id;
}

std::vector<std::string> WorkerTest::queue_items(const std::string& target, const std::string& queue) {
  auto r = analyzer.command({"LRANGE", keys::analyzer_list(target, queue), "0", "-1"});
  auto v = r.as_strings();
  std::reverse(v.begin(), v.end());
  return v;
}

bool WorkerTest::session_cleaned(int type, const std::string& session) {
  auto t = std::to_string(type);
  return stream.command({"EXISTS", keys::stream(t, session)}).integer == 0 &&
         stream.command({"SISMEMBER", keys::sessions_of_type(t), session}).integer == 0 &&
         stream.command({"SISMEMBER", keys::kEndedSessions, session}).integer == 0 &&
         stream.command({"SISMEMBER", keys::working_sessions(t), session}).integer == 0 &&
         analyzer.command({"EXISTS", keys::worker_progress(t, session)}).integer == 0 &&
         analyzer.command({"EXISTS", keys::worker_lease(t, session)}).integer == 0;
}

bool WorkerTest::wait_cleaned(int type, const std::string& session, std::chrono::milliseconds timeout) {
  return eventually([&] { return session_cleaned(type, session); }, timeout, std::chrono::milliseconds(50));
}

fs::path WorkerTest::config_path(const std::string& workers_toml) {
  fs::path p = dir / ("d4-" + std::to_string(config_counter_++) + ".toml");
  std::ofstream f(p);
  f << "[general]\nlog_level = \"warn\"\n\n[redis]\nstream = \"" << stream_ep() << "\"\nmeta = \""
    << meta_ep() << "\"\nanalyzer = \"" << analyzer_ep() << "\"\n\n[workers]\narchive_dir = \""
    << archive().string() << "\"\nmonitor_interval_seconds = 0\n"
    << workers_toml << "\n";
  return p;
}

Process WorkerTest::start_worker(const std::string& workers_toml, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{(bin_dir() / "d4-worker").string(), "-c", config_path(workers_toml).string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Process::Options o;
  o.stderr_file = dir / ("worker-" + std::to_string(config_counter_) + ".log");
  return Process(argv, o);
}

}  // namespace d4::test
