#pragma once
// Read model of the dashboard, the server health and the daily traffic charts
// (/, /api/v1/dashboard, /api/v1/health, /api/v1/stats/daily).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/redis_client.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"
#include "web/models/ingest_metrics.hpp"

namespace d4::web::models {

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
  long long backlog_packets = 0;  // stream entries waiting in the type's sessions (one or more packets each)
};
D4_VIEW_TO_JSON(WorkerState, type, sessions, working_sessions, backlog_packets)

struct HealthView {
  std::vector<RedisProbe> redis;  // by name
  std::vector<WorkerState> workers;
  long long backlog_packets = 0;
  IngestState ingest;
  std::map<std::string, std::uint64_t> web;  // the web tier's budget refusals (WebApp::budget_counters)
};

void to_json(json& j, const HealthView& h);

struct TypeCount {
  std::string type;
  long long packets = 0;
  long long bytes = 0;
};
D4_VIEW_TO_JSON(TypeCount, type, packets, bytes)

struct SensorCount {
  std::string uuid;
  long long packets = 0;
};
D4_VIEW_TO_JSON(SensorCount, uuid, packets)

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
D4_VIEW_TO_JSON(DashboardView, date, connected_sensors, types_today, top_sensors_today, sensors_in_error,
                registered_sensors, pending_sensors, sensors_seen_today, health)

// Packets and bytes per type and day, oldest day first (every series has one value per date).
struct TypeSeries {
  std::vector<std::string> dates;  // YYYY-MM-DD
  std::map<std::string, std::vector<long long>> packets_by_type;
  std::map<std::string, std::vector<long long>> bytes_by_type;
};

// The server's daily traffic, with the packets of the sensors among each day's top ten.
struct TrafficHistory : TypeSeries {
  std::map<std::string, std::vector<long long>> packets_by_sensor;
};
D4_VIEW_TO_JSON(TrafficHistory, dates, packets_by_type, bytes_by_type, packets_by_sensor)

// The per-type series of `dates` from the replies of ZRANGE ... WITHSCORES on the packet and
// byte counters of each date (packets[i], bytes[i] for dates[i]).
TypeSeries type_series(const std::vector<std::string>& dates,
                       const std::vector<const core::RedisReply*>& packets,
                       const std::vector<const core::RedisReply*>& bytes);

class Statistics {
 public:
  // `meta`: the metadata Redis (daily counters, sensors); `stream`: the stream Redis (connections,
  // worker sessions).
  Statistics(core::RedisClient& meta, core::RedisClient& stream) : meta_(meta), stream_(stream) {}
  explicit Statistics(Db& db) : Statistics(db.meta, db.stream) {}

  // Today's figures with `health` (see health()).
  DashboardView dashboard(HealthView health);
  TrafficHistory daily(int days);  // days clamped to 1..90
  // Pings both Redis servers, counts the worker sessions and backlog per accepted type, and reads
  // d4-server's metrics at `ingest_metrics_url` (when set); `web` is the web tier's counters.
  HealthView health(const std::string& ingest_metrics_url, std::map<std::string, std::uint64_t> web);

 private:
  std::vector<WorkerState> workers(long long& backlog_total);

  core::RedisClient& meta_;
  core::RedisClient& stream_;
};

}  // namespace d4::web::models
