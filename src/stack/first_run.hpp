#pragma once
// First-run preparation of the embedded stack (data directory, configuration, certificate,
// random default key) and the summary printed for operators.
#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "core/config.hpp"
#include "stack/log_pump.hpp"

namespace d4::stack {

struct FirstRun {
  bool created_config = false;
  bool created_certificate = false;
};

// Creates the data directory layout; on first run writes the configuration (free loopback
// ports near the reference defaults, a random default HMAC key) and a self-signed certificate.
FirstRun prepare_data_dir(const std::filesystem::path& data, const std::filesystem::path& config_file);

struct StackSettings {
  bool start_redis = true;
  bool start_web = true;
  bool durable_stream = false;         // the stream Redis keeps an AOF (fsync every second)
  LogRotation log_rotation;            // [stack] log_max_bytes, log_keep_files
  std::vector<std::string> analyzers;  // names of analyzers/registry/descriptor.hpp entries
  std::string sensor_listen;           // host:port of the sensor TLS listener
  std::string web_listen;              // host:port of the web interface
  std::string metrics_listen;          // d4-server's /metrics
  std::string worker_metrics_listen;   // d4-worker's /metrics
  std::string web_metrics_listen;      // d4-web's /metrics
  // Each analyzer process's /metrics (process name -> host:port), in start order; unset: absent.
  std::vector<std::pair<std::string, std::string>> analyzer_metrics_listen;
  std::map<std::string, std::string> api_listen;  // analyzer name -> host:port of its query API
  std::filesystem::path tls_cert;
  // A readiness probe per component (empty function: no probe).
  std::function<std::function<bool()>(const std::string&, const core::CommonConfig&)> readiness;
};

StackSettings read_stack_settings(const toml::table& root, const std::filesystem::path& base_dir);

void print_summary(std::ostream& out, const std::filesystem::path& data,
                   const std::filesystem::path& config_file, const toml::table& root,
                   const core::CommonConfig& common, const StackSettings& settings, const FirstRun& first);

// Picks `preferred` if nothing listens there on loopback, else the next free port above it.
int pick_free_port(int preferred, const std::vector<int>& taken = {});
bool tcp_port_open(const std::string& host, int port);

}  // namespace d4::stack
