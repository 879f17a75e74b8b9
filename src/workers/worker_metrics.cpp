#include "workers/worker_metrics.hpp"

#include <ctime>
#include <mutex>

#include "core/redis_client.hpp"
#include "queues/queue_store.hpp"

namespace d4::workers {

namespace {

using core::metrics::Exposition;

void collect_counters(Exposition& e, const WorkerMetricsSources& s) {
  struct Field {
    const char* name;
    const char* help;
    std::atomic<std::uint64_t> RunnerCounters::*value;
  };
  static const Field kFields[] = {
      {"d4_worker_stream_entries_total", "Stream entries (D4 packets) processed", &RunnerCounters::entries},
      {"d4_worker_stream_bytes_total", "Payload bytes processed", &RunnerCounters::bytes},
      {"d4_worker_queue_items_total", "Items pushed to analyzer queues", &RunnerCounters::items},
      {"d4_worker_archive_files_total", "Archive files closed (rotated)", &RunnerCounters::files},
      {"d4_worker_rejects_total", "Records or sessions rejected as malformed (per sensor in Redis)",
       &RunnerCounters::rejects},
      {"d4_worker_sessions_finished_total", "Sessions processed to their end",
       &RunnerCounters::sessions_done},
      {"d4_worker_sessions_quarantined_total", "Sessions that could not be processed, moved aside",
       &RunnerCounters::quarantined},
      {"d4_worker_io_errors_total", "Archive write errors (retried)", &RunnerCounters::io_errors},
  };
  for (const auto& f : kFields)
    for (std::size_t i = 0; i < s.types.size(); ++i)
      e.counter(f.name, f.help, {{"type", std::to_string(s.types[i])}},
                static_cast<double>(((*(*s.counters)[i]).*f.value).load(std::memory_order_relaxed)));
}

// Scrapes run on the endpoint's single handler thread; the clients are reused between scrapes.
class QueueCollector {
 public:
  explicit QueueCollector(const WorkerMetricsSources& s)
      : meta_(s.meta), analyzer_(s.analyzer), default_max_(s.default_queue_max_size), layout_(s.layout) {}
  void operator()(Exposition& e) {
    std::lock_guard lock(mu_);
    queues::QueueStore store(meta_, analyzer_, default_max_, layout_);
    for (const auto& q : store.list()) {
      auto st = store.stats(q.id);
      core::metrics::Labels l{{"queue", q.id}, {"type", q.target.list_part()}};
      e.gauge("d4_queue_length", "Elements waiting in an analyzer queue", l, static_cast<double>(st.length));
      e.gauge("d4_queue_max_size", "Bound of an analyzer queue (0: unbounded)", l,
              static_cast<double>(store.effective_max_size(q)));
      e.counter("d4_queue_pushed_total", "Elements pushed to an analyzer queue", l,
                static_cast<double>(st.pushed));
      e.counter("d4_queue_dropped_total", "Oldest elements dropped by an analyzer queue's bound", l,
                static_cast<double>(st.dropped));
      e.counter("d4_queue_consumed_total", "Elements taken by the queue's consumers", l,
                static_cast<double>(st.consumed));
      e.gauge("d4_queue_last_push_timestamp_seconds", "When an element was last pushed (0: never)", l,
              st.last_push);
      e.gauge("d4_queue_last_consumer_activity_timestamp_seconds",
              "When consumption of the queue was last noticed (0: never)", l, st.last_consumer_activity);
    }
  }

 private:
  std::mutex mu_;
  core::RedisClient meta_, analyzer_;
  long long default_max_;
  core::keys::KeyLayout layout_;
};

}  // namespace

void register_worker_metrics(core::metrics::Registry& registry, const WorkerMetricsSources& sources) {
  registry.add_collector([s = sources](Exposition& e) { collect_counters(e, s); });
  registry.add_collector([c = std::make_shared<QueueCollector>(sources)](Exposition& e) { (*c)(e); });
}

core::metrics::Health worker_health(const WorkerMetricsSources& s) {
  std::int64_t last = s.last_publish_ok ? s.last_publish_ok->load() : 0;
  std::int64_t age = static_cast<std::int64_t>(std::time(nullptr)) - last;
  core::metrics::Health h;
  h.healthy = last > 0 && age <= 10;
  h.detail = {
      {"worker", s.name}, {"redis", h.healthy}, {"last_statistics_publish_age_seconds", last ? age : -1}};
  return h;
}

}  // namespace d4::workers
