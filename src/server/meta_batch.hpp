#pragma once
// Metadata and statistics writes of one worker thread, aggregated in memory and flushed
// periodically (scripts::kFlushScript, exactly once per call thanks to a marker key). The
// reference made ~15 synchronous round trips per packet for these; here a flush carries every
// counter increment of an interval once per key and field.
//
// Everything outside input can make grow is bounded here: counters are aggregated (one entry per
// key and field whatever the number of events), capped lists keep only what the list would keep,
// and rejects of unauthenticated peers are kept per source network for at most `max_sources`
// networks per interval (the others still count in the global counters; their details are
// dropped and counted). While the meta Redis is down the worker keeps aggregating here instead of
// queueing one request per interval, so an outage costs bounded memory. A flush is cut into calls
// of at most `max_ops_per_call` operations so that no call blocks Redis for long.
//
// In the cluster key layout (docs/redis-keys.md, "Key layouts") every call touches the keys of
// one slot and declares them: the operations are grouped by the slot of their key, each group cut
// into calls as above, each call with the marker of its slot (keys::flush_marker_in_slot). The
// source networks' details are tagged by the ranking's name (keys::ip_rejects), so a ranking and
// every detail it writes or deletes stay in one call.
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "core/keys.hpp"

namespace d4::server {

// The writes a flush applies, in order, inside scripts::kFlushScript. On the wire each is a
// one-character code and its arguments (kCode and args() here, decoded by the script's
// dispatch): the rest of the server only builds these types.
namespace meta_op {
struct ZIncrBy {  // ZINCRBY key by member
  static constexpr std::string_view kCode = "z";
  std::string key;
  std::uint64_t by;
  std::string member;
};
struct HIncrBy {  // HINCRBY key field by
  static constexpr std::string_view kCode = "h";
  std::string key, field;
  long long by;
};
struct HSet {  // HSET key field value
  static constexpr std::string_view kCode = "s";
  std::string key, field, value;
};
struct HSetNx {  // HSETNX key field value
  static constexpr std::string_view kCode = "n";
  std::string key, field, value;
};
struct HDel {  // HDEL key field
  static constexpr std::string_view kCode = "d";
  std::string key, field;
};
struct LPushCapped {  // LPUSH key entry, then LTRIM to the newest `cap`
  static constexpr std::string_view kCode = "l";
  std::string key, entry;
  std::size_t cap;
};
struct SAdd {  // SADD key member
  static constexpr std::string_view kCode = "a";
  std::string key, member;
};
struct SAddCapped {  // SADD only while the set has fewer than `cap` members (refusals counted)
  static constexpr std::string_view kCode = "A";
  std::string key, member;
  std::size_t cap;
};
struct Expire {  // EXPIRE key seconds
  static constexpr std::string_view kCode = "e";
  std::string key;
  long long seconds;
};
// Adds `count` to `network` in the ranking zset that keeps the `kept` highest; a newcomer evicts
// the lowest (and its details, <rejects_prefix><network> and <errors_prefix><network>) and
// inherits its count.
struct RankSource {
  static constexpr std::string_view kCode = "r";
  std::string ranking, network;
  long long count;
  std::size_t kept;
  std::string rejects_prefix, errors_prefix;
};
}  // namespace meta_op

using MetaOp = std::variant<meta_op::ZIncrBy, meta_op::HIncrBy, meta_op::HSet, meta_op::HSetNx, meta_op::HDel,
                            meta_op::LPushCapped, meta_op::SAdd, meta_op::SAddCapped, meta_op::Expire,
                            meta_op::RankSource>;
// The operation as the flush script reads it: its code, then its arguments.
std::vector<std::string> wire_args(const MetaOp& op);

class MetaBatch {
 public:
  struct Limits {
    std::size_t max_sources = 1024;         // source networks with details held per interval
    std::size_t entries_per_source = 5;     // error entries held per source network and interval
    std::size_t max_ops_per_call = 200;     // operations per Redis call
    std::size_t reject_sources_kept = 256;  // networks in server:reject_sources (top-N in Redis)
    long long source_ttl_seconds = 7 * 24 * 3600;
  };

  MetaBatch() = default;
  explicit MetaBatch(Limits limits) : limits_(limits) {}
  void set_limits(const Limits& limits) { limits_ = limits; }
  void set_layout(core::keys::KeyLayout layout) { layout_ = layout; }

  // Aggregated writes (authenticated sensors, operators' sets, global counters).
  void incr(std::string_view key, std::string_view field, long long n = 1);         // HINCRBY
  void set_field(std::string_view key, std::string_view field, std::string value);  // HSET, last wins
  void push_capped(std::string_view key, std::string entry, std::size_t cap);       // LPUSH + LTRIM
  void add_member(std::string_view key, std::string_view member);                   // SADD
  // SADD only while the set has fewer than `cap` members (the flush reply counts refusals).
  void add_member_capped(std::string_view key, std::string_view member, std::size_t cap);
  // A reject of a peer that never authenticated, recorded for its source network (e.g.
  // "192.0.2.0/24"): counted per reason, its entry kept in the network's error list, the
  // network ranked in the bounded top-N of sources. False when the details were dropped
  // because `max_sources` networks are already held (the caller counts it).
  bool count_source_reject(const std::string& source, std::string_view reason, std::string entry,
                           std::size_t list_cap);
  // Packets confirmed stored for one (sensor, peer IP, type): feeds the seven reference daily
  // zsets (packet counts), our byte counters and the first_seen/last_seen metadata. Stored data
  // clears the sensor's last Error (as in the reference) unless `clears_error` is false: packets
  // of a session that was refused since they were read, whose confirmation comes after the reject
  // (possibly in a later flush) but which were received before it.
  void count_stored(const std::string& uuid, const std::string& ip, std::uint8_t type, std::uint64_t packets,
                    std::uint64_t bytes, bool clears_error = true);

  bool empty() const;
  std::size_t sources_held() const { return sources_.size(); }

  // The EVAL requests (RESP) for everything collected, in order, each with at most
  // max_ops_per_call operations and the next sequence number (++seq) for the exactly-once marker
  // key `marker` (cluster layout: the marker of the call's slot, derived from it); clears the
  // batch. `date` is YYYYMMDD (local time), `now` epoch seconds.
  std::vector<std::string> take_requests(const std::string& marker, std::uint64_t& seq,
                                         const std::string& date, long long now);

 private:
  struct Counts {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    bool clears_error = false;
  };
  struct CappedList {
    std::deque<std::string> entries;  // oldest first
    std::size_t cap = 0;
  };
  struct SourceRecord {
    std::map<std::string, long long> reasons;
    std::deque<std::string> entries;  // oldest first, at most entries_per_source
    std::size_t list_cap = 0;
    long long total = 0;
  };
  // Operations in order; an op `joined` to the previous one is never cut from it into another
  // call (a source network's details go with its ranking, so that a ranking change applied by
  // another worker between two calls cannot leave details without a ranked network).
  struct OpList {
    std::vector<MetaOp> ops;
    std::vector<bool> joined;
    void push_back(MetaOp op, bool join = false) {
      ops.push_back(std::move(op));
      joined.push_back(join);
    }
  };
  void stored_ops(OpList& out, const std::string& date, long long now);
  void source_ops(OpList& out);
  std::vector<std::string> encode_calls(OpList& list, const std::string& marker, std::uint64_t& seq) const;
  // Appends the calls for ops[indices] (in that order) to `requests`; `declare_keys`: the call
  // names every key its operations write after the marker (cluster layout).
  void encode_run(const std::vector<std::vector<std::string>>& ops, const std::vector<bool>& joined,
                  const std::vector<std::size_t>& indices, const std::string& marker, bool declare_keys,
                  std::uint64_t& seq, std::vector<std::string>& requests) const;

  Limits limits_;
  core::keys::KeyLayout layout_ = core::keys::KeyLayout::Reference;
  std::map<std::tuple<std::string, std::string, std::uint8_t>, Counts> stored_;
  std::map<std::pair<std::string, std::string>, long long> counters_;
  std::map<std::pair<std::string, std::string>, std::string> fields_;
  std::map<std::string, CappedList, std::less<>> lists_;
  std::set<std::pair<std::string, std::string>> members_;
  std::map<std::pair<std::string, std::string>, std::size_t> capped_members_;
  std::map<std::string, SourceRecord, std::less<>> sources_;
};

// Local date YYYYMMDD and time YYYYmmddHHMMSS as the reference writes them.
std::string local_date(long long epoch_seconds);
std::string local_compact_time(long long epoch_seconds);

}  // namespace d4::server
