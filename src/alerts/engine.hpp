#pragma once
// The alert engine: at each evaluation it loads the rules and the instances' state from Redis,
// observes what the rules watch, steps every instance (state.hpp: fire, remind, resolve with a
// delay), delivers the notifications due (retrying failed ones with backoff), and saves the state.
// One evaluation is one call; the daemon (daemon.hpp) calls it on an interval.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "alerts/notify.hpp"
#include "alerts/observe.hpp"
#include "alerts/rule.hpp"
#include "alerts/state.hpp"
#include "core/metrics.hpp"
#include "core/redis_client.hpp"

namespace d4::alerts {

struct EngineSettings {
  double resolve_seconds = 60;         // default clear delay before resolving
  double renotify_seconds = 4 * 3600;  // default reminder interval while firing (0: never)
  std::size_t max_instances = 1000;    // alert instances kept (firing + resolved)
  std::size_t max_rules = 200;
  double resolved_retention_seconds = 86400;  // resolved instances are shown this long
  double retry_base_seconds = 15;             // first retry delay of a failed notification
  double retry_max_seconds = 600;
  std::string source;  // "d4-alerts@<host>"
  // Organisations' own channels (alerts/org_channels.hpp): the relay of their e-mail channels
  // ([alerts.org_email]; none: e-mail channels are not sent) and whether http:// webhooks are
  // allowed.
  std::optional<EmailConfig> org_email_relay;
  bool org_webhook_allow_http = false;
};

struct EvaluationReport {
  std::size_t rules = 0, invalid_rules = 0, firing = 0, instances = 0, events = 0;
  std::size_t sent = 0, failed = 0, over_budget = 0, pending = 0;
};

class Engine {
 public:
  // `meta` holds rules, state and sensors; `analyzer` the queues, workers and consumers. The
  // registry (optional) receives the engine's counters and a collector of the firing alerts.
  Engine(EngineSettings settings, ObserverSources sources, std::vector<std::unique_ptr<Channel>> channels,
         core::metrics::Registry* registry);
  // Throws core::RedisError when Redis cannot be read or written (nothing is notified then).
  EvaluationReport evaluate(double now);
  const std::vector<std::unique_ptr<Channel>>& channels() const { return channels_; }

 private:
  struct Counters {
    std::atomic<std::uint64_t>* evaluations = nullptr;
    std::atomic<std::uint64_t>* over_budget = nullptr;
    std::map<std::string, std::atomic<std::uint64_t>*> sent, failed;  // by channel
  };
  struct Pass;  // one evaluation's working set
  void observe_rule(Pass& pass, const Rule& rule);
  void apply(Pass& pass, const Rule& rule, const Observation& o);
  InstanceState* admit(Pass& pass, const std::string& key);
  void settle_unobserved(Pass& pass);
  void deliver(Pass& pass);
  void publish(Pass& pass, double seconds);
  std::vector<std::string> channels_for(const Rule& rule);
  // Builds the channels of the organisations that org:<uuid> rules name (d4:org:channels:<org>),
  // again when their settings change.
  void load_org_channels(const std::vector<Rule>& rules, const std::map<std::string, InstanceState>& states);
  Channel* find_channel(const std::string& name);
  void count_channel(const Channel& ch);
  void collect(core::metrics::Exposition& e) const;

  EngineSettings settings_;
  core::metrics::Registry own_registry_;
  core::RedisClient& meta_;
  Observer observer_;
  std::vector<std::unique_ptr<Channel>> channels_;
  struct OrgChannel {
    std::string spec;  // the stored JSON it was built from
    std::unique_ptr<Channel> channel;
  };
  std::map<std::string, OrgChannel> org_channels_;  // by full name "org:<uuid>/<name>"
  core::metrics::Registry* registry_ = nullptr;
  Counters counters_;
  // When each active condition was first seen (conditions with a hold time), by instance key.
  std::map<std::string, double> active_since_;
  std::set<std::string> reported_invalid_;
  // What the metrics collector shows: the firing instances and a few gauges of the last pass.
  mutable std::mutex view_mu_;
  std::vector<InstanceState> firing_view_;
  EvaluationReport last_report_;
  double last_evaluation_ = 0;
  double last_duration_ = 0;
};

}  // namespace d4::alerts
