#include "core/metrics.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "core/http_server.hpp"
#include "core/listen_address.hpp"
#include "core/logging.hpp"

namespace d4::core::metrics {

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

// Prometheus numbers: integers without an exponent, NaN/Inf spelled as the format wants.
std::string number(double v) {
  if (v != v) return "NaN";
  if (v > 1e300) return "+Inf";
  if (v < -1e300) return "-Inf";
  if (v == static_cast<double>(static_cast<long long>(v)) && v < 9e15 && v > -9e15)
    return std::to_string(static_cast<long long>(v));
  return fmt::format("{}", v);
}

}  // namespace

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  if (declared_.count(name)) return;
  declared_.emplace(name);
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void Exposition::sample(std::string_view name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += labels[i].first + "=\"" + escape_label_value(labels[i].second) + '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += number(value);
  out_ += '\n';
}

void Exposition::counter(std::string_view name, std::string_view help, const Labels& labels, double value) {
  family(name, "counter", help);
  sample(name, labels, value);
}

void Exposition::gauge(std::string_view name, std::string_view help, const Labels& labels, double value) {
  family(name, "gauge", help);
  sample(name, labels, value);
}

void Exposition::histogram(std::string_view name, std::string_view help, const Labels& labels,
                           const LatencyHistogram::Snapshot& snapshot) {
  family(name, "histogram", help);
  const std::string base(name);
  std::uint64_t cumulative = 0;
  Labels with_le = labels;
  with_le.emplace_back("le", "");
  for (std::size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    cumulative += snapshot.counts[i];
    with_le.back().second =
        i < std::size(LatencyHistogram::kBounds) ? number(LatencyHistogram::kBounds[i]) : "+Inf";
    sample(base + "_bucket", with_le, static_cast<double>(cumulative));
  }
  sample(base + "_sum", labels, snapshot.sum_seconds);
  sample(base + "_count", labels, static_cast<double>(snapshot.count));
}

Registry::Family& Registry::family_locked(const std::string& name, const std::string& type,
                                          const std::string& help) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + name + " registered as " + it->second.type + " and " + type);
  }
  return it->second;
}

std::atomic<std::uint64_t>& Registry::counter(const std::string& name, const std::string& help,
                                              const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family_locked(name, "counter", help).counters[labels];
  if (!slot) slot = std::make_unique<std::atomic<std::uint64_t>>(0);
  return *slot;
}

std::atomic<std::int64_t>& Registry::gauge(const std::string& name, const std::string& help,
                                           const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family_locked(name, "gauge", help).gauges[labels];
  if (!slot) slot = std::make_unique<std::atomic<std::int64_t>>(0);
  return *slot;
}

void Registry::declare(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  family_locked(name, type, help);
}

LatencyHistogram& Registry::histogram(const std::string& name, const std::string& help,
                                      const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family_locked(name, "histogram", help).histograms[labels];
  if (!slot) slot = std::make_unique<LatencyHistogram>();
  return *slot;
}

void Registry::add_collector(Collector collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
  Exposition e;
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : families_) {
      e.family(name, f.type, f.help);
      for (const auto& [labels, v] : f.counters)
        e.sample(name, labels, static_cast<double>(v->load(std::memory_order_relaxed)));
      for (const auto& [labels, v] : f.gauges)
        e.sample(name, labels, static_cast<double>(v->load(std::memory_order_relaxed)));
      for (const auto& [labels, h] : f.histograms) e.histogram(name, f.help, labels, h->snapshot());
    }
    collectors = collectors_;
  }
  // Outside the lock: a collector may take time (a Redis call) and may register metrics.
  for (const auto& c : collectors) {
    try {
      c(e);
    } catch (const std::exception&) {
      collector_errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  e.counter("d4_metrics_collector_errors_total",
            "Scrape-time collectors that failed (e.g. Redis unreachable); their samples are missing", {},
            static_cast<double>(collector_errors_.load(std::memory_order_relaxed)));
  return e.text();
}

namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_time = 0;  // seconds since the epoch
  double rss_bytes = 0;
};

ProcStat read_proc_stat() {
  ProcStat s;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  // Fields after the command name (which may hold spaces) start after the last ')'.
  auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; rest >> x;) f.push_back(x);
    // f[0] is field 3 (state): utime = field 14, stime = 15, starttime = 22, rss pages = 24.
    if (f.size() > 21) {
      s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      std::ifstream up("/proc/stat");
      double boot = 0;
      for (std::string k; up >> k;)
        if (k == "btime") {
          up >> boot;
          break;
        }
      s.start_time = boot + std::stod(f[19]) / ticks;
      s.rss_bytes = std::stod(f[21]) * static_cast<double>(::sysconf(_SC_PAGESIZE));
    }
  }
  return s;
}

}  // namespace

void add_process_metrics(Registry& registry, std::string component, std::string version) {
  registry.add_collector([component = std::move(component), version = std::move(version)](Exposition& e) {
    ProcStat s = read_proc_stat();
    e.counter("process_cpu_seconds_total", "User and system CPU time spent in seconds", {}, s.cpu_seconds);
    e.gauge("process_resident_memory_bytes", "Resident memory size in bytes", {}, s.rss_bytes);
    e.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds", {},
            s.start_time);
    std::error_code ec;
    double fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++fds;
    e.gauge("process_open_fds", "Number of open file descriptors", {}, fds);
    e.gauge("d4_build_info", "The component and its version (always 1)",
            {{"component", component}, {"version", version}}, 1);
  });
}

Endpoint::Endpoint(const Registry& registry, std::function<Health()> health, const std::string& listen) {
  ListenAddress a = parse_listen_address(listen);
  http::Router router;
  router.get("/metrics", [&registry](http::Request&) {
    return http::Response::text(200, registry.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  router.get("/health", [health = std::move(health)](http::Request&) {
    Health h = health ? health() : Health{};
    nlohmann::json body = h.detail.is_object() ? h.detail : nlohmann::json::object();
    body["status"] = h.healthy ? "ok" : "degraded";
    return http::Response::json(h.healthy ? 200 : 503, body);
  });
  http::ServerOptions o;
  o.address = a.host;
  o.port = a.port;
  o.handler_threads = 1;
  o.max_connections = 64;
  o.max_connections_per_ip = 16;
  server_ = std::make_unique<http::Server>(std::move(router), o);
  server_->start();
  log_listening("metrics and health, HTTP", a.host, server_->port());
}

Endpoint::~Endpoint() {
  if (server_) server_->stop();
}

std::uint16_t Endpoint::port() const {
  return server_->port();
}

}  // namespace d4::core::metrics
