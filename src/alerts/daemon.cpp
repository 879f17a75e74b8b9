#include "alerts/daemon.hpp"

#include <unistd.h>

#include <ctime>

#include <spdlog/spdlog.h>

#include "alerts/channel_names.hpp"
#include "core/keys.hpp"
#include "core/lease.hpp"
#include "core/metrics.hpp"
#include "core/stop_signal.hpp"
#include "core/version.hpp"
#include "protocol/clock.hpp"

namespace d4::alerts {

namespace {

using core::ConfigError;
using core::get_int;
using core::get_string;

std::string host_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

long long positive(const toml::table& root, std::string_view section, std::string_view key, long long def,
                   long long min = 1) {
  long long v = get_int(root, section, key, def);
  if (v < min)
    throw ConfigError("option " + std::string(section) + "." + std::string(key) + " must be at least " +
                      std::to_string(min));
  return v;
}

std::string resolve_path(const std::string& p, const std::filesystem::path& base) {
  if (p.empty() || std::filesystem::path(p).is_absolute() || base.empty()) return p;
  return (base / p).string();
}

void read_channels(const toml::table& root, const std::filesystem::path& base, AlertsConfig& c) {
  for (const auto& name : channel_names(root, "alerts.webhook")) {
    std::string s = "alerts.webhook." + name;
    WebhookConfig w{name, get_string(root, s, "url", ""), core::get_string_list(root, s, "headers", {}),
                    resolve_path(get_string(root, s, "ca_file", ""), base),
                    std::chrono::milliseconds(positive(root, s, "timeout_ms", 10000))};
    if (w.url.rfind("http://", 0) != 0 && w.url.rfind("https://", 0) != 0)
      throw ConfigError("option " + s + ".url must be an http:// or https:// URL");
    c.webhooks.push_back(std::move(w));
  }
  for (const auto& name : channel_names(root, "alerts.email")) {
    std::string s = "alerts.email." + name;
    EmailConfig e{name,
                  get_string(root, s, "url", ""),
                  get_string(root, s, "from", ""),
                  core::get_string_list(root, s, "to", {}),
                  get_string(root, s, "username", ""),
                  core::get_secret(root, s, "password", ""),
                  core::get_bool(root, s, "require_tls", true),
                  resolve_path(get_string(root, s, "ca_file", ""), base),
                  std::chrono::milliseconds(positive(root, s, "timeout_ms", 20000))};
    if (e.url.rfind("smtp://", 0) != 0 && e.url.rfind("smtps://", 0) != 0)
      throw ConfigError("option " + s + ".url must be an smtp:// or smtps:// URL");
    if (e.from.empty() || e.to.empty()) throw ConfigError("options " + s + ".from and .to are required");
    c.emails.push_back(std::move(e));
  }
  all_channel_names(root);  // refuses a name used twice
}

// The relay that sends organisations' e-mail channels ([alerts.org_email]; none: not sent).
void read_org_channel_settings(const toml::table& root, const std::filesystem::path& base, AlertsConfig& c) {
  c.engine.org_webhook_allow_http = core::get_bool(root, "alerts", "org_webhook_allow_http", false);
  const std::string s = "alerts.org_email";
  auto url = get_string(root, s, "url", "");
  if (url.empty()) return;
  if (url.rfind("smtp://", 0) != 0 && url.rfind("smtps://", 0) != 0)
    throw ConfigError("option " + s + ".url must be an smtp:// or smtps:// URL");
  EmailConfig e{"org-email",
                url,
                get_string(root, s, "from", ""),
                {},
                get_string(root, s, "username", ""),
                core::get_secret(root, s, "password", ""),
                core::get_bool(root, s, "require_tls", true),
                resolve_path(get_string(root, s, "ca_file", ""), base),
                std::chrono::milliseconds(positive(root, s, "timeout_ms", 20000))};
  if (e.from.empty()) throw ConfigError("option " + s + ".from is required");
  c.engine.org_email_relay = std::move(e);
}

}  // namespace

AlertsConfig read_alerts_config(const toml::table& root, const std::filesystem::path& base_dir) {
  AlertsConfig c;
  c.common = core::read_common_config(root, base_dir);
  c.run_as = core::read_run_as(root);
  c.default_queue_max_size = get_int(root, "queues", "default_max_size", c.default_queue_max_size);
  c.interval = std::chrono::milliseconds(positive(root, "alerts", "interval_ms", 15000, 100));
  c.metrics_listen = get_string(root, "alerts", "metrics_listen", "");
  auto& e = c.engine;
  e.resolve_seconds = static_cast<double>(positive(root, "alerts", "resolve_seconds", 60, 0));
  e.renotify_seconds = static_cast<double>(positive(root, "alerts", "renotify_seconds", 4 * 3600, 0));
  e.max_instances = static_cast<std::size_t>(positive(root, "alerts", "max_instances", 1000));
  e.max_rules = static_cast<std::size_t>(positive(root, "alerts", "max_rules", 200));
  e.resolved_retention_seconds =
      static_cast<double>(positive(root, "alerts", "resolved_retention_seconds", 86400, 0));
  e.retry_base_seconds = static_cast<double>(positive(root, "alerts", "retry_min_ms", 15000)) / 1000.0;
  e.retry_max_seconds = static_cast<double>(positive(root, "alerts", "retry_max_ms", 600000)) / 1000.0;
  e.source = get_string(root, "alerts", "source_name", "d4-alerts@" + host_name());
  c.max_sensors = static_cast<std::size_t>(positive(root, "alerts", "max_sensors", 100000));
  read_channels(root, base_dir, c);
  read_org_channel_settings(root, base_dir, c);
  return c;
}

std::vector<std::unique_ptr<Channel>> make_channels(const AlertsConfig& config) {
  std::vector<std::unique_ptr<Channel>> out;
  for (const auto& w : config.webhooks) out.push_back(make_webhook(w));
  for (const auto& e : config.emails) out.push_back(make_email(e));
  return out;
}

namespace {

// The evaluation lock: taken, or renewed by its holder, for `ttl`. Two daemons (a standby) never
// evaluate at the same time, so a change is notified once.
bool hold_lock(core::RedisClient& meta, const std::string& owner, std::chrono::milliseconds ttl) {
  return core::lease::hold(meta, std::string(core::keys::kAlertLock), owner, ttl);
}

void release_lock(core::RedisClient& meta, const std::string& owner) {
  try {
    core::lease::release(meta, std::string(core::keys::kAlertLock), owner);
  } catch (const std::exception&) {
  }
}

struct LoopState {
  std::atomic<double> last_ok{0};  // last pass that reached Redis (evaluation or standby check)
  std::atomic<bool> active{false};
  std::atomic<std::size_t> firing{0};
};

core::metrics::Health health(const LoopState& s, std::chrono::milliseconds interval) {
  double age = clock::unix_seconds_fractional() - s.last_ok.load();
  double limit = 3 * std::chrono::duration<double>(interval).count() + 30;
  core::metrics::Health h;
  h.healthy = s.last_ok.load() > 0 && age <= limit;
  h.detail = {{"role", s.active.load() ? "evaluating" : "standby"},
              {"last_pass_age_seconds", s.last_ok.load() > 0 ? age : -1.0},
              {"firing", s.firing.load()}};
  return h;
}

}  // namespace

int run_daemon(const AlertsConfig& config) {
  core::install_stop_handlers(/*interrupt_blocking_calls=*/false);
  core::RedisClient meta(config.common.redis.meta), analyzer(config.common.redis.analyzer);
  core::metrics::Registry registry;
  core::metrics::add_process_metrics(registry, "d4-alerts", std::string(kProjectVersion));
  Engine engine(config.engine,
                ObserverSources{&meta, &analyzer, config.default_queue_max_size, config.max_sensors,
                                config.common.redis.layout},
                make_channels(config), &registry);
  auto& pass_errors =
      registry.counter("d4_alerts_evaluation_errors_total", "Evaluations that failed (Redis unreachable)");
  auto& active_gauge = registry.gauge("d4_alerts_active", "1 while this process holds the evaluation lock");
  LoopState state;
  std::unique_ptr<core::metrics::Endpoint> endpoint;
  if (!config.metrics_listen.empty())
    endpoint = std::make_unique<core::metrics::Endpoint>(
        registry, [&state, &config] { return health(state, config.interval); }, config.metrics_listen);
  core::drop_privileges("d4-alerts", config.run_as);
  const std::string owner =
      config.engine.source + "/" + std::to_string(getpid()) + "/" + std::to_string(std::time(nullptr));
  const auto ttl = std::max(3 * config.interval, std::chrono::milliseconds(30000));
  spdlog::info("d4-alerts evaluating every {} ms with {} notification channel(s)", config.interval.count(),
               engine.channels().size());
  bool outage = false;
  while (!core::stop_requested()) {
    try {
      bool active = hold_lock(meta, owner, ttl);
      if (active != state.active.load())
        spdlog::info(active ? "evaluation lock taken: evaluating"
                            : "another d4-alerts evaluates: standing by");
      state.active = active;
      active_gauge = active ? 1 : 0;
      if (active) {
        auto report = engine.evaluate(clock::unix_seconds_fractional());
        state.firing = report.firing;
        spdlog::debug("evaluated {} rules: {} firing, {} notifications sent, {} failed", report.rules,
                      report.firing, report.sent, report.failed);
      }
      state.last_ok = clock::unix_seconds_fractional();
      if (outage) spdlog::info("Redis reachable again");
      outage = false;
    } catch (const core::RedisError& e) {
      pass_errors.fetch_add(1, std::memory_order_relaxed);
      if (!outage) spdlog::warn("evaluation failed, retrying: {}", e.what());
      outage = true;
      meta.disconnect();
      analyzer.disconnect();
    }
    core::sleep_unless_stopped(config.interval);
  }
  release_lock(meta, owner);
  endpoint.reset();  // before the engine its collector reads
  spdlog::info("d4-alerts stopping");
  return 0;
}

}  // namespace d4::alerts
