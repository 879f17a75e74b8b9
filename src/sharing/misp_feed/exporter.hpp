#pragma once
// One export: for every organisation, kind of result and period, the event of what the analyzers
// saw, merged into the organisation's feed directory (<feed_dir>/<organisation uuid>/).
//
//   backscatter  one event per period: a ddos object per victim, most hit first
//   passive-dns  one event per period and organisation: a passive-dns object per record of the
//                watch list seen during the period (records attributed to sensors go to the
//                sensors' organisations, the others to the default organisation)
//   passive-ssl  one event per period: x509 objects, then ja3 and ja3s objects
// The backscatter and passive SSL stores do not record which sensor saw what: their events belong
// to the default organisation and carry the tags of every sensor that feeds those analyzers
// (type 1, extended type ja3-jl), whatever their organisation, so the strictest TLP applies.
//
// An event keeps the objects of its earlier exports that the stores no longer hold (results
// expire), so events only grow; at most max_attributes_per_event attributes, new objects first
// (most significant first: built only while they fit), the others left out and counted. Periods without any
// object write no event.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sharing/misp_feed/config.hpp"
#include "sharing/misp_feed/sensors.hpp"
#include "sharing/misp_feed/sources.hpp"

namespace d4::sharing::misp {

struct ExportRequest {
  std::int64_t now = 0;
  // The periods containing since .. until (epoch seconds, inclusive); default: the last
  // lookback_periods periods up to now.
  std::optional<std::int64_t> since, until;
  std::set<Kind> kinds;  // empty: the configured kinds
};

struct ExportReport {
  std::uint64_t events_written = 0, events_unchanged = 0, periods_empty = 0;
  std::uint64_t objects = 0, attributes = 0;
  std::uint64_t objects_dropped = 0;  // over max_attributes_per_event
  std::uint64_t tags_dropped = 0;     // over max_tags_per_event
  SourceCounters sources;
  SensorCounters sensors;
  std::set<std::string> directories;  // feed directories written or checked
};

// The periods of `period_seconds` (aligned on the epoch, so UTC days and hours) that overlap
// [since, until]; at most `max` of them, the latest ones.
std::vector<Period> periods_between(std::int64_t since, std::int64_t until, std::int64_t period_seconds,
                                    std::size_t max = 100000);

// Runs one export. Throws core::RedisError when a store is unreachable and FeedError when the feed
// directory cannot be written (events already written stay valid: the manifest is written last).
ExportReport run_export(const FeedConfig& config, const ExportRequest& request);

// Adds the report to the export counters in the metadata Redis (d4:mispfeed:stats) and records
// the run's outcome there (last_run, last_success or last_error).
void record_run(core::RedisClient& meta, const ExportReport* report, const std::string& error,
                std::int64_t now);

}  // namespace d4::sharing::misp
