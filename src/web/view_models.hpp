#pragma once
// Typed read models shared by the pages and the JSON API: a page reads fields (a typo does not
// compile) and the API serialises the same struct (to_json), so both show the same data.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace d4::web {

struct RedisProbe {
  std::string name;  // "stream", "meta"
  bool ok = false;
  double latency_ms = 0;
  std::string endpoint;
};

struct WorkerState {
  int type = 0;
  long long sessions = 0;
  long long working_sessions = 0;
  long long backlog_packets = 0;  // packets waiting in the type's session streams
};

struct IngestState {
  std::string url;  // d4-server's metrics URL ([web] ingest_metrics_url)
  bool reachable = false;
  std::map<std::string, double> metrics;  // name{labels} -> value, at most 200
};

struct HealthView {
  std::vector<RedisProbe> redis;  // by name
  std::vector<WorkerState> workers;
  long long backlog_packets = 0;
  IngestState ingest;
  std::map<std::string, std::uint64_t> web;  // the web tier's budget refusals (WebApp::budget_counters)
};

struct TypeCount {
  std::string type;
  long long packets = 0;
  long long bytes = 0;
};

struct SensorCount {
  std::string uuid;
  long long packets = 0;
};

struct DashboardView {
  std::string date;  // YYYY-MM-DD, today (server local time)
  std::vector<std::string> connected_sensors;
  std::vector<TypeCount> types_today;
  std::vector<SensorCount> top_sensors_today;
  std::vector<std::string> sensors_in_error;
  long long registered_sensors = 0;
  long long pending_sensors = 0;
  long long sensors_seen_today = 0;
  HealthView health;
};

void to_json(nlohmann::json& j, const HealthView& h);
void to_json(nlohmann::json& j, const DashboardView& d);

}  // namespace d4::web
