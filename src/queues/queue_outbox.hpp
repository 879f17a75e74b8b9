#pragma once
// Exactly-once queue pushes without a transaction across slots (the cluster key layout).
//
// In the reference layout a worker commits a batch in one MULTI/EXEC: the pushes to every queue
// and the session's progress together. On a Redis Cluster the queues and the session's keys lie in
// different slots, so the commit is split in two steps, each atomic in one slot:
//
//   1. commit (session's slot): MULTI + progress hash + RPUSH of one outbox entry per destination
//      queue (a slice of items each) + EXEC, with the lease watched as before. The outbox
//      d4:worker:outbox:<type>:{<session>} shares the session's hash tag with the progress and the
//      lease. Every entry carries a sequence number of the session, increasing, kept in the
//      progress hash (outbox_seq) so that a new owner continues the numbering.
//   2. relay (each queue's slot): the entry's items are pushed by a script that first reads the
//      queue's record of what this session already applied, d4:queue:applied:{<list>}:<origin>
//      (in the list's slot; <origin> = "<type>:<session>"), skips an entry at or below it, and
//      raises it with the push; then the outbox entries applied are removed (a script that pops
//      leading entries up to a sequence number, so that a relay repeated by a second owner never
//      removes an entry it did not apply).
//
// A worker killed after step 1 leaves the entries in the outbox: the next owner relays them first
// (before it reads the session's stream). Killed during step 2: the entries already pushed are
// skipped by their queues' records, the others are pushed. Nothing is lost, nothing pushed twice,
// and each queue receives a session's items in commit order (one round never sends two entries of
// one queue, so an entry fails only after every earlier entry of its queue was applied).
//
// The records expire kAppliedRecordTtlSeconds after their last push: far longer than a lease,
// after which nobody can relay the session's entries again.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/redis_client.hpp"
#include "queues/queue_store.hpp"

namespace d4::queues {

inline constexpr long long kAppliedRecordTtlSeconds = 7 * 24 * 3600;

// d4:queue:applied:{<list key>}:<origin>
std::string queue_applied_record(std::string_view list_key, std::string_view origin);

// One entry of an outbox: a destination and the items it receives.
struct OutboxEntry {
  std::uint64_t seq = 0;
  QueueDestination destination;  // id is not stored (the list and statistics keys are)
  double now = 0;
  std::vector<std::string> items;
};

std::string encode_outbox_entry(const OutboxEntry& entry);
// False when `text` is not an entry (the relay then stops and reports it: nothing is dropped).
bool decode_outbox_entry(std::string_view text, OutboxEntry& out);

// Appends to `out` the RPUSH commands that add `items` for `dest` to the outbox, in slices of at
// most 1000 items (empty items skipped, as the pushes skip them), numbered from `next_seq`
// (advanced).
void append_outbox_commands(std::vector<std::vector<std::string>>& out, const std::string& outbox_key,
                            std::uint64_t& next_seq, const QueueDestination& dest,
                            std::vector<std::string>::const_iterator begin,
                            std::vector<std::string>::const_iterator end, double now);

struct RelayResult {
  std::size_t entries = 0;  // removed from the outbox (pushed now or before)
  std::size_t skipped = 0;  // of those, already applied by an earlier relay
  long long dropped = 0;    // items removed by the queues' max-size trims
  bool empty = false;       // the outbox is empty
};

// Pushes the outbox's entries to their queues, each once, and removes them. `max_entries` bounds
// the entries applied (fault injection in tests: a relay interrupted between two queues). Redis
// errors throw core::RedisError after removing what was applied; an entry that cannot be decoded
// throws QueueError and stays.
RelayResult relay_outbox(core::RedisClient& analyzer, const std::string& outbox_key, std::string_view origin,
                         std::size_t max_entries = std::numeric_limits<std::size_t>::max());

}  // namespace d4::queues
