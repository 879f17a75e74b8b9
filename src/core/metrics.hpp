#pragma once
// Prometheus metrics and health for every D4 daemon: one registry per process, served on
// `/metrics` (text exposition 0.0.4) and `/health` (JSON, 200 or 503) by a small HTTP endpoint.
//
// Counters and gauges the code updates on its hot paths are plain atomics owned by the registry
// (registered once, then incremented without locks or lookups). Values that live elsewhere — a
// Redis list's length, a table's size — are read at scrape time by collectors, so nothing is
// polled when nobody scrapes. Names follow Prometheus conventions (docs/operations.md lists them):
// `d4_<component>_<what>_<unit>`, `_total` for counters, base units (bytes, seconds).
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/latency_histogram.hpp"

namespace d4::core::http {
class Server;
}

namespace d4::core::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Writes the text exposition: each family's HELP and TYPE once, then its samples.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  // Shorthands declaring the family (if new) and writing one sample.
  void counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  // A histogram's cumulative _bucket{le=...} samples, _sum and _count (seconds).
  void histogram(std::string_view name, std::string_view help, const Labels& labels,
                 const LatencyHistogram::Snapshot& snapshot);
  const std::string& text() const { return out_; }

 private:
  std::string out_;
  std::set<std::string, std::less<>> declared_;
};

using Collector = std::function<void(Exposition&)>;

class Registry {
 public:
  // The same (name, labels) always returns the same atomic, so callers may register lazily.
  // A name registered with another type throws std::logic_error.
  std::atomic<std::uint64_t>& counter(const std::string& name, const std::string& help,
                                      const Labels& labels = {});
  std::atomic<std::int64_t>& gauge(const std::string& name, const std::string& help,
                                   const Labels& labels = {});
  // A family served (HELP and TYPE) before its first sample: for labelled series created lazily.
  void declare(const std::string& name, const std::string& type, const std::string& help);
  // Seconds, in LatencyHistogram's buckets (0.1 ms to 10 s).
  LatencyHistogram& histogram(const std::string& name, const std::string& help, const Labels& labels = {});
  // Called at every scrape, after the registered values; may block briefly (e.g. one Redis call).
  // An exception from a collector is reported as d4_metrics_collector_errors_total, not to the
  // scraper.
  void add_collector(Collector collector);
  std::string render() const;

 private:
  struct Family {
    std::string type, help;
    std::map<Labels, std::unique_ptr<std::atomic<std::uint64_t>>> counters;
    std::map<Labels, std::unique_ptr<std::atomic<std::int64_t>>> gauges;
    std::map<Labels, std::unique_ptr<LatencyHistogram>> histograms;
  };
  Family& family_locked(const std::string& name, const std::string& type, const std::string& help);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<Collector> collectors_;
  mutable std::atomic<std::uint64_t> collector_errors_{0};
};

// process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds,
// process_start_time_seconds (from /proc/self) and d4_build_info{component,version}.
void add_process_metrics(Registry& registry, std::string component, std::string version);

struct Health {
  bool healthy = true;
  nlohmann::json detail = nlohmann::json::object();  // the body; "status" is added ("ok"/"degraded")
};

// Serves /metrics and /health on `listen` ("host:port", "[v6]:port"; port 0 picks a free one and
// the bound address is logged with core::log_listening, role "metrics and health, HTTP").
class Endpoint {
 public:
  Endpoint(const Registry& registry, std::function<Health()> health, const std::string& listen);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  std::uint16_t port() const;

 private:
  std::unique_ptr<http::Server> server_;
};

// Text for a label value: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view v);

}  // namespace d4::core::metrics
