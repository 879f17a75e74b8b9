#include "alerts/observe.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/keys.hpp"
#include "core/sensor_monitoring.hpp"
#include "core/sensors.hpp"
#include "queues/queue_store.hpp"

namespace d4::alerts {

namespace keys = core::keys;

namespace {

// Error list entries read per sensor: more than the lists hold by default ([server]
// error_list_size, 50), so that a threshold up to this many can be reached.
constexpr int kMaxErrorEntries = 1000;

std::optional<long long> opt_integer(const core::RedisReply& r) {
  return r.is_nil() ? std::nullopt : r.as_integer();
}

std::string element(const core::RedisReply& r, std::size_t i) {
  return i < r.elements.size() && !r.elements[i].is_nil() ? r.elements[i].str : std::string();
}

std::optional<long long> integer_element(const core::RedisReply& r, std::size_t i) {
  return i < r.elements.size() ? r.elements[i].as_integer() : std::nullopt;
}

}  // namespace

const core::SensorOwnership& Observer::ownership() {
  if (!ownership_) ownership_ = core::OrganisationStore(*src_.meta).ownership();
  return *ownership_;
}

// Applies the scope of a queue rule: one queue (target), the group queues of a sensor, those fed
// only by an organisation's sensors, or all. A targeted queue must still be in an organisation
// rule's scope.
bool Observer::queue_in_scope(const Rule& rule, const Queue& q) {
  if (rule.scope.type == Scope::Type::Org) {
    bool own = !q.sensors.empty() &&
               std::all_of(q.sensors.begin(), q.sensors.end(),
                           [&](const std::string& s) { return ownership().owner(s) == rule.scope.id; });
    if (!own) return false;
  }
  if (!rule.target.empty()) {
    auto want = core::normalize_sensor_uuid(rule.target);  // queue ids are UUIDs, spelled any way
    auto have = core::normalize_sensor_uuid(q.id);
    return want && have ? *want == *have : rule.target == q.id;
  }
  if (rule.scope.type == Scope::Type::Sensor)
    return std::find(q.sensors.begin(), q.sensors.end(), rule.scope.id) != q.sensors.end();
  return true;
}

std::string human_duration(double seconds) {
  auto s = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

void Observer::begin(double now) {
  now_ = now;
  sensors_.reset();
  ownership_.reset();
  queues_.reset();
  workers_.reset();
  consumers_.reset();
  sensors_truncated_ = false;
}

std::vector<Observation> Observer::observe(const Rule& rule) {
  switch (rule.kind) {
    case Kind::SensorSilent:
      return observe_silent(rule);
    case Kind::SensorError:
      return observe_errors(rule);
    case Kind::QueueFull:
    case Kind::QueueStalled:
      return observe_queues(rule);
    case Kind::WorkerDown:
    case Kind::AnalyzerDown:
      return observe_down(rule);
  }
  return {};
}

// ---- sensors ----

const std::vector<Observer::Sensor>& Observer::sensors() {
  if (sensors_) return *sensors_;
  auto& meta = *src_.meta;
  std::map<std::string, std::optional<long long>> interval;
  for (const auto& m : core::read_monitored_sensors(meta))
    if (m.configured()) interval[m.uuid] = m.delta_time;
  auto uuids = core::read_sensor_index(meta, src_.max_sensors, sensors_truncated_);
  std::set<std::string> all(uuids.begin(), uuids.end());
  for (const auto& [u, d] : interval) all.insert(u);
  std::vector<std::vector<std::string>> reads;
  for (const auto& u : all)
    reads.push_back({"HMGET", keys::sensor_metadata(u), "first_seen", "last_seen", "Error"});
  std::vector<core::RedisReply> replies;
  if (!reads.empty()) replies = meta.pipeline(reads);
  std::vector<Sensor> out;
  std::size_t i = 0;
  for (const auto& u : all) {
    const auto& r = replies[i++];
    Sensor s{u, integer_element(r, 0), integer_element(r, 1), {}, element(r, 2)};
    if (auto it = interval.find(u); it != interval.end()) s.monitoring_interval = it->second;
    out.push_back(std::move(s));
  }
  sensors_ = std::move(out);
  return *sensors_;
}

std::vector<Observer::Sensor> Observer::sensors_in(const Scope& scope) {
  if (scope.type == Scope::Type::Global) return sensors();
  if (scope.type == Scope::Type::Org) {
    // The organisation's sensors: assigned to it, or every unassigned one for the default one.
    std::vector<Sensor> out;
    for (const auto& s : sensors())
      if (ownership().owner(s.uuid) == scope.id) out.push_back(s);
    return out;
  }
  for (const auto& s : sensors())
    if (s.uuid == scope.id) return {s};
  // Not known (yet): a sensor rule still watches it, as never seen.
  return {Sensor{scope.id, {}, {}, {}, {}}};
}

std::vector<Observation> Observer::observe_silent(const Rule& rule) {
  std::vector<Observation> out;
  const bool scoped = rule.scope.type == Scope::Type::Sensor;
  for (const auto& s : sensors_in(rule.scope)) {
    long long interval =
        rule.interval_seconds > 0 ? rule.interval_seconds : s.monitoring_interval.value_or(0);
    if (interval < 1) continue;  // no expected interval for this sensor
    // A sensor that never sent anything is watched only when asked for by name or by monitoring:
    // registered sensors not deployed yet would otherwise fire at once.
    if (!s.last_seen && !scoped && !s.monitoring_interval) continue;
    auto now = static_cast<long long>(now_);
    Observation o{"sensor:" + s.uuid, {{"sensor", s.uuid}}, false, 0, {}, {}};
    o.active = core::silent_longer_than(s.last_seen, interval, now);
    if (!s.last_seen)
      o.summary = fmt::format("sensor {} has never sent data (expected every {})", s.uuid,
                              human_duration(static_cast<double>(interval)));
    else
      o.summary = fmt::format("sensor {} silent for {} (expected every {})", s.uuid,
                              human_duration(static_cast<double>(now - *s.last_seen)),
                              human_duration(static_cast<double>(interval)));
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<Observation> Observer::observe_errors(const Rule& rule) {
  auto list = sensors_in(rule.scope);
  std::vector<std::vector<std::string>> reads;
  auto last = std::to_string(kMaxErrorEntries - 1);
  for (const auto& s : list) {
    reads.push_back({"LRANGE", keys::sensor_errors(s.uuid), "0", last});
    reads.push_back({"LRANGE", keys::sensor_unauth_errors(s.uuid), "0", last});
  }
  std::vector<core::RedisReply> replies;
  if (!reads.empty()) replies = src_.meta->pipeline(reads);
  std::set<std::string> wanted(rule.reasons.begin(), rule.reasons.end());
  const double from = now_ - static_cast<double>(rule.window_seconds);
  std::vector<Observation> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& s = list[i];
    std::map<std::string, long long> by_reason;
    long long count = 0;
    for (std::size_t k = 2 * i; k < 2 * i + 2; ++k)
      for (const auto& text : replies[k].as_strings()) {
        auto e = core::parse_sensor_error(text);
        if (static_cast<double>(e.time) < from) break;  // newest first: the rest is older
        if (!wanted.empty() && !wanted.count(e.reason)) continue;
        ++by_reason[e.reason];
        ++count;
      }
    bool error_field = wanted.empty() && !s.error.empty();
    Observation o{"sensor:" + s.uuid, {{"sensor", s.uuid}}, false, 0, {}, {}};
    o.active = error_field || count >= rule.threshold;
    std::string reasons;
    for (const auto& [reason, n] : by_reason)
      reasons += fmt::format("{}{} x{}", reasons.empty() ? "" : ", ", reason, n);
    o.summary = fmt::format("sensor {}: {} error(s) in the last {}{}{}", s.uuid, count,
                            human_duration(static_cast<double>(rule.window_seconds)),
                            reasons.empty() ? "" : " (" + reasons + ")",
                            s.error.empty() ? "" : "; last error: " + s.error);
    out.push_back(std::move(o));
  }
  return out;
}

// ---- queues ----

const std::vector<Observer::Queue>& Observer::queues() {
  if (queues_) return *queues_;
  queues::QueueStore store(*src_.meta, *src_.analyzer, src_.default_queue_max_size, src_.layout);
  std::vector<Queue> out;
  std::map<std::string, DropMemory> seen;
  for (const auto& q : store.list()) {
    // stats() also records consumption noticed since the last look (the length went down), so
    // the daemon's own evaluations keep last_consumer_activity current.
    auto st = store.stats(q.id);
    Queue r{q.id,       q.target.list_part(),      st.length, store.effective_max_size(q),
            st.dropped, st.last_consumer_activity, {},        q.sensors};
    auto it = drops_.find(q.id);
    DropMemory m{st.dropped, {}};
    if (it != drops_.end()) {
      m.last_growth = it->second.last_growth;
      if (st.dropped > it->second.dropped) m.last_growth = now_;
    }
    r.last_drop = m.last_growth;
    seen[q.id] = m;
    out.push_back(std::move(r));
  }
  drops_ = std::move(seen);  // forgets removed queues
  queues_ = std::move(out);
  return *queues_;
}

std::vector<Observation> Observer::observe_queues(const Rule& rule) {
  std::vector<Observation> out;
  for (const auto& q : queues()) {
    if (!queue_in_scope(rule, q)) continue;
    Observation o{"queue:" + q.id, {{"queue", q.id}, {"type", q.type}}, false, 0, {}, {}};
    if (rule.kind == Kind::QueueFull) {
      bool full = q.max_size > 0 &&
                  static_cast<double>(q.length) >= rule.fill_ratio * static_cast<double>(q.max_size);
      bool dropping = q.last_drop && now_ - *q.last_drop <= static_cast<double>(rule.window_seconds);
      o.active = full || dropping;
      o.summary = fmt::format(
          "queue {} (type {}): {} of {} elements{}{}", q.id, q.type, q.length,
          q.max_size > 0 ? std::to_string(q.max_size) : std::string("unbounded"),
          full ? fmt::format(" (at least {:.0f}% full)", rule.fill_ratio * 100) : "",
          dropping ? fmt::format("; dropping its oldest elements ({} dropped in all)", q.dropped) : "");
    } else {
      // Waiting elements and nobody consuming them: counted from the last consumption noticed, or
      // from when this daemon first saw elements waiting if that is later (an idle consumer of an
      // empty queue is not late for an element pushed a second ago).
      o.active = q.length > 0;
      o.hold = static_cast<double>(rule.stall_seconds);
      if (q.last_consumer_activity > 0) o.since = q.last_consumer_activity;
      o.summary = fmt::format(
          "queue {} (type {}): {} element(s) waiting, last consumption {}", q.id, q.type, q.length,
          q.last_consumer_activity > 0 ? human_duration(now_ - q.last_consumer_activity) + " ago"
                                       : std::string("never seen"));
    }
    out.push_back(std::move(o));
  }
  return out;
}

// ---- workers and analyzer consumers ----

const std::vector<Observer::Process>& Observer::processes(bool workers) {
  auto& cache = workers ? workers_ : consumers_;
  if (cache) return *cache;
  auto& redis = *src_.analyzer;
  auto names =
      redis.command_ok({"SMEMBERS", workers ? keys::kWorkers : keys::kAnalyzerConsumers}).as_strings();
  std::sort(names.begin(), names.end());
  std::vector<std::vector<std::string>> reads;
  for (const auto& n : names)
    reads.push_back({"HMGET", workers ? keys::worker_stats(n) : keys::analyzer_consumer(n), "updated",
                     workers ? "types" : "queue"});
  std::vector<core::RedisReply> replies;
  if (!reads.empty()) replies = redis.pipeline(reads);
  std::vector<Process> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    out.push_back({names[i], true, integer_element(replies[i], 0), element(replies[i], 1)});
  }
  cache = std::move(out);
  return *cache;
}

std::vector<Observation> Observer::observe_down(const Rule& rule) {
  const bool workers = rule.kind == Kind::WorkerDown;
  const char* what = workers ? "worker" : "analyzer consumer";
  const char* label = workers ? "worker" : "consumer";
  std::vector<Process> list;
  for (const auto& p : processes(workers))
    if (rule.target.empty() || p.name == rule.target) list.push_back(p);
  if (!rule.target.empty() && list.empty()) {
    // Expected by name but not registered: stopped, or never started.
    auto r = src_.analyzer->command_ok(
        {"HGET", workers ? keys::worker_stats(rule.target) : keys::analyzer_consumer(rule.target),
         "updated"});
    list.push_back({rule.target, false, opt_integer(r), {}});
  }
  std::vector<Observation> out;
  for (const auto& p : list) {
    Observation o{std::string(label) + ":" + p.name, {{label, p.name}}, false, 0, {}, {}};
    double age = p.updated ? now_ - static_cast<double>(*p.updated) : -1;
    o.active = !p.updated || age > static_cast<double>(rule.stall_seconds);
    std::string detail =
        p.detail.empty() ? "" : fmt::format(" ({} {})", workers ? "types" : "queue", p.detail);
    if (!p.updated)
      o.summary = fmt::format("{} {}{} is not running{}", what, p.name, detail,
                              p.registered ? " (registered, but its heartbeat expired: it died)" : "");
    else
      o.summary = fmt::format("{} {}{}: last heartbeat {} ago", what, p.name, detail, human_duration(age));
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace d4::alerts
