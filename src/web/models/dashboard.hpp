#pragma once
// Read model of the dashboard, the server health and the daily traffic charts
// (/, /api/v1/dashboard, /api/v1/health, /api/v1/stats/daily).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/redis_client.hpp"
#include "web/auth/scope.hpp"
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
// The same from type -> count pairs per date.
using ScoredCounts = std::vector<std::pair<std::string, long long>>;
TypeSeries type_series(const std::vector<std::string>& dates, const std::vector<ScoredCounts>& packets,
                       const std::vector<ScoredCounts>& bytes);

class Statistics {
 public:
  // The metadata Redis (daily counters, sensors) and the stream Redis (connections,
  // worker sessions, named in the configured key layout).
  explicit Statistics(Db& db) : meta_(db.meta), stream_(db.stream), policy_(db.policy), layout_(db.layout) {}

  // Today's figures with `health` (see health()); a restricted scope gets the sums of its own
  // sensors' counters instead of the server's totals.
  DashboardView dashboard(HealthView health, const Scope& scope);
  TrafficHistory daily(int days, const Scope& scope);  // days clamped to 1..90
  // Pings both Redis servers, counts the worker sessions and backlog per accepted type, and reads
  // d4-server's metrics at `ingest_metrics_url` (when set); `web` is the web tier's counters. A
  // restricted scope gets the pings and the web counters only (the rest counts every sensor).
  HealthView health(const std::string& ingest_metrics_url, std::map<std::string, std::uint64_t> web,
                    const Scope& scope);

 private:
  std::vector<WorkerState> workers(long long& backlog_total);
  void fill_scoped_today(DashboardView& v, const std::string& day, const Scope& scope);
  // The covered sensors among `daily_uuid:<day>`, highest first, with their packets.
  ScoredCounts scoped_daily_sensors(const std::string& day, const Scope& scope);
  // The per-type packets and bytes of `sensors` on `day`, summed.
  std::pair<ScoredCounts, ScoredCounts> summed_types(const std::string& day, const ScoredCounts& sensors);

  core::RedisClient& meta_;
  core::RedisClient& stream_;
  core::SensorPolicy& policy_;
  core::keys::KeyLayout layout_;
};

}  // namespace d4::web::models
