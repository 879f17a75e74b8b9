#include "sharing/misp_feed/exporter.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "core/keys.hpp"
#include "sharing/misp_feed/feed_directory.hpp"
#include "sharing/misp_feed/objects.hpp"
#include "sharing/misp_feed/uuid5.hpp"

namespace d4::sharing::misp {
namespace {

std::string period_label(const Period& p, std::int64_t period_seconds) {
  if (period_seconds % 86400 == 0) return format_date(p.start);
  return format_datetime(p.start).substr(0, 16) + " UTC";  // YYYY-MM-DD HH:MM
}

std::string_view subject_of(Kind k) {
  switch (k) {
    case Kind::Backscatter:
      return "D4 backscatter: DDoS victims seen";
    case Kind::PassiveDns:
      return "D4 passive DNS: watched names and addresses seen";
    case Kind::PassiveSsl:
      return "D4 passive SSL: certificates and JA3/JA3S fingerprints seen";
  }
  return "D4";
}

// The tags of the sensors matching `pred`, in sensor order.
template <typename Pred>
std::vector<std::string> tags_of(const SensorDirectory& sensors, Pred pred) {
  std::vector<std::string> out;
  for (const auto& [id, s] : sensors.sensors())
    if (pred(s)) out.insert(out.end(), s.tags.begin(), s.tags.end());
  return out;
}

class Run {
 public:
  Run(const FeedConfig& config, const ExportRequest& request)
      : config_(config), request_(request), sensors_(config.organisation) {}

  ExportReport execute() {
    core::RedisClient meta(config_.common.redis.meta);
    sensors_.load(meta,
                  {config_.max_sensors, config_.max_organisations, config_.common.redis.layout,
                   config_.sensor_scan_max_keys},
                  report_.sensors);
    directory(config_.organisation);  // the default feed exists from the first run, even empty
    auto periods = selected_periods();
    const auto& kinds = request_.kinds.empty() ? config_.kinds : request_.kinds;
    if (kinds.count(Kind::Backscatter)) export_backscatter(periods);
    if (kinds.count(Kind::PassiveDns)) export_passive_dns(periods);
    if (kinds.count(Kind::PassiveSsl)) export_passive_ssl(periods);
    for (auto& [uuid, dir] : directories_) {
      dir->commit();
      report_.directories.insert(dir->path().string());
    }
    return report_;
  }

 private:
  std::vector<Period> selected_periods() const {
    const std::int64_t p = config_.period_seconds;
    std::int64_t until = request_.until.value_or(request_.now);
    std::int64_t since = request_.since.value_or(until - (config_.lookback_periods - 1) * p);
    return periods_between(since, until, p);
  }

  FeedDirectory& directory(const Organisation& org) {
    auto it = directories_.find(org.uuid);
    if (it == directories_.end())
      it = directories_.emplace(org.uuid, std::make_unique<FeedDirectory>(config_.feed_dir / org.uuid)).first;
    return *it->second;
  }

  MispEvent make_event(const Organisation& org, Kind kind, const Period& period,
                       const std::vector<std::string>& sensor_tags) {
    MispEvent e;
    e.uuid = uuid5(kFeedNamespace, org.uuid + "|" + std::string(to_string(kind)) + "|" +
                                       std::to_string(config_.period_seconds) + "|" +
                                       std::to_string(period.start));
    e.info = std::string(subject_of(kind)) + " on " + period_label(period, config_.period_seconds);
    e.date = format_date(period.start);
    e.orgc = org;
    e.tags = event_tags(config_.tags, config_.sensor_tags ? sensor_tags : std::vector<std::string>{},
                        config_.max_tags_per_event, report_.tags_dropped);
    e.analysis = period.end <= request_.now ? 2 : 1;
    e.threat_level_id = config_.threat_level_id;
    e.distribution = config_.distribution;
    e.published = config_.published;
    return e;
  }

  // New objects first, most significant first, built only while they fit in the attribute budget
  // (the first that does not fit ends the event: the others are counted, never built); then the
  // objects of earlier exports that the stores no longer hold, as long as they fit.
  template <typename Make>
  void publish(MispEvent e, std::size_t count, Make make, const Organisation& org) {
    if (count == 0) {
      ++report_.periods_empty;
      return;
    }
    FeedDirectory& dir = directory(org);
    std::size_t budget = config_.max_attributes_per_event;
    auto add = [&](MispObject o) {
      if (o.attributes.size() > budget) return false;
      budget -= o.attributes.size();
      report_.attributes += o.attributes.size();
      ++report_.objects;
      e.objects.push_back(std::move(o));
      return true;
    };
    std::size_t built = 0;
    while (built < count && add(make(built))) ++built;
    report_.objects_dropped += count - built;
    auto previous = dir.previous(e.uuid);
    if (previous) {
      std::set<std::string> present;
      for (const auto& o : e.objects) present.insert(o.uuid);
      for (auto& o : previous->object_list)
        if (!present.count(o.uuid) && !add(std::move(o))) ++report_.objects_dropped;
    }
    if (dir.put(e, request_.now, previous ? &*previous : nullptr) == FeedDirectory::Outcome::Written)
      ++report_.events_written;
    else
      ++report_.events_unchanged;
  }

  void export_backscatter(const std::vector<Period>& periods) {
    core::RedisClient redis(config_.backscatter.redis);
    auto tags = tags_of(sensors_, [](const SensorRecord& s) { return s.types.count("1") > 0; });
    const Organisation& org = sensors_.default_organisation();
    for (const auto& period : periods) {
      auto e = make_event(org, Kind::Backscatter, period, tags);
      auto victims = read_victims(redis, config_.backscatter, period, report_.sources);
      const std::string uuid = e.uuid;
      publish(
          std::move(e), victims.size(),
          [&](std::size_t i) { return victim_object(uuid, victims[i], config_.backscatter.min_packets); },
          org);
    }
  }

  // One organisation's part of a period's passive DNS records, and the tags of the sensors behind it.
  struct DnsShare {
    Organisation org;
    std::vector<analyzers::pdns::CofRecord> records;
    std::vector<std::string> tags;
  };

  void export_passive_dns(const std::vector<Period>& periods) {
    if (config_.passive_dns.watch.empty()) return;
    core::RedisClient redis(config_.passive_dns.redis);
    const auto& def = sensors_.default_organisation();
    auto unattributed_tags = tags_of(sensors_, [&](const SensorRecord& s) {
      const auto* org = sensors_.organisation_of(s.id);
      return org && org->uuid == def.uuid && (s.types.count("1") || s.types.count("4") || s.types.count("8"));
    });
    for (const auto& period : periods) {
      std::map<std::string, DnsShare> by_org;
      for (const auto& r : read_watched_records(redis, config_.passive_dns, period, report_.sources))
        attribute_record(r, by_org, unattributed_tags);
      for (auto& [uuid, share] : by_org) {
        auto e = make_event(share.org, Kind::PassiveDns, period, share.tags);
        const std::string event_uuid = e.uuid;
        const auto& records = share.records;
        publish(
            std::move(e), records.size(),
            [&](std::size_t i) { return dns_object(event_uuid, records[i], config_.passive_dns.origin); },
            share.org);
      }
    }
  }

  // A record goes to the organisation of each sensor that saw it (the default one when no sensor
  // is known), once per organisation.
  void attribute_record(const analyzers::pdns::CofRecord& r, std::map<std::string, DnsShare>& by_org,
                        const std::vector<std::string>& unattributed_tags) {
    std::map<std::string, DnsShare> parts;
    if (r.sensors.empty())
      parts[sensors_.default_organisation().uuid] = {sensors_.default_organisation(), {}, unattributed_tags};
    for (const auto& id : r.sensors) {
      const Organisation* org = sensors_.organisation_of(id);
      if (!org) {
        ++report_.sources.unattributed_records;
        continue;
      }
      auto& part = parts[org->uuid];
      part.org = *org;
      if (const SensorRecord* s = sensors_.find(id))
        part.tags.insert(part.tags.end(), s->tags.begin(), s->tags.end());
    }
    for (auto& [uuid, part] : parts) {
      auto& share = by_org[uuid];
      share.org = part.org;
      share.records.push_back(r);
      share.tags.insert(share.tags.end(), part.tags.begin(), part.tags.end());
    }
  }

  void export_passive_ssl(const std::vector<Period>& periods) {
    core::RedisClient redis(config_.passive_ssl.redis);
    auto tags = tags_of(sensors_, [](const SensorRecord& s) { return s.extended_types.count("ja3-jl") > 0; });
    const Organisation& org = sensors_.default_organisation();
    for (const auto& period : periods) {
      auto e = make_event(org, Kind::PassiveSsl, period, tags);
      auto ssl = read_ssl(redis, config_.passive_ssl, period, report_.sources);
      std::map<std::string, const Fingerprint*> servers;
      for (const auto& f : ssl.ja3s) servers[f.md5] = &f;
      const std::string uuid = e.uuid;
      const std::size_t certs = ssl.certificates.size(), clients = ssl.ja3.size();
      // Certificates, then client fingerprints, then client/server pairs.
      auto make = [&](std::size_t i) {
        if (i < certs)
          return x509_object(uuid, ssl.certificates[i], config_.passive_ssl.include_raw_certificates);
        if (i < certs + clients) return ja3_object(uuid, ssl.ja3[i - certs]);
        const auto& [ja3, ja3s] = ssl.pairs[i - certs - clients];
        return ja3s_object(uuid, ja3, *servers.at(ja3s));
      };
      publish(std::move(e), certs + clients + ssl.pairs.size(), make, org);
    }
  }

  const FeedConfig& config_;
  const ExportRequest& request_;
  SensorDirectory sensors_;
  std::map<std::string, std::unique_ptr<FeedDirectory>> directories_;
  ExportReport report_;
};

}  // namespace

std::vector<Period> periods_between(std::int64_t since, std::int64_t until, std::int64_t period_seconds,
                                    std::size_t max) {
  std::vector<Period> out;
  if (period_seconds <= 0 || until < since) return out;
  auto floor_to = [&](std::int64_t t) {
    return t - (((t % period_seconds) + period_seconds) % period_seconds);
  };
  std::int64_t first = floor_to(since), last = floor_to(until);
  std::int64_t n = (last - first) / period_seconds + 1;
  if (static_cast<std::uint64_t>(n) > max) first = last - static_cast<std::int64_t>(max - 1) * period_seconds;
  for (std::int64_t s = first; s <= last; s += period_seconds) out.push_back({s, s + period_seconds});
  return out;
}

ExportReport run_export(const FeedConfig& config, const ExportRequest& request) {
  return Run(config, request).execute();
}

void record_run(core::RedisClient& meta, const ExportReport* report, const std::string& error,
                std::int64_t now) {
  const std::string key(core::keys::kMispFeedStats);
  std::vector<std::vector<std::string>> cmds{{"HINCRBY", key, "runs", "1"},
                                             {"HSET", key, "last_run", std::to_string(now)}};
  if (!report) {
    cmds.push_back({"HSET", key, "last_error", error});
  } else {
    cmds.push_back({"HSET", key, "last_success", std::to_string(now)});
    const std::pair<const char*, std::uint64_t> counts[] = {
        {"events_written", report->events_written},
        {"events_unchanged", report->events_unchanged},
        {"objects", report->objects},
        {"attributes", report->attributes},
        {"objects_dropped", report->objects_dropped},
        {"tags_dropped", report->tags_dropped},
        {"candidates_not_read", report->sources.candidates_not_read},
        {"unattributed_records", report->sources.unattributed_records},
        {"sensors_not_read", report->sensors.sensors_not_read},
        {"sensor_scans_incomplete", report->sensors.sensor_scans_incomplete},
        {"organisations_refused", report->sensors.organisations_refused},
    };
    for (const auto& [name, n] : counts) cmds.push_back({"HINCRBY", key, name, std::to_string(n)});
  }
  for (const auto& r : meta.pipeline(cmds))
    if (r.is_error()) throw core::RedisError("recording the export: " + r.str);
}

}  // namespace d4::sharing::misp
