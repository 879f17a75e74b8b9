#include "queues/export/export_metrics.hpp"

#include <ctime>
#include <mutex>

#include "core/redis_client.hpp"

namespace d4::queues {
namespace {

// "tcp:host:port" -> "tcp"; "-" is stdout. The destination was validated by make_sink already.
std::string sink_scheme(const std::string& destination) {
  if (destination == "-") return "stdout";
  return destination.substr(0, destination.find(':'));
}

core::metrics::Labels sink_label(const std::string& destination) {
  return {{"sink", sink_scheme(destination)}};
}

// The queue's and the processing list's lengths, read at scrape time (one client, reused).
class ExportBacklogCollector {
 public:
  ExportBacklogCollector(std::string list, std::string processing, const core::RedisEndpoint& analyzer)
      : list_(std::move(list)),
        processing_(std::move(processing)),
        redis_(analyzer, {std::chrono::milliseconds(1000), std::chrono::milliseconds(2000)}) {}
  void operator()(core::metrics::Exposition& e) {
    std::lock_guard lock(mu_);
    auto queue = redis_.command({"LLEN", list_});
    auto processing = redis_.command({"LLEN", processing_});
    if (queue.is_error() || processing.is_error())
      throw core::RedisError("LLEN: " + queue.str + processing.str);
    core::metrics::Labels l{{"queue", list_}};
    e.gauge("d4_export_queue_length", "Elements waiting in the exported queue", l,
            static_cast<double>(queue.integer));
    e.gauge("d4_export_processing_length", "Elements taken from the queue and not yet delivered", l,
            static_cast<double>(processing.integer));
  }

 private:
  std::string list_, processing_;
  std::mutex mu_;
  core::RedisClient redis_;
};

}  // namespace

ExportMetrics::ExportMetrics(const std::string& listen, const std::string& destination,
                             const std::string& list, const std::string& processing,
                             const core::RedisEndpoint& analyzer)
    : items_(registry_.counter("d4_export_items_total", "Queue elements delivered to the destination",
                               sink_label(destination))),
      bytes_(registry_.counter("d4_export_bytes_total", "Bytes sent to the destination (framing included)",
                               sink_label(destination))),
      retried_(registry_.counter("d4_export_retried_items_total",
                                 "Elements sent again after a failed send or an interrupted run",
                                 sink_label(destination))),
      dead_letters_(
          registry_.counter("d4_export_dead_letters_total",
                            "Elements that can never be sent (e.g. larger than a datagram), kept aside",
                            sink_label(destination))),
      failures_(registry_.counter("d4_export_send_failures_total",
                                  "Failed sends or connections to the destination (each retried)",
                                  sink_label(destination))),
      redis_errors_(registry_.counter("d4_export_redis_errors_total", "Redis errors (retried)", {})),
      last_success_(registry_.gauge("d4_export_last_delivery_timestamp_seconds",
                                    "When elements were last delivered (0: never)",
                                    sink_label(destination))) {
  if (listen.empty()) return;
  core::metrics::add_process_metrics(registry_, "d4-export", D4_VERSION);
  registry_.add_collector([c = std::make_shared<ExportBacklogCollector>(list, processing, analyzer)](
                              core::metrics::Exposition& e) { (*c)(e); });
  endpoint_ = std::make_unique<core::metrics::Endpoint>(
      registry_,
      [this, list] {
        core::metrics::Health h;
        long long last = last_redis_ok_.load(std::memory_order_relaxed);
        long long age = static_cast<long long>(std::time(nullptr)) - last;
        bool redis = redis_ok_.load() && last > 0 && age <= kStallSeconds;
        bool sink = sink_ok_.load();
        h.healthy = redis && sink;
        h.detail = {{"queue", list},
                    {"redis", redis},
                    {"destination_connected", sink},
                    {"last_redis_age_seconds", last > 0 ? age : -1}};
        return h;
      },
      listen);
}

ExportMetrics::~ExportMetrics() {
  endpoint_.reset();
}

std::uint16_t ExportMetrics::port() const {
  return endpoint_ ? endpoint_->port() : 0;
}

void ExportMetrics::delivered(std::uint64_t items, std::uint64_t sink_bytes) {
  items_.fetch_add(items, std::memory_order_relaxed);
  bytes_.store(sink_bytes, std::memory_order_relaxed);
  if (items) last_success_.store(static_cast<std::int64_t>(std::time(nullptr)), std::memory_order_relaxed);
}
void ExportMetrics::retried(std::uint64_t items) {
  retried_.fetch_add(items, std::memory_order_relaxed);
}
void ExportMetrics::dead_letter() {
  dead_letters_.fetch_add(1, std::memory_order_relaxed);
}
void ExportMetrics::send_failure() {
  failures_.fetch_add(1, std::memory_order_relaxed);
  sink_ok_.store(false);
}
void ExportMetrics::redis_error() {
  redis_errors_.fetch_add(1, std::memory_order_relaxed);
  redis_ok_.store(false);
}
void ExportMetrics::redis_ok() {
  redis_ok_.store(true);
  last_redis_ok_.store(static_cast<long long>(std::time(nullptr)), std::memory_order_relaxed);
}
void ExportMetrics::sink_connected(bool connected) {
  sink_ok_.store(connected);
}

}  // namespace d4::queues
