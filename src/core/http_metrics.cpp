#include "core/http_metrics.hpp"

#include <memory>
#include <mutex>
#include <unordered_map>

namespace d4::core::http {

std::string route_group(std::string_view pattern) {
  if (pattern.empty()) return "unmatched";
  std::string group;
  int segments = 0;
  std::size_t pos = 0;
  while (pos < pattern.size() && segments < 3) {
    if (pattern[pos] == '/') ++pos;
    std::size_t end = pattern.find('/', pos);
    std::string_view seg =
        pattern.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (seg.empty() || seg.front() == '{' || seg == "*") break;
    group += '/';
    group += seg;
    ++segments;
    if (end == std::string_view::npos) break;
    pos = end;
  }
  return group.empty() ? "/" : group;
}

std::string status_class(int status) {
  if (status < 100 || status > 599) return "other";
  return std::to_string(status / 100) + "xx";
}

namespace {

constexpr const char* kRequestsHelp = "HTTP requests answered, by route group and status class";
constexpr const char* kDurationHelp = "Time spent answering HTTP requests, by route group";

// The atomics of one (route group, status class), looked up once per pair and then cached.
class RequestCounters {
 public:
  RequestCounters(metrics::Registry& registry, std::string prefix)
      : registry_(registry),
        requests_(prefix + "_http_requests_total"),
        duration_(prefix + "_http_request_duration_seconds") {
    registry_.declare(requests_, "counter", kRequestsHelp);
    registry_.declare(duration_, "histogram", kDurationHelp);
  }

  void observe(const Request& req, const Response& resp, std::chrono::nanoseconds took) {
    std::string group = route_group(req.route);
    std::string cls = status_class(resp.status);
    std::atomic<std::uint64_t>* counter;
    LatencyHistogram* histogram;
    {
      std::lock_guard lock(mu_);
      auto& c = counters_[group + ' ' + cls];
      if (!c) c = &registry_.counter(requests_, kRequestsHelp, {{"route", group}, {"status_class", cls}});
      auto& h = histograms_[group];
      if (!h) h = &registry_.histogram(duration_, kDurationHelp, {{"route", group}});
      counter = c;
      histogram = h;
    }
    counter->fetch_add(1, std::memory_order_relaxed);
    histogram->observe(took);
  }

 private:
  metrics::Registry& registry_;
  std::string requests_, duration_;
  std::mutex mu_;
  std::unordered_map<std::string, std::atomic<std::uint64_t>*> counters_;
  std::unordered_map<std::string, LatencyHistogram*> histograms_;
};

}  // namespace

void instrument(Router& router, metrics::Registry& registry, const std::string& prefix) {
  auto counters = std::make_shared<RequestCounters>(registry, prefix);
  router.set_observer([counters](const Request& req, const Response& resp, std::chrono::nanoseconds took) {
    counters->observe(req, resp, took);
  });
}

}  // namespace d4::core::http
