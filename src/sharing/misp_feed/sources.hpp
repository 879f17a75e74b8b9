#pragma once
// Readers of the analyzers' result stores for one period: what each analyzer saw during
// [start, end). They read the stores' documented layouts (src/analyzers/pibs/victims.hpp,
// src/analyzers/pdns/store.hpp through PdnsQuery, src/analyzers/tls/passivessl.hpp) and never
// write. Each read is bounded; what a bound leaves out is counted.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "analyzers/pdns/query.hpp"
#include "core/redis_client.hpp"
#include "sharing/misp_feed/config.hpp"

namespace d4::sharing::misp {

struct Period {
  std::int64_t start = 0, end = 0;  // [start, end), epoch seconds
  bool contains(std::int64_t t) const { return t >= start && t < end; }
};

struct SourceCounters {
  std::uint64_t candidates_not_read = 0;   // beyond a max_*_scanned / max_records_per_watch bound
  std::uint64_t unattributed_records = 0;  // passive DNS records of sensors whose organisation was refused
};

// A victim of backscatter during a period. Packets, first and last seen are the period's (from
// d4-pibs's per-bucket series: exact when the victim's first/last packet falls inside the period,
// else to the bucket); flags and ports are the victim's totals (d4-pibs keeps no per-period
// split of them).
struct Victim {
  std::string address;
  std::uint64_t packets = 0;
  std::int64_t first = 0, last = 0;
  std::vector<std::pair<std::string, std::uint64_t>> flags;  // syn_ack, rst, rst_ack, ack, other, ece
  std::vector<std::pair<std::string, std::uint64_t>> ports;  // most hit first, at most max_ports
  std::uint64_t distinct_ports = 0;
  std::uint64_t total_packets = 0;
  std::int64_t first_seen = 0;  // since the victim was first seen
};
// Victims with at least min_packets in the period, most hit first.
std::vector<Victim> read_victims(core::RedisClient& redis, const BackscatterSource& source,
                                 const Period& period, SourceCounters& counters);

// Records of the watch list seen during the period (first seen before its end, last seen after
// its start), each once, sorted by name, type and data.
std::vector<analyzers::pdns::CofRecord> read_watched_records(core::RedisClient& redis,
                                                             const PassiveDnsSource& source,
                                                             const Period& period, SourceCounters& counters);

struct Fingerprint {
  std::string md5, raw;
  std::uint64_t sessions = 0;
  std::int64_t first_seen = 0, last_seen = 0;
};
struct SslCertificateRecord {
  std::string sha1;
  std::map<std::string, std::string> fields;  // the pssl:cert:<sha1> hash
};
struct SslPeriod {
  std::vector<SslCertificateRecord> certificates;          // most sessions first
  std::vector<Fingerprint> ja3, ja3s;                      // most sessions first
  std::vector<std::pair<std::string, std::string>> pairs;  // (ja3, ja3s) seen together, both in the period
};
// Certificates, JA3 and JA3S seen in a TLS session during the period (last seen after its start,
// first seen before its end).
SslPeriod read_ssl(core::RedisClient& redis, const PassiveSslSource& source, const Period& period,
                   SourceCounters& counters);

}  // namespace d4::sharing::misp
