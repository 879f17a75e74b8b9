// d4-alerts: evaluates the alert rules and notifies (webhook, e-mail, Prometheus metrics); also
// manages the rules and shows the alerts. See docs/alerts.md.
#include <iostream>

#include "alerts/cli.hpp"
#include "alerts/daemon.hpp"
#include "core/cli.hpp"
#include "core/exit_codes.hpp"
#include "core/stop_signal.hpp"

namespace {

using d4::alerts::Rule;

// The options of `rule add`, mapped onto a Rule (unset options keep the rule's defaults).
struct RuleOptions {
  std::string kind, scope = "global";
  std::optional<long long> renotify, resolve_after;
  bool disabled = false;
  Rule rule;

  void add_to(d4::core::cli::App& cmd) {
    cmd.add_option("-k,--kind", kind,
                   "sensor_silent, sensor_error, queue_full, queue_stalled, worker_down or analyzer_down")
        ->required();
    cmd.add_option("-s,--scope", scope,
                   "global, sensor:<uuid> or org:<uuid> (organisations: evaluated as global)");
    cmd.add_option("-n,--name", rule.name, "a label for people (default: kind and scope)");
    cmd.add_option("-t,--target", rule.target, "one queue UUID (queue kinds), worker name or consumer name");
    cmd.add_option(
        "--interval", rule.interval_seconds,
        "sensor_silent: expected interval in seconds (default: the sensor's monitoring delta_time)");
    cmd.add_option("--window", rule.window_seconds, "sensor_error, queue_full: seconds looked back");
    cmd.add_option("--threshold", rule.threshold, "sensor_error: errors within the window");
    cmd.add_option("--fill-ratio", rule.fill_ratio, "queue_full: length / max size (0-1]");
    cmd.add_option("--stall", rule.stall_seconds, "queue_stalled, worker_down, analyzer_down: seconds");
    cmd.add_option("--reason", rule.reasons, "sensor_error: count only this reason (repeatable)");
    cmd.add_option("--renotify", renotify, "seconds between reminders while firing (0: never)");
    cmd.add_option("--resolve-after", resolve_after, "seconds the condition must stay clear to resolve");
    cmd.add_option("--channel", rule.channels, "notify only this channel (repeatable; default: all)");
    cmd.add_flag("--disabled", disabled, "store the rule without evaluating it");
  }
  Rule build() {
    auto k = d4::alerts::parse_kind(kind);
    if (!k) throw d4::alerts::RuleError("unknown kind '" + kind + "'");
    rule.kind = *k;
    rule.scope = d4::alerts::Scope::parse(scope);
    rule.renotify_seconds = renotify;
    rule.resolve_seconds = resolve_after;
    rule.enabled = !disabled;
    return rule;
  }
};

// The configuration file (with the environment overrides, checked against the schema), then the
// command line.
d4::alerts::AlertsConfig load_config(const std::string& path, const std::string& meta,
                                     const std::string& analyzer, const std::string& metrics_listen,
                                     const std::string& log_level) {
  toml::table root = d4::core::load_config(path);
  std::filesystem::path base =
      path.empty() ? std::filesystem::path() : std::filesystem::path(path).parent_path();
  auto c = d4::alerts::read_alerts_config(root, base);
  if (!meta.empty()) c.common.redis.meta = d4::core::cli::endpoint_argument(meta, "--meta");
  if (!analyzer.empty()) c.common.redis.analyzer = d4::core::cli::endpoint_argument(analyzer, "--analyzer");
  if (!metrics_listen.empty()) c.metrics_listen = metrics_listen;
  if (!log_level.empty()) c.common.log.level = log_level;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  d4::core::install_hangup_handler();
  d4::core::cli::App app{
      "D4 alerts: evaluates alert rules and notifies by webhook and e-mail (default command: run)"};
  std::string config_path, meta_ep, analyzer_ep, metrics_listen, log_level;
  bool as_json = false;
  app.add_option("-c,--config", config_path, "D4 configuration file (TOML): [redis], [queues], [alerts]");
  app.add_option("--meta", meta_ep, "metadata Redis host:port/db (rules, state, sensors)");
  app.add_option("--analyzer", analyzer_ep, "analyzer Redis host:port/db (queues, workers, consumers)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  app.add_flag("--json", as_json, "machine-readable output");
  auto* run = app.add_subcommand("run", "evaluate the rules on an interval and notify (the daemon)");
  run->add_option("--metrics-listen", metrics_listen, "serve /metrics and /health on host:port");
  auto* rule = app.add_subcommand("rule", "manage alert rules")->require_subcommand(1);
  RuleOptions add_opts;
  add_opts.add_to(*rule->add_subcommand("add", "add a rule; prints its id"));
  rule->add_subcommand("list", "list the rules");
  std::string remove_id;
  rule->add_subcommand("remove", "remove a rule")->add_option("id", remove_id, "rule id")->required();
  app.add_subcommand("status", "show the alerts (firing, then resolved) and the daemon's counters");
  auto* forget = app.add_subcommand("forget", "remove a dead worker or analyzer consumer from its registry");
  std::string forget_what, forget_name;
  forget->add_option("what", forget_what, "worker or analyzer")->required();
  forget->add_option("name", forget_name, "its name")->required();
  auto* test = app.add_subcommand("test", "send a test notification through one channel");
  std::string test_channel;
  test->add_option("channel", test_channel, "channel name ([alerts.webhook.<name>] or [alerts.email.<name>])")
      ->required();
  return d4::core::cli::run_main(app, argc, argv, "d4-alerts", [&](bool check_only) {
    auto config = load_config(config_path, meta_ep, analyzer_ep, metrics_listen, log_level);
    if (check_only) return d4::core::cli::config_ok("d4-alerts", config_path);
    d4::core::init_logging("d4-alerts", config.common.log);
    if (rule->parsed()) {
      if (rule->get_subcommand("add")->parsed())
        return d4::alerts::rule_add(config, add_opts.build(), as_json);
      if (rule->get_subcommand("list")->parsed()) return d4::alerts::rule_list(config, as_json);
      return d4::alerts::rule_remove(config, remove_id);
    }
    if (app.get_subcommand("status")->parsed()) return d4::alerts::show_status(config, as_json);
    if (forget->parsed()) return d4::alerts::forget_process(config, forget_what, forget_name);
    if (test->parsed()) return d4::alerts::send_test(config, test_channel);
    d4::core::enable_config_reload("d4-alerts", config_path, log_level);
    return d4::alerts::run_daemon(config);
  });
}
