#include "sharing/misp_feed/app.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <ctime>

#include "analyzers/common/analyzer_metrics.hpp"
#include "analyzers/tls/passivessl.hpp"
#include "core/cli.hpp"
#include "core/stop_signal.hpp"
#include "sharing/misp_feed/exporter.hpp"
#include "sharing/misp_feed/feed_directory.hpp"

namespace d4::sharing::misp {
namespace {

constexpr std::string_view kTool = "d4-misp-feed";

std::int64_t time_option(const std::string& text, const char* name) {
  auto t = parse_time(text);
  if (!t) throw core::cli::UsageError(std::string("--") + name + ": not a date, date-time or epoch: " + text);
  return *t;
}

struct Prepared {
  FeedConfig config;
  ExportRequest request;
};

Prepared prepare(const Settings& s) {
  auto app = analyzers::cli::start(kTool, s.common);
  Prepared p{read_feed_config(app.root, app.common), {}};
  if (!s.feed_dir.empty()) p.config.feed_dir = s.feed_dir;
  if (s.interval_seconds > 0) p.config.interval = std::chrono::seconds(s.interval_seconds);
  for (const auto& k : s.kinds) {
    auto kind = parse_kind(k);
    if (!kind)
      throw core::cli::UsageError("--kind: unknown kind \"" + k +
                                  "\" (backscatter, passive-dns, passive-ssl)");
    p.request.kinds.insert(*kind);
  }
  if (!s.since.empty()) p.request.since = time_option(s.since, "since");
  if (!s.until.empty()) p.request.until = time_option(s.until, "until");
  if (p.request.since && !p.request.until) p.request.until = std::int64_t(std::time(nullptr));
  return p;
}

void log_report(const ExportReport& r) {
  spdlog::info(
      "exported: {} event(s) written, {} unchanged, {} period(s) without data; {} object(s), {} attribute(s)",
      r.events_written, r.events_unchanged, r.periods_empty, r.objects, r.attributes);
  if (r.objects_dropped)
    spdlog::warn("{} object(s) left out: max_attributes_per_event reached", r.objects_dropped);
  if (r.sources.candidates_not_read)
    spdlog::warn("{} result(s) not read: a max_*_scanned / max_records_per_watch bound was reached",
                 r.sources.candidates_not_read);
  if (r.tags_dropped) spdlog::warn("{} tag(s) left out: max_tags_per_event reached", r.tags_dropped);
  if (r.sensors.sensors_not_read)
    spdlog::warn("{} sensor(s) not read: max_sensors reached", r.sensors.sensors_not_read);
  if (r.sensors.sensor_scans_incomplete)
    spdlog::warn(
        "the scan of metadata_uuid:* for sensors missing from sensor:index stopped at sensor_scan_max_keys: "
        "sensors that only the reference server registered may be left out");
  if (r.sensors.organisations_refused)
    spdlog::warn(
        "{} sensor(s) declare an organisation beyond max_organisations: their records are not published",
        r.sensors.organisations_refused);
  if (r.sensors.invalid_organisations)
    spdlog::warn("{} meta header(s) with a misp:org that is not a UUID (ignored)",
                 r.sensors.invalid_organisations);
}

// The runs' totals as Prometheus counters (docs/metrics.md, "d4-misp-feed"), kept by the loop.
class MispFeedMetrics {
 public:
  explicit MispFeedMetrics(analyzers::AnalyzerMetrics& m) : m_(m) { publish(); }
  // `report`: the run's, or nullptr when it failed.
  void add(const ExportReport* report, std::int64_t now) {
    ++(report ? succeeded_ : failed_);
    if (report) {
      events_ += report->events_written;
      attributes_ += report->attributes;
      dropped_ += report->objects_dropped;
      last_success_ = now;
    }
    last_ok_.store(report != nullptr);
    publish();
  }
  // Whether the last run succeeded (true before the first one).
  bool last_run_ok() const { return last_ok_.load(); }

 private:
  void publish() {
    const std::string runs = "d4_misp_feed_runs_total", help = "Exports run, by outcome";
    m_.set_counter(runs, help, succeeded_, {{"outcome", "success"}});
    m_.set_counter(runs, help, failed_, {{"outcome", "failure"}});
    m_.set_counter("d4_misp_feed_events_written_total", "MISP events written (new or changed)", events_);
    m_.set_counter("d4_misp_feed_attributes_total", "Attributes in the events exported", attributes_);
    m_.set_counter("d4_misp_feed_objects_dropped_total", "Objects left out by max_attributes_per_event",
                   dropped_);
    m_.set_gauge("d4_misp_feed_last_success_timestamp_seconds", "When an export last succeeded (0: never)",
                 last_success_);
  }

  analyzers::AnalyzerMetrics& m_;
  std::uint64_t succeeded_ = 0, failed_ = 0, events_ = 0, attributes_ = 0, dropped_ = 0;
  std::int64_t last_success_ = 0;
  std::atomic<bool> last_ok_{true};
};

// One export with its outcome recorded; false when it failed.
bool export_once(const Prepared& p, std::int64_t now, MispFeedMetrics* metrics = nullptr) {
  ExportRequest request = p.request;
  request.now = now;
  core::RedisClient meta(p.config.common.redis.meta);
  auto failed = [&] {
    if (metrics) metrics->add(nullptr, now);
  };
  try {
    auto report = run_export(p.config, request);
    log_report(report);
    record_run(meta, &report, {}, now);
    if (metrics) metrics->add(&report, now);
    return true;
  } catch (const core::RedisError& e) {
    spdlog::error("export failed: Redis: {}", e.what());
    failed();
    try {
      record_run(meta, nullptr, e.what(), now);
    } catch (const core::RedisError&) {
    }
  } catch (const FeedError& e) {
    spdlog::error("export failed: {}", e.what());
    failed();
    try {
      record_run(meta, nullptr, e.what(), now);
    } catch (const core::RedisError&) {
    }
  }
  return false;
}

}  // namespace

std::optional<std::int64_t> parse_time(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && ptr == text.data() + text.size()) return v;
  if (text.size() == 10) return analyzers::tls::parse_rfc3339(std::string(text) + "T00:00:00Z");
  return analyzers::tls::parse_rfc3339(text);
}

int check_config(const Settings& s) {
  prepare(s);
  return analyzers::cli::config_ok(kTool, s.common);
}

int run_export_command(const Settings& s) {
  auto p = prepare(s);
  std::int64_t now = s.now.empty() ? std::int64_t(std::time(nullptr)) : time_option(s.now, "now");
  return export_once(p, now) ? 0 : 1;
}

int run_daemon(const Settings& s) {
  auto p = prepare(s);
  analyzers::AppConfig cfg = analyzers::load_app_config(s.common.config_path);
  analyzers::AnalyzerMetrics metrics(
      std::string(kTool),
      analyzers::cli::metrics_listen(s.metrics_listen, cfg, "sharing.misp", "metrics_listen"));
  MispFeedMetrics runs(metrics);
  metrics.watch_redis(p.config.common.redis.meta, "redis_meta");
  metrics.add_health_check([&runs](core::metrics::Health& h) {
    h.healthy = h.healthy && runs.last_run_ok();
    h.detail["last_run_ok"] = runs.last_run_ok();
  });
  metrics.start();
  spdlog::info("exporting every {} s to {}", p.config.interval.count(), p.config.feed_dir.string());
  while (!core::stop_requested()) {
    export_once(p, std::time(nullptr), &runs);
    if (!core::sleep_unless_stopped(std::chrono::duration_cast<std::chrono::milliseconds>(p.config.interval)))
      break;
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace d4::sharing::misp
