#include "analyzers/tls/fingerprint_app.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "analyzers/common/analyzer_metrics.hpp"
#include "analyzers/common/frame_source.hpp"
#include "analyzers/common/tcp_limits.hpp"
#include "analyzers/tls/session.hpp"
#include "core/cli.hpp"
#include "core/stop_signal.hpp"

namespace d4::analyzers::tls {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFingerprintTool = "d4-tls-fingerprint";
constexpr std::string_view kFingerprintSection = "analyzers.tls";

class SessionWriter {
 public:
  explicit SessionWriter(const FingerprintSettings& s) : s_(s) {
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
  const FingerprintSettings& s_;
  std::set<std::string> written_certs_;
};

TrackerOptions tracker_options(const FingerprintSettings& s, const toml::table& root) {
  TrackerOptions to;
  to.partial = !s.no_partial && core::get_bool(root, kFingerprintSection, "partial", true);
  to.ja3_quirk = s.ja3_quirk || core::get_bool(root, kFingerprintSection, "ja3_grease_quirk", false);
  to.tcp = read_tcp_limits(root, kFingerprintSection, to.tcp);
  to.tcp.idle_timeout_ns = s.flow_timeout * 1000000000LL;
  if (s.max_flows > 0) to.tcp.max_flows = s.max_flows;
  if (s.max_memory_mb > 0) to.tcp.max_bytes = s.max_memory_mb << 20;
  return to;
}

void print_hello(const HelloEvent& e) {
  std::printf("%llu|%s|%u|%s|%u|%s|%s|%s|%s|%s\n", static_cast<unsigned long long>(e.frame),
              e.src.to_string().c_str(), e.sport, e.dst.to_string().c_str(), e.dport,
              e.handshake_types.c_str(), e.ja3.c_str(), e.ja3_md5.c_str(), e.ja3s.c_str(),
              e.ja3s_md5.c_str());
}

void log_stats(const TlsTracker& tracker) {
  const auto& st = tracker.stats();
  spdlog::info(
      "{} frame(s), {} ClientHello, {} ServerHello, {} certificate(s) ({} unparsed), {} session(s) ({} "
      "partial), "
      "{} non-TLS stream(s), {} malformed hello(s), {} TLSH refused (input too short or too uniform)",
      st.frames, st.client_hellos, st.server_hellos, st.certificates, st.unparsed_certificates, st.sessions,
      st.partial_sessions, st.not_tls_streams, st.bad_hellos, st.tlsh_refused);
  spdlog::info("TCP: {}", packet::describe(tracker.tcp_stats(), tracker.tcp().flow_count(),
                                           tracker.tcp().memory_bytes()));
}

// Published by the consuming thread after each batch.
void publish_fingerprint_metrics(AnalyzerMetrics& m, const TlsTracker& tracker, const CaptureStats& cs) {
  if (!m.enabled()) return;
  const auto& st = tracker.stats();
  m.set_capture_counters("d4_tls_fingerprint", cs);
  m.set_counter("d4_tls_fingerprint_sessions_total", "TLS sessions fingerprinted (ja3-jl records written)",
                st.sessions);
  m.set_counter("d4_tls_fingerprint_certificates_total", "Certificates seen in handshakes", st.certificates);
  const std::string errors = "d4_tls_fingerprint_errors_total";
  const std::string help = "Inputs that could not be analysed, by reason";
  m.set_counter(errors, help, st.bad_hellos, {{"reason", "malformed_hello"}});
  m.set_counter(errors, help, st.unparsed_certificates, {{"reason", "unparsed_certificate"}});
  m.set_counter(errors, help, st.undecodable_frames, {{"reason", "undecodable_frame"}});
  m.set_counter(errors, help, st.not_tls_streams, {{"reason", "not_tls"}});
}

}  // namespace

int check_fingerprint_config(const FingerprintSettings& s) {
  AppConfig cfg = cli::start(kFingerprintTool, s.common);
  tracker_options(s, cfg.root);
  return cli::config_ok(kFingerprintTool, s.common);
}

int run_fingerprint(const FingerprintSettings& s) {
  AppConfig cfg = cli::start(kFingerprintTool, s.common);
  SessionWriter writer(s);
  const bool psv = s.format == "psv";
  TlsTracker tracker(
      [&](const TlsSession& session) {
        if (!psv) writer.write(session);
      },
      [&](const HelloEvent& e) {
        if (psv) print_hello(e);
      },
      tracker_options(s, cfg.root));
  TcpPressureLog pressure(kFingerprintTool);
  std::uint64_t since_check = 0;
  auto handle = [&](const packet::Frame& f) {
    tracker.process(f);
    if (++since_check % 65536 == 0) pressure.check(tracker.tcp());
  };
  CaptureStats cs;
  int failures = 0;
  for (const auto& f : s.capture.files)
    if (!for_each_frame_in_file(f, handle, cs, core::stop_flag())) ++failures;
  if (!s.capture.interface.empty())
    for_each_live_frame(
        cli::live_options(s.capture, kFingerprintTool, cfg), handle, [] { std::fflush(stdout); }, cs,
        core::stop_flag());
  // Only -u names a type-1 queue here: [analyzers.tls] queue is d4-passivessl's ja3-jl queue.
  if (!s.queue.queue.empty()) {
    QueueConsumerOptions qo = cli::consumer_options(s.queue, cfg, "", kFingerprintTool, "1", s.queue.queue);
    qo.batch_size = 1;
    spdlog::info("consuming {} on {}", qo.list_key, qo.endpoint.to_string());
    AnalyzerMetrics metrics(
        std::string(kFingerprintTool),
        cli::metrics_listen(s.queue.metrics_listen, cfg, kFingerprintSection, "fingerprint_metrics_listen"));
    auto consumer = std::make_shared<QueueConsumer>(qo);
    metrics.watch_consumer(consumer);
    publish_fingerprint_metrics(metrics, tracker, cs);  // every series from the start, at 0
    metrics.start();
    cli::drop_privileges(kFingerprintTool, cfg);
    consumer->run(
        [&](const std::vector<std::string>& batch) {
          for (const auto& path : batch)
            if (!for_each_frame_in_file(path, handle, cs, core::stop_flag())) ++failures;
          std::fflush(stdout);
          publish_fingerprint_metrics(metrics, tracker, cs);
        },
        core::stop_flag());
  }
  tracker.finish();
  std::fflush(stdout);
  log_stats(tracker);
  return failures ? kExitInputUnreadable : 0;
}

}  // namespace d4::analyzers::tls
