#pragma once
// d4-alerts as a daemon: its configuration ([alerts], [alerts.webhook.<name>],
// [alerts.email.<name>], docs/configuration.md) and the loop that evaluates the rules on an
// interval while holding the evaluation lock, with /metrics and /health.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "alerts/engine.hpp"
#include "alerts/notify.hpp"
#include "core/config.hpp"
#include "core/privileges.hpp"

namespace d4::alerts {

struct AlertsConfig {
  core::CommonConfig common;
  core::RunAs run_as;  // [general] user, group, allow_root
  std::chrono::milliseconds interval{15000};
  std::string metrics_listen;  // empty: no endpoint
  EngineSettings engine;
  std::size_t max_sensors = 100000;
  long long default_queue_max_size = 100'000'000;  // [queues] default_max_size
  std::vector<WebhookConfig> webhooks;
  std::vector<EmailConfig> emails;
};

// Reads [general], [redis], [queues] default_max_size and the [alerts] sections. Throws
// core::ConfigError naming the option.
AlertsConfig read_alerts_config(const toml::table& root, const std::filesystem::path& base_dir);
std::vector<std::unique_ptr<Channel>> make_channels(const AlertsConfig& config);

// Runs until SIGINT/SIGTERM; returns the exit status.
int run_daemon(const AlertsConfig& config);

}  // namespace d4::alerts
