#include "analyzers/common/analyzer_metrics.hpp"

#include <ctime>
#include <mutex>

#include "core/redis_client.hpp"

namespace d4::analyzers {
namespace {

using core::metrics::Exposition;
using core::metrics::Health;

core::RedisClient::Options short_timeouts() {
  return core::RedisClient::Options{std::chrono::milliseconds(1000), std::chrono::milliseconds(2000)};
}

// Reads the consumer's counters (atomics) and its lists' lengths from Redis at scrape time.
// Scrapes run on the endpoint's single handler thread; the client is reused between scrapes.
class ConsumerCollector {
 public:
  ConsumerCollector(std::shared_ptr<const QueueConsumer> consumer, std::string tool)
      : consumer_(std::move(consumer)),
        labels_{{"analyzer", std::move(tool)}, {"queue", consumer_->options().list_key}},
        redis_(consumer_->options().endpoint, short_timeouts()) {}

  void operator()(Exposition& e) {
    auto st = consumer_->stats();
    e.counter("d4_analyzer_elements_total",
              "Queue elements the analyzer has handled (re-deliveries included)", labels_,
              static_cast<double>(st.elements));
    e.counter("d4_analyzer_batches_total", "Batches of queue elements handled", labels_,
              static_cast<double>(st.batches));
    e.counter("d4_analyzer_redeliveries_total", "Elements handled again after an interrupted run", labels_,
              static_cast<double>(st.redeliveries));
    e.counter("d4_analyzer_failed_batches_total", "Batches that failed, kept in the consumer's failed list",
              labels_, static_cast<double>(st.failed_batches));
    e.counter("d4_analyzer_redis_errors_total", "Redis errors of the queue or the storage (retried)", labels_,
              static_cast<double>(st.redis_errors));
    e.gauge("d4_analyzer_last_progress_timestamp_seconds",
            "When the consumer last completed a round trip to its queue (0: never)", labels_,
            static_cast<double>(consumer_->last_progress()));
    // Last: a Redis failure here loses only these two samples (counted as a collector error).
    std::lock_guard lock(mu_);
    auto queue = redis_.command({"LLEN", consumer_->options().list_key});
    auto processing = redis_.command({"LLEN", consumer_->processing_key()});
    if (queue.is_error() || processing.is_error())
      throw core::RedisError("LLEN: " + queue.str + processing.str);
    e.gauge("d4_analyzer_queue_length", "Elements waiting in the analyzer's queue", labels_,
            static_cast<double>(queue.integer));
    e.gauge("d4_analyzer_processing_length",
            "Elements taken by the consumer and not yet acknowledged (its processing list)", labels_,
            static_cast<double>(processing.integer));
  }

 private:
  std::shared_ptr<const QueueConsumer> consumer_;
  core::metrics::Labels labels_;
  std::mutex mu_;
  core::RedisClient redis_;
};

}  // namespace

AnalyzerMetrics::AnalyzerMetrics(std::string tool, std::string listen)
    : tool_(std::move(tool)), listen_(std::move(listen)) {
  if (enabled()) core::metrics::add_process_metrics(registry_, tool_, D4_VERSION);
}

AnalyzerMetrics::~AnalyzerMetrics() {
  endpoint_.reset();  // no scrape may run once the sources are going away
}

void AnalyzerMetrics::watch_consumer(std::shared_ptr<const QueueConsumer> consumer) {
  if (!enabled()) return;
  registry_.add_collector(
      [c = std::make_shared<ConsumerCollector>(consumer, tool_)](Exposition& e) { (*c)(e); });
  checks_.push_back([consumer](Health& h) {
    long long last = consumer->last_progress();
    long long age = static_cast<long long>(std::time(nullptr)) - last;
    bool redis = !consumer->in_outage() && last > 0;
    bool consuming = last > 0 && age <= kStallSeconds;
    h.healthy = h.healthy && redis && consuming;
    h.detail["queue"] = consumer->options().list_key;
    h.detail["consumer"] = consumer->options().consumer_name;
    h.detail["redis"] = redis;
    h.detail["consuming"] = consuming;
    h.detail["last_progress_age_seconds"] = last > 0 ? age : -1;
  });
}

void AnalyzerMetrics::watch_redis(const core::RedisEndpoint& endpoint, std::string name) {
  if (!enabled()) return;
  auto client = std::make_shared<core::RedisClient>(endpoint, short_timeouts());
  auto mu = std::make_shared<std::mutex>();
  checks_.push_back([client, mu, name = std::move(name)](Health& h) {
    bool ok = false;
    try {
      std::lock_guard lock(*mu);
      ok = !client->command({"PING"}).is_error();
    } catch (const core::RedisError&) {
      client->disconnect();
    }
    h.healthy = h.healthy && ok;
    h.detail[name] = ok;
  });
}

void AnalyzerMetrics::add_health_check(std::function<void(core::metrics::Health&)> check) {
  if (enabled()) checks_.push_back(std::move(check));
}

void AnalyzerMetrics::start() {
  if (!enabled() || endpoint_) return;
  endpoint_ = std::make_unique<core::metrics::Endpoint>(
      registry_,
      [checks = checks_, tool = tool_] {
        Health h;
        h.detail["analyzer"] = tool;
        for (const auto& check : checks) check(h);
        return h;
      },
      listen_);
}

void AnalyzerMetrics::set_counter(const std::string& name, const std::string& help, std::uint64_t value,
                                  const core::metrics::Labels& labels) {
  if (enabled()) registry_.counter(name, help, labels).store(value, std::memory_order_relaxed);
}

void AnalyzerMetrics::set_gauge(const std::string& name, const std::string& help, std::int64_t value,
                                const core::metrics::Labels& labels) {
  if (enabled()) registry_.gauge(name, help, labels).store(value, std::memory_order_relaxed);
}

void AnalyzerMetrics::declare_counter(const std::string& name, const std::string& help) {
  if (enabled()) registry_.declare(name, "counter", help);
}

void add_counts_since(CountsByReason& total, const CountsByReason& now, const CountsByReason& before) {
  for (const auto& [reason, count] : now) {
    auto it = before.find(reason);
    total[reason] += count - (it == before.end() ? 0 : it->second);
  }
}

void AnalyzerMetrics::set_counters_by_reason(const std::string& name, const std::string& help,
                                             const CountsByReason& by_reason, std::size_t max_reasons) {
  std::uint64_t other = 0;
  std::size_t n = 0;
  for (const auto& [reason, count] : by_reason) {
    if (n++ < max_reasons)
      set_counter(name, help, count, {{"reason", reason}});
    else
      other += count;
  }
  if (other) set_counter(name, help, other, {{"reason", "other"}});
}

}  // namespace d4::analyzers

namespace d4::analyzers {

void AnalyzerMetrics::set_capture_counters(const std::string& prefix, const CaptureStats& stats) {
  if (!enabled()) return;
  set_counter(prefix + "_capture_files_total", "Capture files read", stats.files);
  set_counter(prefix + "_frames_total", "Frames read from capture files", stats.frames);
  const std::string errors = prefix + "_capture_file_errors_total";
  const std::string help = "Capture files that could not be read to their end, by reason";
  set_counter(errors, help, stats.unreadable_files, {{"reason", "unreadable"}});
  set_counter(errors, help, stats.corrupt_files, {{"reason", "corrupt"}});
  set_counter(errors, help, stats.truncated_files, {{"reason", "truncated"}});
}

}  // namespace d4::analyzers
