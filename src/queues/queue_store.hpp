#pragma once
// Analyzer queues: the Redis lists that analyzers pop, and their management.
//
// Data model (compatible with the reference D4 server, its web UI and the existing analyzers):
//   meta db      analyzer:<queue>                  hash  type, metatype, description, max_size, last_updated
//                analyzer:<type> / analyzer:254:<ext>            set   non-group queues fed by every sensor
//                analyzer_uuid_group:<type> / :254:<ext>         set   group queues
//                analyzer_sensor_group:<queue>                   set   dashless sensor ids of a group queue
//                sensor:queues:<type-or-ext>:<sensor>            set   group queues a sensor feeds
//                all_analyzer_queues, all:analyzer:*             sets  indexes used by the web UI
//   analyzer db  analyzer:<type>:<queue> / analyzer:<ext>:<queue> list  the data (LPUSH at the head)
//                d4:queue_stats:<queue>                          hash  pushed, dropped, consumed, length,
//                                                                      last_push, last_consumer_activity
//                  (cluster layout: d4:queue_stats:{analyzer:<type>:<queue>}, in the list's slot)
// A queue of an extended type has type 254 and metatype <ext>; its list is named after the
// extended type (analyzer:ja3-jl:<queue>), as existing analyzers expect.
//
// Differences from the reference, on purpose: group queues of numeric types are indexed under
// the numeric type (the reference used "list" and they never received data; producers find those
// through analyzer_uuid_group + analyzer_sensor_group, see QueueRouter); queue and sensor
// ids are normalised; max_size keeps exactly max_size elements and every element dropped by the
// trim is counted; deleting or emptying a queue always targets the real list.
//
// Key layouts: in the reference layout create, delete and the sensor edits are one MULTI/EXEC on
// the metadata database. The cluster layout has no transaction over those keys (they lie in many
// slots): the same commands go in steps ordered so that an interrupted change leaves the queue
// listed and fed consistently, and repeating the change (or deleting the queue) completes it:
//   create  metadata hash; then the listing indexes (all_analyzer_queues...) and the group's sensor
//           set; then the indexes producers read (the queue receives data only from then on);
//   delete  producer indexes first (no more data); the list and its statistics; the group's sensor
//           set and listing indexes; all_analyzer_queues; the metadata hash last.
//
// Thread safety: a QueueStore or QueueRouter uses the RedisClients it was given and must stay on
// one thread, like them.
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/keys.hpp"
#include "core/redis_client.hpp"

namespace d4::queues {

class QueueError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a queue receives: a numeric D4 type (1..253, 255), or an extended type (type 254 + name).
// Type 2 is the meta header of 254 data and is normalised to 254, like the reference.
struct QueueTarget {
  int type = 0;
  std::string extended_type;  // set exactly when type == 254

  static QueueTarget numeric(int type) { return QueueTarget{type, {}}; }
  static QueueTarget extended(std::string ext) { return QueueTarget{254, std::move(ext)}; }
  // Parses "8" or "ja3-jl" (a name is an extended type); throws QueueError when invalid.
  static QueueTarget parse(std::string_view text);
  // The middle part of the list name: "8" or "ja3-jl".
  std::string list_part() const { return type == 254 ? extended_type : std::to_string(type); }
  void validate() const;  // throws QueueError
  friend bool operator==(const QueueTarget&, const QueueTarget&) = default;
};

struct QueueInfo {
  std::string id;  // queue UUID exactly as stored in Redis (new queues: dashed lowercase)
  QueueTarget target;
  std::string description;
  std::optional<long long> max_size;  // nullopt: the configured default applies
  bool group = false;                 // fed only by `sensors`
  std::vector<std::string> sensors;   // dashless sensor ids (group queues)
  double last_updated = 0;            // epoch seconds of the last push (reference field)

  std::string list_key() const;  // analyzer:<type-or-ext>:<id>, in the analyzer db
};

struct QueueStats {
  long long length = 0;    // current list length
  long long pushed = 0;    // elements pushed since the queue was created
  long long dropped = 0;   // elements removed by the max-size trim (oldest first)
  long long consumed = 0;  // elements that disappeared from the list other than by the trim
  double last_push = 0;    // epoch seconds, 0 when never
  // When a decrease of the length was last observed (at a push or a stats() call): consumers
  // pop without telling us, so this is when consumption was noticed, not the pop itself.
  double last_consumer_activity = 0;
};

// Creation parameters; everything except target is optional.
struct QueueSpec {
  QueueTarget target;
  std::string id;  // empty: a random UUID v4
  std::string description;
  std::optional<long long> max_size;
  bool group = false;                // a group queue even without sensors yet
  std::vector<std::string> sensors;  // any UUID form; makes the queue a group queue
  // Refuse types that are not in server:accepted_type / server:accepted_extended_type
  // (the reference UI's rule); false lets an operator prepare queues for types enabled later.
  bool require_accepted_type = true;
};

class QueueStore {
 public:
  // meta: metadata db (reference 6380/0); analyzer: the lists' db (6380/2).
  QueueStore(core::RedisClient& meta, core::RedisClient& analyzer, long long default_max_size,
             core::keys::KeyLayout layout = core::keys::KeyLayout::Reference);

  QueueInfo create(const QueueSpec& spec);
  // Every queue, or only those of one target, sorted by target then id.
  std::vector<QueueInfo> list(const std::optional<QueueTarget>& filter = std::nullopt);
  // Accepts the stored id or any other spelling of the same UUID.
  std::optional<QueueInfo> get(std::string_view id);
  QueueInfo require(std::string_view id);  // get() or throw QueueError("no such queue")

  void set_description(std::string_view id, std::string_view description);
  void set_max_size(std::string_view id, std::optional<long long> max_size);
  // Adding sensors to a queue that receives every sensor turns it into a group queue.
  void add_sensors(std::string_view id, const std::vector<std::string>& sensors);
  void remove_sensors(std::string_view id, const std::vector<std::string>& sensors);
  // Removes the queue, its list, its statistics and every index entry.
  void remove(std::string_view id);
  // Deletes the queued elements (counted as dropped); returns how many there were.
  long long empty(std::string_view id);

  QueueStats stats(std::string_view id);
  // Pushes items to one queue (LPUSH + trim, counted); returns the number dropped by the trim.
  long long push(std::string_view id, const std::vector<std::string>& items);

  long long default_max_size() const { return default_max_size_; }
  long long effective_max_size(const QueueInfo& q) const { return q.max_size.value_or(default_max_size_); }
  core::keys::KeyLayout layout() const { return layout_; }
  std::string stats_key(const QueueInfo& q) const;

 private:
  using Commands = std::vector<std::vector<std::string>>;
  // Runs `steps` on the metadata database: one MULTI/EXEC in the reference layout; in the
  // cluster layout one pipeline per step, each step after the previous one's replies.
  void apply_steps(const std::vector<Commands>& steps, std::string_view what);
  std::optional<std::string> resolve(std::string_view id);
  QueueInfo load(const std::string& id);
  std::vector<std::string> group_index_keys(const QueueInfo& q, const std::string& sensor) const;

  core::RedisClient& meta_;
  core::RedisClient& analyzer_;
  long long default_max_size_;
  core::keys::KeyLayout layout_;
};

// One destination of a push: a resolved queue.
struct QueueDestination {
  std::string id;
  std::string list_key;
  std::string stats_key;
  long long max_size = 0;  // 0: unbounded
};

// Appends to `out` the commands that push `items` to `dest` atomically per command (a Lua
// script: LPUSH, trim to max_size, count pushed/dropped/consumed). Items are pushed in order, so
// an RPOP consumer receives them in the same order. The commands can be sent inside MULTI/EXEC.
void append_push_commands(std::vector<std::vector<std::string>>& out, const QueueDestination& dest,
                          const std::vector<std::string>& items, double now);
// The same for a range of items, without copying the vector first.
void append_push_commands(std::vector<std::vector<std::string>>& out, const QueueDestination& dest,
                          std::vector<std::string>::const_iterator begin,
                          std::vector<std::string>::const_iterator end, double now);

// The push script of append_push_commands() preceded by a check of the queue's record of what an
// origin applied (queue_outbox.hpp): KEYS list, statistics, record; ARGV max size, time, sequence
// number, record time to live, items. Returns -1 when the entry was applied before.
const std::string& push_once_script_text();

// Producer-side lookup of the queues fed by one sensor's data of one target: the non-group
// queues of the target plus the group queues the sensor belongs to, found through
// sensor:queues:<target>:<sensor> and through the group index with each group's sensor set (so
// that group queues created by the reference server, misindexed there, are fed too). `sensor` is
// the dashless lowercase id. Results are cached for `refresh` so that producers do not query the
// metadata for every batch.
class QueueRouter {
 public:
  QueueRouter(core::RedisClient& meta, long long default_max_size,
              std::chrono::milliseconds refresh = std::chrono::milliseconds(1000),
              core::keys::KeyLayout layout = core::keys::KeyLayout::Reference);
  const std::vector<QueueDestination>& destinations(const QueueTarget& target, std::string_view sensor);
  void invalidate() { cache_.clear(); }

 private:
  std::vector<std::string> group_queues_with_sensor(const std::vector<std::string>& group_queues,
                                                    std::string_view sensor);
  struct Entry {
    std::vector<QueueDestination> destinations;
    std::chrono::steady_clock::time_point loaded;
  };
  core::RedisClient& meta_;
  long long default_max_size_;
  std::chrono::milliseconds refresh_;
  core::keys::KeyLayout layout_;
  std::map<std::string, Entry> cache_;
};

// Normalises a sensor or queue UUID to the dashless lowercase form; throws QueueError if invalid.
std::string normalize_sensor(std::string_view text);

double epoch_now();

}  // namespace d4::queues
