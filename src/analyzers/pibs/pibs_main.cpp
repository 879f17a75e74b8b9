// d4-pibs: passive identification of backscatter (analyzer-d4-pibs), plus the ISN == destination
// address scanner detector (pibs-isn). Inputs: capture files (pcap/pcapng, gzip), the D4 type-1
// analyzer queue (paths of .cap.gz files), or live capture. See docs/analyzers.md.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "analyzers/common/app.hpp"
#include "analyzers/common/frame_source.hpp"
#include "analyzers/common/queue_consumer.hpp"
#include "analyzers/packet/pcap_writer.hpp"
#include "analyzers/pibs/classifier.hpp"
#include "analyzers/pibs/victims.hpp"
#include "core/keys.hpp"
#include "core/stop_signal.hpp"

namespace {

using namespace d4::analyzers;
using namespace d4::analyzers::pibs;
namespace core = d4::core;
namespace packet = d4::analyzers::packet;

constexpr std::string_view kSection = "analyzers.pibs";

struct Settings {
  std::string config_path, log_level, log_format;
  std::vector<std::string> files;
  std::string interface, bpf;
  bool csv = false;          // -b
  std::string json_out;      // per-packet JSON lines
  std::string pcap_out;      // -w
  bool table_stats = false;  // -s
  bool isn = false;
  std::string isn_format = "hex";
  std::string queue, analyzer_redis, consumer;
  std::string queue_host, queue_port, queue_db;  // reference -z/-p/-y
  bool exit_when_empty = false;
  std::string redis_out;  // results in Redis
  bool redis_results = false;
  std::int64_t syn_window = -1;
  std::int64_t syn_table_mb = -1;
  std::int64_t bucket = -1;
  std::size_t top = 0;
  std::int64_t top_window = 0;
  std::string summary_out;
  double flush_seconds = 5;
};

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
    if (json_) {
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
    if (!s_.pcap_out.empty()) {
      if (!pcap_) pcap_ = std::make_unique<packet::PcapWriter>(s_.pcap_out, f.linktype);
      if (pcap_->linktype() != f.linktype) {
        ++pcap_linktype_mismatch_;
      } else {
        pcap_->write(f.ts_ns, f.bytes(), f.origlen);
      }
    }
  }
  void flush() {
    std::fflush(stdout);
    if (json_) std::fflush(json_);
    if (pcap_) pcap_->flush();
  }
  std::uint64_t pcap_linktype_mismatch() const { return pcap_linktype_mismatch_; }

 private:
  const Settings& s_;
  std::FILE* json_ = nullptr;
  std::unique_ptr<packet::PcapWriter> pcap_;
  std::string line_;
  std::uint64_t pcap_linktype_mismatch_ = 0;
};

int run_isn(const Settings& s) {
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
  int failures = 0;
  for (const auto& f : s.files)
    if (!for_each_frame_in_file(f, handle, cs, core::stop_flag())) ++failures;
  if (!s.interface.empty()) {
    packet::LiveCapture::Options lo;
    lo.interface = s.interface;
    lo.bpf_filter = s.bpf;
    for_each_live_frame(
        lo, handle, [] { std::fflush(stdout); }, cs, core::stop_flag());
  }
  std::fflush(stdout);
  spdlog::info("{} frame(s), {} ISN == destination address", cs.frames, hits);
  return failures ? 2 : 0;
}

int run(const Settings& s) {
  AppConfig cfg = load_app_config(s.config_path);
  init_analyzer_logging("d4-pibs", cfg.common, s.log_level, s.log_format);
  if (s.isn) return run_isn(s);
  const auto& root = cfg.root;

  ClassifierOptions co;
  co.syn_window_seconds =
      s.syn_window >= 0 ? s.syn_window : core::get_int(root, kSection, "syn_window_seconds", 0);
  const std::int64_t table_mb =
      s.syn_table_mb >= 0 ? s.syn_table_mb : core::get_int(root, kSection, "syn_table_max_mb", 512);
  if (table_mb < 1) throw core::ConfigError("analyzers.pibs.syn_table_max_mb must be at least 1");
  co.max_table_bytes = static_cast<std::size_t>(table_mb) << 20;
  Classifier classifier(co);
  VictimOptions vo;
  vo.bucket_seconds = s.bucket > 0 ? s.bucket : core::get_int(root, kSection, "bucket_seconds", 60);
  vo.max_victims = static_cast<std::size_t>(core::get_int(root, kSection, "max_victims", 1000000));
  VictimTable victims(vo);  // everything, for the final summary and ranking
  VictimTable delta(vo);    // since the last Redis write
  Outputs out(s);

  std::unique_ptr<core::RedisClient> redis;
  std::unique_ptr<RedisVictimWriter> writer;
  bool to_redis =
      s.redis_results || !s.redis_out.empty() || core::get_bool(root, kSection, "redis_output", false);
  if (to_redis) {
    std::string configured =
        !s.redis_out.empty() ? s.redis_out : core::get_string(root, kSection, "results_redis", "");
    // The default is the meta endpoint itself (its text would lose the password).
    auto endpoint = configured.empty() ? cfg.common.redis.meta.with_db(core::keys::kPibsResultsDb)
                                       : parse_endpoint(configured, "results redis");
    redis = std::make_unique<core::RedisClient>(endpoint);
    RedisVictimOptions ro;
    ro.prefix = core::get_string(root, kSection, "key_prefix", ro.prefix);
    ro.victim_ttl_seconds = core::get_int(root, kSection, "victim_ttl_seconds", 7 * 24 * 3600);
    writer = std::make_unique<RedisVictimWriter>(*redis, ro);
    spdlog::info("writing per-victim aggregates to {}", endpoint.to_string());
  }
  ClassifierStats written;
  auto flush_redis = [&]() -> bool {
    if (!writer) return true;
    auto now_stats = classifier.stats();
    auto gauge = gauge_of(classifier);
    bool ok = retry_redis([&] { writer->write(delta, now_stats - written, &gauge); }, core::stop_flag(),
                          "pibs results");
    if (ok) {
      delta.clear();
      written = now_stats;
    }
    return ok;
  };
  auto last_flush = std::chrono::steady_clock::now();
  auto maybe_flush = [&] {
    auto now = std::chrono::steady_clock::now();
    if (now - last_flush < std::chrono::duration<double>(s.flush_seconds)) return;
    last_flush = now;
    out.flush();
    flush_redis();
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
    if (writer) delta.add(p, ts);
    if (++since_check >= 4096) {
      since_check = 0;
      maybe_flush();
    }
  };

  CaptureStats cs;
  int failures = 0;
  for (const auto& f : s.files) {
    if (!for_each_frame_in_file(f, handle, cs, core::stop_flag())) ++failures;
  }
  if (!s.interface.empty()) {
    packet::LiveCapture::Options lo;
    lo.interface = s.interface;
    lo.bpf_filter = s.bpf;
    for_each_live_frame(lo, handle, maybe_flush, cs, core::stop_flag());
  }
  // Inputs named on the command line replace the configured queue (a file given with the stack's
  // configuration is analysed and the program exits, instead of also consuming the stack's queue).
  bool inputs_given = !s.files.empty() || !s.interface.empty();
  std::string queue = !s.queue.empty()
                          ? s.queue
                          : (inputs_given ? std::string() : core::get_string(root, kSection, "queue", ""));
  if (!queue.empty()) {
    QueueConsumerOptions qo;
    if (!s.analyzer_redis.empty()) {
      qo.endpoint = parse_endpoint(s.analyzer_redis, "analyzer redis");
    } else if (!s.queue_host.empty() || !s.queue_port.empty() || !s.queue_db.empty()) {
      qo.endpoint = cfg.common.redis.analyzer;
      if (!s.queue_host.empty()) qo.endpoint.host = s.queue_host;
      if (!s.queue_port.empty()) qo.endpoint.port = std::stoi(s.queue_port);
      if (!s.queue_db.empty()) qo.endpoint.db = std::stoi(s.queue_db);
    } else {
      qo.endpoint = cfg.common.redis.analyzer;
    }
    qo.list_key = core::keys::analyzer_list("1", queue);
    qo.consumer_name = !s.consumer.empty() ? s.consumer
                                           : core::get_string(root, kSection, "consumer_name",
                                                              default_consumer_name("d4-pibs", queue));
    qo.batch_size = 1;
    qo.exit_when_empty = s.exit_when_empty;
    spdlog::info("consuming {} on {}", qo.list_key, qo.endpoint.to_string());
    QueueConsumer consumer(qo);
    consumer.run(
        [&](const std::vector<std::string>& batch) {
          if (writer) {
            // A delta still here belongs to a file whose write failed: it is processed again now.
            delta.clear();
            written = classifier.stats();
          }
          for (const auto& path : batch) {
            spdlog::info("processing {}", path);
            if (!for_each_frame_in_file(path, handle, cs, core::stop_flag())) ++failures;
          }
          out.flush();
          // Results reach Redis before the file is acknowledged.
          if (writer) {
            auto now_stats = classifier.stats();
            auto gauge = gauge_of(classifier);
            writer->write(delta, now_stats - written, &gauge);
            delta.clear();
            written = now_stats;
          }
        },
        core::stop_flag());
  }
  out.flush();
  bool flushed = flush_redis();

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
  if (s.table_stats) {
    std::printf(
        "#Number of unique IP addresses: %zu\n#Table memory: %zu bytes\n#Table memory cap: %zu bytes\n"
        "#Addresses evicted (memory cap): %llu\n",
        classifier.known_clients(), classifier.table_bytes(), classifier.table_max_bytes(),
        static_cast<unsigned long long>(classifier.stats().evicted_senders));
  }
  if (!s.summary_out.empty()) {
    std::FILE* f = s.summary_out == "-" ? stdout : std::fopen(s.summary_out.c_str(), "w");
    if (!f) throw std::runtime_error(s.summary_out + ": cannot create");
    for (const auto* v : victims.top(victims.victims().size(), latest_ts, 0))
      std::fprintf(f, "%s\n", v->to_json().dump().c_str());
    if (f != stdout) std::fclose(f);
  }
  if (s.top > 0) {
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
  std::fflush(stdout);
  if (!flushed) return 3;
  return failures ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  core::install_stop_handlers();
  Settings s;
  CLI::App app{"d4-pibs: passive identification of backscatter (DDoS victims answering spoofed traffic)"};
  app.add_option("-c,--config", s.config_path, "D4 configuration file (TOML)");
  app.add_option("-r,--read", s.files, "capture file (pcap/pcapng, gzip allowed, - for stdin); repeatable");
  app.add_option("files", s.files, "more capture files");
  app.add_option("-i,--interface", s.interface, "live capture interface");
  app.add_option("-f,--filter", s.bpf, "BPF filter for live capture");
  app.add_flag("-b,--csv", s.csv, "print potential backscatter as CSV on stdout (reference format)");
  app.add_option("--json", s.json_out,
                 "write one JSON line per backscatter packet to this file (- for stdout)");
  app.add_option("-w,--write", s.pcap_out, "write the backscatter frames to this pcap file");
  app.add_flag("-s,--stats", s.table_stats, "print SYN table statistics at the end");
  app.add_flag("--isn", s.isn,
               "ISN detector (pibs-isn): print sequence numbers equal to the destination address");
  app.add_option("--isn-format", s.isn_format, "hex (reference) or json")
      ->check(CLI::IsMember({"hex", "json"}));
  app.add_option("-u,--queue", s.queue, "consume the type-1 analyzer queue with this UUID");
  app.add_option("--analyzer-redis", s.analyzer_redis,
                 "D4 analyzer queues host:port/db (default [redis] analyzer)");
  app.add_option("-z", s.queue_host, "analyzer Redis host (reference option)");
  app.add_option("-p", s.queue_port, "analyzer Redis port (reference option)");
  app.add_option("-y", s.queue_db, "analyzer Redis database (reference option)");
  app.add_option("--consumer", s.consumer, "consumer name (names the processing list)");
  app.add_flag("--exit-when-empty", s.exit_when_empty, "return once the queue is drained");
  app.add_flag("--redis", s.redis_results,
               "write per-victim aggregates to Redis (analyzers.pibs.results_redis)");
  app.add_option("--redis-endpoint", s.redis_out,
                 "Redis host:port/db for the per-victim aggregates (implies --redis)");
  app.add_option("--syn-window", s.syn_window, "seconds after which a SYN sender is forgotten (0: never)");
  app.add_option("--syn-table-max-mb", s.syn_table_mb,
                 "MiB the SYN senders may take (default 512); beyond, the oldest are evicted");
  app.add_option("--bucket", s.bucket, "seconds per intensity bucket (default 60)");
  app.add_option("--top", s.top, "print the N most hit victims at the end");
  app.add_option("--top-window", s.top_window,
                 "rank by packets in the last N seconds of capture time (0: all)");
  app.add_option("--summary", s.summary_out, "write one JSON line per victim at the end (- for stdout)");
  app.add_option("--flush-interval", s.flush_seconds, "seconds between output/Redis flushes");
  app.add_option("--log-level", s.log_level, "trace, debug, info, warn, error");
  app.add_option("--log-format", s.log_format, "text or json");
  CLI11_PARSE(app, argc, argv);
  return run_tool("d4-pibs", [&] {
    AppConfig probe = load_app_config(s.config_path);
    if (s.files.empty() && s.interface.empty() && s.queue.empty() &&
        core::get_string(probe.root, kSection, "queue", "").empty()) {
      std::cerr << app.help() << std::endl
                << "d4-pibs: give capture files, --interface or --queue" << std::endl;
      return 64;
    }
    return run(s);
  });
}
