#pragma once
// Aggregation of backscatter per victim (the source address of the backscatter: the host whose
// address was spoofed in the attack traffic): packets, first/last seen, answering source ports
// (which services are attacked: 53 DNS, 80/443 web...), flag mix (SYN-ACK, RST, RST-ACK, ACK,
// ECE), packets per time bucket (attack intensity), and a ranking of the current targets.
//
// Redis layout written by RedisVictimWriter (all keys prefixed, default "pibs:"):
//   pibs:victims                 zset  victim -> backscatter packets (all time)
//   pibs:victims:last_seen       zset  victim -> last seen (epoch seconds)
//   pibs:victim:<ip>             hash  packets, first_seen, last_seen, syn_ack, rst, rst_ack, ack,
//                                      other, ece, ports (distinct source ports)
//   pibs:victim:<ip>:ports       zset  source port -> packets
//   pibs:victim:<ip>:series      hash  bucket start (epoch seconds) -> packets
//   pibs:stats                   hash  frames, tcp, syn, normal, backscatter, undecodable,
//                                      syn_evicted (counters); syn_senders, syn_table_bytes,
//                                      syn_table_max_bytes (gauges of the last writer)
// Victim keys expire after `victim_ttl_seconds` without new backscatter (0: never).
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "analyzers/packet/decode.hpp"
#include "analyzers/pibs/classifier.hpp"
#include "core/keys.hpp"
#include "core/redis_client.hpp"

namespace d4::analyzers::pibs {

struct VictimStats {
  packet::IpAddress address;
  std::uint64_t packets = 0;
  std::int64_t first_seen = 0, last_seen = 0;
  std::uint64_t flags[5] = {0, 0, 0, 0, 0};  // indexed by FlagClass
  std::uint64_t ece = 0;                     // packets with ECE set (SYN-ACK-ECE from ECN stacks)
  std::unordered_map<std::uint16_t, std::uint64_t> ports;
  std::uint64_t ports_overflow = 0;               // packets from ports beyond the per-victim bound
  std::map<std::int64_t, std::uint64_t> buckets;  // bucket start -> packets

  nlohmann::ordered_json to_json(std::size_t top_ports = 10) const;
};

struct VictimOptions {
  std::int64_t bucket_seconds = 60;
  std::size_t max_ports_per_victim = 4096;
  std::size_t max_buckets_per_victim = 10080;  // a week of minutes
  std::size_t max_victims = 1000000;           // beyond: counted, not tracked
};

class VictimTable {
 public:
  explicit VictimTable(VictimOptions options = {}) : options_(options) {}
  void add(const packet::Packet& p, std::int64_t ts_seconds);

  // Victims ranked by packets within the last `window_seconds` before `now` (all time if 0).
  std::vector<const VictimStats*> top(std::size_t n, std::int64_t now, std::int64_t window_seconds) const;
  const std::unordered_map<packet::IpAddress, VictimStats>& victims() const { return victims_; }
  std::uint64_t untracked_packets() const { return untracked_; }
  std::int64_t bucket_seconds() const { return options_.bucket_seconds; }
  void clear() { victims_.clear(); }

 private:
  VictimOptions options_;
  std::unordered_map<packet::IpAddress, VictimStats> victims_;
  std::uint64_t untracked_ = 0;
};

struct RedisVictimOptions {
  std::string prefix{core::keys::kPibsDefaultPrefix};
  std::int64_t victim_ttl_seconds = 7 * 24 * 3600;
};

// The SYN table's state at a write.
struct SynTableGauge {
  std::size_t senders = 0, bytes = 0, max_bytes = 0;
};
inline SynTableGauge gauge_of(const Classifier& c) {
  return {c.known_clients(), c.table_bytes(), c.table_max_bytes()};
}

// Writes the deltas accumulated in a VictimTable (then cleared by the caller) in one pipeline.
class RedisVictimWriter {
 public:
  RedisVictimWriter(core::RedisClient& redis, RedisVictimOptions options)
      : redis_(redis), options_(std::move(options)) {}
  // Throws core::RedisError; the table is left untouched then, so the caller can retry.
  void write(const VictimTable& delta, const ClassifierStats& stats_delta,
             const SynTableGauge* table = nullptr);

 private:
  core::RedisClient& redis_;
  RedisVictimOptions options_;
};

ClassifierStats operator-(const ClassifierStats& a, const ClassifierStats& b);

}  // namespace d4::analyzers::pibs
