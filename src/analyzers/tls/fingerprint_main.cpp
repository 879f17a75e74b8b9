// d4-tls-fingerprint: TLS fingerprinting sensor (sensor-d4-tls-fingerprinting). Emits one ja3-jl
// JSON line per TLS session (for `d4-client` with type 254 and meta header {"type":"ja3-jl"}), or
// lists the JA3/JA3S of every hello (--format psv). Inputs: capture files, live capture, or the
// D4 type-1 analyzer queue. See docs/analyzers.md.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "analyzers/common/app.hpp"
#include "analyzers/common/frame_source.hpp"
#include "analyzers/common/queue_consumer.hpp"
#include "analyzers/common/tcp_limits.hpp"
#include "analyzers/tls/session.hpp"
#include "core/keys.hpp"
#include "core/stop_signal.hpp"

namespace {

using namespace d4::analyzers;
using namespace d4::analyzers::tls;
namespace core = d4::core;
namespace fs = std::filesystem;

constexpr std::string_view kSection = "analyzers.tls";

struct Settings {
  std::string config_path, log_level, log_format;
  std::vector<std::string> files;
  std::string interface, bpf;
  std::string format = "ja3-jl";
  std::string json_dir, cert_dir;
  bool no_partial = false;
  bool ja3_quirk = false;
  std::string queue, analyzer_redis, consumer;
  bool exit_when_empty = false;
  std::int64_t flow_timeout = 300;
  std::size_t max_flows = 0;      // 0: [analyzers.tls] tcp_max_flows (default 200,000)
  std::size_t max_memory_mb = 0;  // 0: [analyzers.tls] tcp_max_memory_mb (default 256)
};

class SessionWriter {
 public:
  explicit SessionWriter(const Settings& s) : s_(s) {
    for (const auto* d : {&s.json_dir, &s.cert_dir})
      if (!d->empty()) fs::create_directories(*d);
  }

  void write(const TlsSession& session) {
    std::string line = session_json(session).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (s_.json_dir.empty()) {
      line += '\n';
      if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size())
        throw std::runtime_error("cannot write to stdout");
    } else {
      // <Timestamp>.json as the reference, with a counter when two sessions share a timestamp.
      std::string base = rfc3339_nano(session.ts_ns);
      fs::path p = fs::path(s_.json_dir) / (base + ".json");
      for (int i = 1; fs::exists(p); ++i)
        p = fs::path(s_.json_dir) / (base + "-" + std::to_string(i) + ".json");
      std::ofstream(p, std::ios::binary) << line << '\n';
    }
    if (!s_.cert_dir.empty()) {
      for (const auto& c : session.certificates) {
        fs::path p = fs::path(s_.cert_dir) / (c.sha1 + ".crt");
        if (written_certs_.insert(c.sha1).second && !fs::exists(p))
          std::ofstream(p, std::ios::binary)
              .write(reinterpret_cast<const char*>(c.der.data()), static_cast<std::streamsize>(c.der.size()));
      }
    }
  }

 private:
  const Settings& s_;
  std::set<std::string> written_certs_;
};

int run(const Settings& s) {
  AppConfig cfg = load_app_config(s.config_path);
  init_analyzer_logging("d4-tls-fingerprint", cfg.common, s.log_level, s.log_format);
  const auto& root = cfg.root;
  TrackerOptions to;
  to.partial = !s.no_partial && core::get_bool(root, kSection, "partial", true);
  to.ja3_quirk = s.ja3_quirk || core::get_bool(root, kSection, "ja3_grease_quirk", false);
  to.tcp = read_tcp_limits(root, kSection, to.tcp);
  to.tcp.idle_timeout_ns = s.flow_timeout * 1000000000LL;
  if (s.max_flows > 0) to.tcp.max_flows = s.max_flows;
  if (s.max_memory_mb > 0) to.tcp.max_bytes = s.max_memory_mb << 20;
  TcpPressureLog pressure("d4-tls-fingerprint");

  SessionWriter writer(s);
  const bool psv = s.format == "psv";
  TlsTracker tracker(
      [&](const TlsSession& session) {
        if (!psv) writer.write(session);
      },
      [&](const HelloEvent& e) {
        if (!psv) return;
        std::printf("%llu|%s|%u|%s|%u|%s|%s|%s|%s|%s\n", static_cast<unsigned long long>(e.frame),
                    e.src.to_string().c_str(), e.sport, e.dst.to_string().c_str(), e.dport,
                    e.handshake_types.c_str(), e.ja3.c_str(), e.ja3_md5.c_str(), e.ja3s.c_str(),
                    e.ja3s_md5.c_str());
      },
      to);
  std::uint64_t since_check = 0;
  auto handle = [&](const d4::analyzers::packet::Frame& f) {
    tracker.process(f);
    if (++since_check % 65536 == 0) pressure.check(tracker.tcp());
  };
  CaptureStats cs;
  int failures = 0;
  for (const auto& f : s.files)
    if (!for_each_frame_in_file(f, handle, cs, core::stop_flag())) ++failures;
  if (!s.interface.empty()) {
    d4::analyzers::packet::LiveCapture::Options lo;
    lo.interface = s.interface;
    lo.bpf_filter = s.bpf;
    for_each_live_frame(
        lo, handle, [] { std::fflush(stdout); }, cs, core::stop_flag());
  }
  // Only -u names a type-1 queue here: [analyzers.tls] queue is d4-passivessl's ja3-jl queue.
  const std::string& queue = s.queue;
  if (!queue.empty()) {
    QueueConsumerOptions qo;
    qo.endpoint = !s.analyzer_redis.empty() ? parse_endpoint(s.analyzer_redis, "analyzer redis")
                                            : cfg.common.redis.analyzer;
    qo.list_key = core::keys::analyzer_list("1", queue);
    qo.consumer_name = !s.consumer.empty() ? s.consumer : default_consumer_name("d4-tls-fingerprint", queue);
    qo.batch_size = 1;
    qo.exit_when_empty = s.exit_when_empty;
    QueueConsumer consumer(qo);
    consumer.run(
        [&](const std::vector<std::string>& batch) {
          for (const auto& path : batch)
            if (!for_each_frame_in_file(path, handle, cs, core::stop_flag())) ++failures;
          std::fflush(stdout);
        },
        core::stop_flag());
  }
  tracker.finish();
  std::fflush(stdout);
  const auto& st = tracker.stats();
  spdlog::info(
      "{} frame(s), {} ClientHello, {} ServerHello, {} certificate(s) ({} unparsed), {} session(s) ({} "
      "partial), "
      "{} non-TLS stream(s), {} malformed hello(s), {} TLSH refused (input too short or too uniform)",
      st.frames, st.client_hellos, st.server_hellos, st.certificates, st.unparsed_certificates, st.sessions,
      st.partial_sessions, st.not_tls_streams, st.bad_hellos, st.tlsh_refused);
  spdlog::info("TCP: {}", d4::analyzers::packet::describe(tracker.tcp_stats(), tracker.tcp().flow_count(),
                                                          tracker.tcp().memory_bytes()));
  return failures ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  core::install_stop_handlers();
  Settings s;
  CLI::App app{
      "d4-tls-fingerprint: TLS fingerprinting sensor (JA3/JA3S, certificates) producing ja3-jl lines"};
  app.add_option("-c,--config", s.config_path, "D4 configuration file (TOML)");
  app.add_option("-r,--read", s.files, "capture file (pcap/pcapng, gzip allowed, - for stdin); repeatable");
  app.add_option("files", s.files, "more capture files");
  app.add_option("-i,--interface", s.interface, "live capture interface");
  app.add_option("-f,--filter", s.bpf, "BPF filter for live capture");
  app.add_option(
         "--format", s.format,
         "ja3-jl (sessions) or psv (one line per hello: frame|src|sport|dst|dport|types|ja3|md5|ja3s|md5)")
      ->check(CLI::IsMember({"ja3-jl", "psv"}));
  app.add_option("-j,--json-dir", s.json_dir,
                 "write each session to <dir>/<Timestamp>.json instead of stdout");
  app.add_option("-w,--cert-dir", s.cert_dir, "write each certificate as DER to <dir>/<sha1>.crt");
  app.add_flag("--no-partial", s.no_partial, "do not emit sessions with only one hello at flow end");
  app.add_flag("--ja3-grease-quirk", s.ja3_quirk,
               "reproduce the reference sensor's trailing '-' after a final GREASE value");
  app.add_option("-u,--queue", s.queue, "consume the type-1 analyzer queue with this UUID (pcap file paths)");
  app.add_option("--analyzer-redis", s.analyzer_redis,
                 "D4 analyzer queues host:port/db (default [redis] analyzer)");
  app.add_option("--consumer", s.consumer, "consumer name (names the processing list)");
  app.add_flag("--exit-when-empty", s.exit_when_empty, "return once the queue is drained");
  app.add_option("--flow-timeout", s.flow_timeout, "seconds of capture time after which an idle flow ends");
  app.add_option("--max-flows", s.max_flows, "bound on concurrently tracked TCP flows (default 200000)");
  app.add_option("--tcp-max-memory", s.max_memory_mb,
                 "MiB that all TCP flows may hold together, held-back data included (default 256)");
  app.add_option("--log-level", s.log_level, "trace, debug, info, warn, error");
  app.add_option("--log-format", s.log_format, "text or json");
  CLI11_PARSE(app, argc, argv);
  return run_tool("d4-tls-fingerprint", [&] {
    if (s.files.empty() && s.interface.empty() && s.queue.empty()) {
      std::cerr << app.help() << std::endl
                << "d4-tls-fingerprint: give capture files, --interface or --queue" << std::endl;
      return 64;
    }
    return run(s);
  });
}
