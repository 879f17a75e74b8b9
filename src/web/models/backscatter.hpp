#pragma once
// Read model of the backscatter results that d4-pibs writes to Redis (layout in
// src/analyzers/pibs/victims.hpp, key names in core/keys.hpp): ranked victims, per-victim detail
// and intensity series, counters (/backscatter, /api/v1/backscatter...).
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/redis_client.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"

namespace d4::web {
class Input;
}

namespace d4::web::models {

// Which victims to list.
struct VictimQuery {
  long long window = 3600;         // seconds of series before `until`; 0: all time
  std::optional<long long> until;  // end of the window (epoch s); empty: now
  bool until_latest = false;       // end the window at the newest backscatter seen
  std::string filter;              // address, CIDR network or part of an address
  long long limit = 50;
  long long offset = 0;
};
// Validates the query parameters window, until, q, limit, offset; throws ApiError 400.
VictimQuery parse_victim_query(const Input& in);

// A victim address as d4-pibs writes it (dotted IPv4, inet_ntop IPv6); throws ApiError 400.
std::string normalize_victim(const std::string& text);
// The usual service of a well-known TCP port ("http" for 80), empty when unknown.
std::string_view port_service(long long port);

// d4-pibs's counters (pibs:stats). syn_evicted counts SYN senders dropped at its memory cap
// (their replies may then be reported as backscatter); syn_senders, syn_table_bytes and
// syn_table_max_bytes are its table's gauges.
struct PibsCounters {
  long long frames = 0, tcp = 0, syn = 0, normal = 0, backscatter = 0, undecodable = 0;
  long long syn_evicted = 0, syn_senders = 0, syn_table_bytes = 0, syn_table_max_bytes = 0;
  std::map<std::string, long long> other;  // fields written by other versions, passed on
};

struct BackscatterStats {
  PibsCounters counters;
  long long victims = 0;
  long long victims_last_hour = 0;
  std::optional<long long> latest;  // when the newest backscatter was seen
  std::string redis;                // where the results are read
  std::string key_prefix;
};

// A source port of backscatter: the service the victim answered for.
struct PortCount {
  long long port = 0;
  std::optional<std::string> service;  // the usual service of the port, if known
  long long packets = 0;
};
D4_VIEW_TO_JSON(PortCount, port, service, packets)

struct VictimRow {
  std::string victim;
  int family = 4;
  long long packets = 0;                   // in the window (or all time)
  std::optional<long long> packets_total;  // all time
  std::optional<long long> first_seen, last_seen;
  long long distinct_ports = 0;
  std::optional<PortCount> top_port;
  bool expired = false;  // the detail hash expired (victim_ttl_seconds) while the rankings keep it
};
D4_VIEW_TO_JSON(VictimRow, victim, family, packets, packets_total, first_seen, last_seen, distinct_ports,
                top_port, expired)

struct VictimList {
  long long window = 0;
  std::optional<long long> until;   // the window's end; empty for all time
  std::optional<long long> latest;  // the newest backscatter seen
  std::string q;
  long long total = 0, limit = 0, offset = 0;
  bool truncated = false;  // only the most recently seen victims were examined
  std::vector<VictimRow> items;
};
D4_VIEW_TO_JSON(VictimList, window, until, latest, q, total, limit, offset, truncated, items)

struct FlagCounts {
  long long syn_ack = 0, rst = 0, rst_ack = 0, ack = 0, other = 0, ece = 0;
};
D4_VIEW_TO_JSON(FlagCounts, syn_ack, rst, rst_ack, ack, other, ece)

struct VictimDetail {
  std::string victim;
  int family = 4;
  std::optional<long long> packets;
  std::optional<long long> first_seen, last_seen;
  FlagCounts flags;
  long long distinct_ports = 0;
  std::vector<PortCount> ports;  // the most answered first
  long long bucket_seconds = 0;
  std::vector<std::pair<long long, long long>> series;  // bucket start -> packets, by time
  bool expired = false;
};
D4_VIEW_TO_JSON(VictimDetail, victim, family, packets, first_seen, last_seen, flags, distinct_ports, ports,
                bucket_seconds, series, expired)

// A victim's packets over time, gaps as zeros, summed into steps of step_seconds.
struct VictimSeries {
  std::string victim;
  long long bucket_seconds = 0, step_seconds = 0;
  std::vector<long long> starts;
  std::vector<std::string> dates;  // the starts as local time
  std::vector<long long> packets;
};

void to_json(json& j, const BackscatterStats& s);
void to_json(json& j, const VictimSeries& s);

class Backscatter {
 public:
  // `results`: where d4-pibs writes; `prefix`: its key prefix; `bucket_seconds`: its bucket width,
  // used when a series is too short to tell.
  Backscatter(core::RedisClient& results, std::string prefix, long long bucket_seconds)
      : db_(results), prefix_(std::move(prefix)), bucket_seconds_(bucket_seconds) {}
  Backscatter(Db& db, const WebConfig& c)
      : Backscatter(db.backscatter, c.backscatter_prefix, c.backscatter_bucket_seconds) {}

  BackscatterStats stats();
  VictimList victims(const VictimQuery& q);
  VictimDetail victim(const std::string& ip, long long top_ports);   // ApiError 404 when unknown
  VictimSeries series(const std::string& ip, long long max_points);  // ApiError 404 when unknown

 private:
  core::RedisClient& db_;
  std::string prefix_;
  long long bucket_seconds_;
};

}  // namespace d4::web::models
