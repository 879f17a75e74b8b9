#include "analyzers/pibs/app.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "analyzers/common/analyzer_metrics.hpp"
#include "analyzers/common/frame_source.hpp"
#include "analyzers/packet/pcap_writer.hpp"
#include "analyzers/pibs/classifier.hpp"
#include "analyzers/pibs/victims.hpp"
#include "core/cli.hpp"
#include "core/keys.hpp"
#include "core/stop_signal.hpp"

namespace d4::analyzers::pibs {
namespace {

constexpr std::string_view kTool = "d4-pibs";
constexpr std::string_view kSection = "analyzers.pibs";

// The per-packet outputs: reference CSV on stdout (-b), JSON lines, pcap of the backscatter.
class Outputs {
 public:
  explicit Outputs(const Settings& s) : s_(s) {
    if (s.csv) std::fputs("#timestamp, source IP, TCP flags, source port\n", stdout);
    if (!s.json_out.empty()) {
      if (s.json_out == "-")
        json_ = stdout;
      else if (!(json_ = std::fopen(s.json_out.c_str(), "w")))
        throw std::runtime_error(s.json_out + ": cannot create");
    }
  }
  ~Outputs() {
    if (json_ && json_ != stdout) std::fclose(json_);
    std::fflush(stdout);
  }

  void backscatter(const packet::Frame& f, const packet::Packet& p) {
    if (s_.csv) {
      line_.clear();
      line_ += std::to_string(f.ts_seconds());
      line_ += ',';
      p.src.append_to(line_);
      line_ += ',';
      line_ += std::to_string(p.tcp.flags);
      line_ += ',';
      line_ += std::to_string(p.sport);
      line_ += '\n';
      std::fwrite(line_.data(), 1, line_.size(), stdout);
    }
    if (json_) write_json(f, p);
    if (!s_.pcap_out.empty()) {
      if (!pcap_) pcap_ = std::make_unique<packet::PcapWriter>(s_.pcap_out, f.linktype);
      if (pcap_->linktype() != f.linktype)
        ++pcap_linktype_mismatch_;
      else
        pcap_->write(f.ts_ns, f.bytes(), f.origlen);
    }
  }
  void flush() {
    std::fflush(stdout);
    if (json_) std::fflush(json_);
    if (pcap_) pcap_->flush();
  }
  std::uint64_t pcap_linktype_mismatch() const { return pcap_linktype_mismatch_; }

 private:
  void write_json(const packet::Frame& f, const packet::Packet& p) {
    nlohmann::ordered_json j{{"ts", static_cast<double>(f.ts_ns) / 1e9},
                             {"victim", p.src.to_string()},
                             {"sport", p.sport},
                             {"dst", p.dst.to_string()},
                             {"dport", p.dport},
                             {"flags", p.tcp.flags},
                             {"flag_class", to_string(classify_flags(p.tcp.flags))}};
    if (p.vlan_depth) j["vlan"] = p.vlan_id;
    std::string out = j.dump();
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), json_);
  }

  const Settings& s_;
  std::FILE* json_ = nullptr;
  std::unique_ptr<packet::PcapWriter> pcap_;
  std::string line_;
  std::uint64_t pcap_linktype_mismatch_ = 0;
};

// Reads every input the settings name: files, then live capture.
int read_files_and_interface(const Settings& s, const AppConfig& cfg, const FrameHandler& handle,
                             const std::function<void()>& on_idle, CaptureStats& cs) {
  int failures = 0;
  for (const auto& f : s.capture.files)
    if (!for_each_frame_in_file(f, handle, cs, core::stop_flag())) ++failures;
  if (!s.capture.interface.empty())
    for_each_live_frame(cli::live_options(s.capture, kTool, cfg), handle, on_idle, cs, core::stop_flag());
  return failures;
}

int run_isn(const Settings& s, const AppConfig& cfg) {
  CaptureStats cs;
  packet::Packet p;
  std::uint64_t hits = 0;
  auto handle = [&](const packet::Frame& f) {
    if (packet::decode(f.linktype, f.bytes(), p) != packet::DecodeStatus::Ok || !p.is_tcp() ||
        p.ip_version != 4)
      return;
    // Raw sequence number == raw destination address: a stateless scanner (e.g. Mirai) encoding
    // its target in the ISN.
    if (p.tcp.seq != p.dst.v4_value()) return;
    ++hits;
    if (s.isn_format == "hex") {
      std::printf("%x\n", p.tcp.seq);
    } else {
      nlohmann::ordered_json j{{"ts", f.ts_seconds()},     {"src", p.src.to_string()}, {"sport", p.sport},
                               {"dst", p.dst.to_string()}, {"dport", p.dport},         {"seq", p.tcp.seq},
                               {"flags", p.tcp.flags}};
      std::printf("%s\n", j.dump().c_str());
    }
  };
  int failures = read_files_and_interface(
      s, cfg, handle, [] { std::fflush(stdout); }, cs);
  std::fflush(stdout);
  spdlog::info("{} frame(s), {} ISN == destination address", cs.frames, hits);
  return failures ? kExitInputUnreadable : 0;
}

ClassifierOptions classifier_options(const Settings& s, const toml::table& root) {
  ClassifierOptions co;
  co.syn_window_seconds =
      s.syn_window >= 0 ? s.syn_window : core::get_int(root, kSection, "syn_window_seconds", 0);
  const std::int64_t table_mb =
      s.syn_table_mb >= 0 ? s.syn_table_mb : core::get_int(root, kSection, "syn_table_max_mb", 512);
  if (table_mb < 1) throw core::ConfigError("analyzers.pibs.syn_table_max_mb must be at least 1");
  co.max_table_bytes = static_cast<std::size_t>(table_mb) << 20;
  return co;
}

// Where per-victim aggregates go: --redis-endpoint, else results_redis, else the meta endpoint itself
// with db 4 (its text would lose the password).
core::RedisEndpoint results_endpoint(const Settings& s, const AppConfig& cfg) {
  if (!s.redis_out.empty()) return core::cli::endpoint_argument(s.redis_out, "--redis-endpoint");
  return core::get_endpoint(cfg.root, kSection, "results_redis",
                            cfg.common.redis.meta_database(core::keys::Database::PibsResults));
}

RedisVictimOptions results_options(const toml::table& root) {
  RedisVictimOptions ro;
  ro.prefix = core::get_string(root, kSection, "key_prefix", ro.prefix);
  ro.victim_ttl_seconds = core::get_int(root, kSection, "victim_ttl_seconds", 7 * 24 * 3600);
  return ro;
}

// Per-victim aggregates and counters in Redis (--redis, --redis-endpoint, redis_output): the
// deltas since the last successful write.
class ResultsOutput {
 public:
  ResultsOutput(const Settings& s, const AppConfig& cfg, const VictimOptions& vo) : delta_(vo) {
    const auto& root = cfg.root;
    if (!s.redis_results && s.redis_out.empty() && !core::get_bool(root, kSection, "redis_output", false))
      return;
    auto endpoint = results_endpoint(s, cfg);
    redis_ = std::make_unique<core::RedisClient>(endpoint);
    writer_ = std::make_unique<RedisVictimWriter>(*redis_, results_options(root));
    spdlog::info("writing per-victim aggregates to {}", endpoint.to_string());
  }
  bool enabled() const { return writer_ != nullptr; }
  const core::RedisEndpoint& endpoint() const { return redis_->endpoint(); }
  void add(const packet::Packet& p, std::int64_t ts) {
    if (writer_) delta_.add(p, ts);
  }
  // Writes the deltas, retrying until Redis takes them; false when stopped first.
  bool flush(const Classifier& c) {
    if (!writer_) return true;
    return retry_redis([&] { write(c); }, core::stop_flag(), "pibs results");
  }
  // Writes once (throws core::RedisError: the queue batch is then delivered again).
  void write(const Classifier& c) {
    if (!writer_) return;
    auto now_stats = c.stats();
    auto gauge = gauge_of(c);
    writer_->write(delta_, now_stats - written_, &gauge);
    delta_.clear();
    written_ = now_stats;
  }
  // A delta still here belongs to a queue batch whose write failed: it is processed again.
  void restart_batch(const Classifier& c) {
    if (!writer_) return;
    delta_.clear();
    written_ = c.stats();
  }

 private:
  std::unique_ptr<core::RedisClient> redis_;
  std::unique_ptr<RedisVictimWriter> writer_;
  VictimTable delta_;
  ClassifierStats written_;
};

// --queue, or the configured queue when no input is named on the command line (a file given with
// the stack's configuration is analysed and the program exits instead of consuming the queue).
std::string queue_to_consume(const Settings& s, const toml::table& root) {
  if (!s.queue.queue.empty()) return s.queue.queue;
  return s.capture.any() ? std::string() : core::get_string(root, kSection, "queue", "");
}

QueueConsumerOptions queue_options(const Settings& s, const AppConfig& cfg, const std::string& queue) {
  QueueConsumerOptions qo = cli::consumer_options(s.queue, cfg, kSection, kTool, "1", queue);
  if (s.queue.analyzer_redis.empty() &&
      (!s.queue_host.empty() || !s.queue_port.empty() || !s.queue_db.empty())) {
    qo.endpoint = cfg.common.redis.analyzer;
    if (!s.queue_host.empty()) qo.endpoint.host = s.queue_host;
    if (!s.queue_port.empty()) qo.endpoint.port = std::stoi(s.queue_port);
    if (!s.queue_db.empty()) qo.endpoint.db = std::stoi(s.queue_db);
  }
  qo.batch_size = 1;
  return qo;
}

void print_top(const Settings& s, const VictimTable& victims, std::int64_t latest_ts) {
  std::printf("#rank, victim, packets (last %lld s), packets, first seen, last seen, top source port\n",
              static_cast<long long>(s.top_window));
  std::size_t rank = 0;
  for (const auto* v : victims.top(s.top, latest_ts, s.top_window)) {
    std::uint64_t recent = 0;
    if (s.top_window > 0)
      for (auto b = v->buckets.lower_bound(latest_ts - s.top_window); b != v->buckets.end(); ++b)
        recent += b->second;
    else
      recent = v->packets;
    std::uint16_t top_port = 0;
    std::uint64_t best = 0;
    for (const auto& [port, n] : v->ports)
      if (n > best || (n == best && port < top_port)) best = n, top_port = port;
    std::printf("%zu,%s,%llu,%llu,%lld,%lld,%u\n", ++rank, v->address.to_string().c_str(),
                static_cast<unsigned long long>(recent), static_cast<unsigned long long>(v->packets),
                static_cast<long long>(v->first_seen), static_cast<long long>(v->last_seen), top_port);
  }
}

void report(const Settings& s, const Classifier& classifier, const VictimTable& victims, const Outputs& out,
            std::int64_t latest_ts) {
  const auto& st = classifier.stats();
  spdlog::info(
      "{} frame(s): {} TCP, {} pure SYN, {} normal, {} backscatter from {} victim(s); {} known client(s), {} "
      "evicted by the SYN table's memory cap",
      st.frames, st.tcp, st.syn, st.normal, st.backscatter, victims.victims().size(),
      classifier.known_clients(), st.evicted_senders);
  for (const auto& [reason, n] : st.undecodable) spdlog::info("  undecodable frames ({}): {}", reason, n);
  if (out.pcap_linktype_mismatch())
    spdlog::warn("{} backscatter frame(s) not written to {}: link type differs from the first frame",
                 out.pcap_linktype_mismatch(), s.pcap_out);
  if (s.table_stats)
    std::printf(
        "#Number of unique IP addresses: %zu\n#Table memory: %zu bytes\n#Table memory cap: %zu bytes\n"
        "#Addresses evicted (memory cap): %llu\n",
        classifier.known_clients(), classifier.table_bytes(), classifier.table_max_bytes(),
        static_cast<unsigned long long>(st.evicted_senders));
  if (!s.summary_out.empty()) {
    std::FILE* f = s.summary_out == "-" ? stdout : std::fopen(s.summary_out.c_str(), "w");
    if (!f) throw std::runtime_error(s.summary_out + ": cannot create");
    for (const auto* v : victims.top(victims.victims().size(), latest_ts, 0))
      std::fprintf(f, "%s\n", v->to_json().dump().c_str());
    if (f != stdout) std::fclose(f);
  }
  if (s.top > 0) print_top(s, victims, latest_ts);
  std::fflush(stdout);
}

// Published by the consuming thread after each batch.
void publish_pibs_metrics(AnalyzerMetrics& m, const Classifier& c, const CaptureStats& cs) {
  if (!m.enabled()) return;
  const auto& st = c.stats();
  m.set_capture_counters("d4_pibs", cs);
  m.set_counter("d4_pibs_backscatter_packets_total", "Packets classified as backscatter", st.backscatter);
  m.set_counter("d4_pibs_syn_packets_total", "SYN packets remembered as possible scans", st.syn);
  m.set_counter("d4_pibs_evicted_senders_total", "SYN senders evicted by syn_table_max_mb",
                st.evicted_senders);
  std::map<std::string, std::uint64_t, std::less<>> undecodable(st.undecodable.begin(), st.undecodable.end());
  m.set_counters_by_reason("d4_pibs_undecodable_frames_total", "Frames that could not be decoded, by reason",
                           undecodable);
  m.set_gauge("d4_pibs_syn_table_bytes", "Memory held by the table of SYN senders",
              static_cast<std::int64_t>(c.table_bytes()));
}

}  // namespace

bool has_configured_queue(const Settings& s) {
  AppConfig probe = load_app_config(s.common.config_path);
  return !core::get_string(probe.root, kSection, "queue", "").empty();
}

int check_config(const Settings& s) {
  AppConfig cfg = cli::start(kTool, s.common);
  classifier_options(s, cfg.root);
  results_endpoint(s, cfg);
  results_options(cfg.root);
  core::get_bool(cfg.root, kSection, "redis_output", false);
  for (auto key : {"bucket_seconds", "max_victims"}) core::get_int(cfg.root, kSection, key, 0);
  for (auto key : {"queue", "consumer_name"}) core::get_string(cfg.root, kSection, key, "");
  return cli::config_ok(kTool, s.common);
}

int run(const Settings& s) {
  AppConfig cfg = cli::start(kTool, s.common);
  if (s.isn) return run_isn(s, cfg);
  const auto& root = cfg.root;
  Classifier classifier(classifier_options(s, root));
  VictimOptions vo;
  vo.bucket_seconds = s.bucket > 0 ? s.bucket : core::get_int(root, kSection, "bucket_seconds", 60);
  vo.max_victims = static_cast<std::size_t>(core::get_int(root, kSection, "max_victims", 1000000));
  VictimTable victims(vo);  // everything, for the final summary and ranking
  ResultsOutput results(s, cfg, vo);
  Outputs out(s);

  auto last_flush = std::chrono::steady_clock::now();
  auto maybe_flush = [&] {
    auto now = std::chrono::steady_clock::now();
    if (now - last_flush < std::chrono::duration<double>(s.flush_seconds)) return;
    last_flush = now;
    out.flush();
    results.flush(classifier);
  };
  packet::Packet p;
  std::int64_t latest_ts = 0;
  std::uint64_t since_check = 0;
  auto handle = [&](const packet::Frame& f) {
    if (classifier.classify(f, p) != Verdict::Backscatter) return;
    std::int64_t ts = f.ts_seconds();
    latest_ts = std::max(latest_ts, ts);
    out.backscatter(f, p);
    victims.add(p, ts);
    results.add(p, ts);
    if (++since_check >= 4096) {
      since_check = 0;
      maybe_flush();
    }
  };
  CaptureStats cs;
  int failures = read_files_and_interface(s, cfg, handle, maybe_flush, cs);
  if (std::string queue = queue_to_consume(s, root); !queue.empty()) {
    QueueConsumerOptions qo = queue_options(s, cfg, queue);
    spdlog::info("consuming {} on {}", qo.list_key, qo.endpoint.to_string());
    AnalyzerMetrics metrics(std::string(kTool),
                            cli::metrics_listen(s.queue.metrics_listen, cfg, kSection, "metrics_listen"));
    auto consumer = std::make_shared<QueueConsumer>(qo);
    metrics.watch_consumer(consumer);
    if (results.enabled()) metrics.watch_redis(results.endpoint(), "results_redis");
    publish_pibs_metrics(metrics, classifier, cs);  // every series from the start, at 0
    metrics.start();
    cli::drop_privileges(kTool, cfg);
    consumer->run(
        [&](const std::vector<std::string>& batch) {
          results.restart_batch(classifier);
          for (const auto& path : batch) {
            spdlog::info("processing {}", path);
            if (!for_each_frame_in_file(path, handle, cs, core::stop_flag())) ++failures;
          }
          out.flush();
          results.write(classifier);  // results reach Redis before the file is acknowledged
          publish_pibs_metrics(metrics, classifier, cs);
        },
        core::stop_flag());
  }
  out.flush();
  bool flushed = results.flush(classifier);
  report(s, classifier, victims, out, latest_ts);
  if (!flushed) return kExitResultsNotWritten;
  return failures ? kExitInputUnreadable : 0;
}

}  // namespace d4::analyzers::pibs
