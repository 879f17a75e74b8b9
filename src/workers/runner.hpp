#pragma once
// A TypeRunner serves the sessions of one D4 type on one thread: it discovers sessions in
// session_uuid:<type>, claims each with a lease so that several threads and processes share the
// load without two of them touching one session, reads the session streams in batches
// (XREAD BLOCK over every claimed session at once), lets the session's handler rebuild the data,
// and commits each batch with one MULTI/EXEC on the analyzer database: the queue pushes and the
// session progress (last entry id, archive file and size, partial record) together. Only then are
// the processed entries trimmed from the stream. After a crash the next owner restores the
// progress, truncates the archive back to the committed size and continues after the committed
// entry: nothing is lost, nothing is queued twice.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "queues/queue_store.hpp"
#include "workers/compressor.hpp"
#include "workers/quarantine.hpp"
#include "workers/session.hpp"

namespace d4::workers {

struct RunnerOptions {
  int type = 1;
  std::string consumer = "worker";  // unique per thread: host:pid:type:index
  std::chrono::milliseconds lease{30000};
  std::size_t max_sessions = 256;  // sessions one runner holds at a time
  std::size_t read_count = 256;    // entries per stream per XREAD
  std::chrono::milliseconds block{200};
  std::chrono::milliseconds discover_interval{500};
  std::chrono::milliseconds end_check_interval{250};
  long long default_queue_max_size = 100'000'000;
  std::size_t sensor_error_list_size = 100;
  // Testing: slow the worker down to crash it mid-session (cluster layout: between the commit and
  // its relay to the queues).
  std::chrono::milliseconds commit_delay{0};
  long long max_session_failures = 3;                // data errors before a session is quarantined
  std::chrono::milliseconds failure_cooldown{5000};  // before a failed session is tried again
  std::string fail_marker;  // testing: entries containing it make processing fail (fault injection)
  DeadLetterBudget dead_letter;
  // Cluster: each commit goes to the session's outbox, then is relayed to the queues, each entry
  // once (queues/queue_outbox.hpp); Reference: one MULTI/EXEC over the queues and the progress.
  core::keys::KeyLayout layout = core::keys::KeyLayout::Reference;
};

struct RedisEndpoints {
  core::RedisEndpoint stream, meta, analyzer;
};

struct RunnerCounters {
  std::atomic<std::uint64_t> entries{0}, bytes{0}, items{0}, files{0}, rejects{0}, sessions_done{0};
  std::atomic<std::uint64_t> quarantined{0}, io_errors{0};
};

class TypeRunner {
 public:
  TypeRunner(RunnerOptions options, WorkerSettings settings, RedisEndpoints endpoints, Compressor& compressor,
             RunnerCounters& counters);
  ~TypeRunner();
  // Serves sessions until `stop` becomes true; Redis outages are retried with backoff.
  void run(const std::atomic<bool>& stop);
  // One iteration of the loop (tests).
  void step();
  std::size_t sessions_held() const { return sessions_.size(); }

 private:
  struct Session;
  class Context;

  void discover();
  void try_claim(const std::string& id);
  void replay_kept_entries(Session& s, Context& ctx, BatchOutput& out);
  void renew_leases();
  void read_streams();
  void check_idle_and_ended();
  void process_entries(Session& s, int stream_type, const core::RedisReply& entries);
  bool commit(Session& s, BatchOutput& out, const std::map<int, std::string>& trim_after);
  void commit_compression_results();
  void finish(Session& s);
  void cleanup(Session& s);
  void release(const std::string& id, const std::string& why);
  void record_rejects(Session& s, const std::vector<Reject>& rejects, const std::optional<Reject>& fatal,
                      const std::string& fatal_text);
  void record_rejects(const std::string& session, const std::string& sensor,
                      const std::vector<Reject>& rejects, const std::optional<Reject>& fatal,
                      const std::string& fatal_text);
  std::vector<int> streams_to_read(Session& s) const;
  void trim_processed(Session& s, const std::map<int, std::string>& up_to);
  // A session's data made its handler throw: retry later, or quarantine it after too many tries.
  void on_session_failure(const std::string& id, std::string sensor, const std::exception& e);
  void quarantine(const std::string& id, const std::string& sensor, const std::string& what,
                  long long failures);
  // Cluster layout: finishes a quarantine its worker began but did not commit; false if none.
  bool finish_interrupted_quarantine(const std::string& id, const std::string& sensor);
  bool lease_is_mine(Session& s);
  std::string lease_key(const std::string& session) const;
  std::string progress_key(const std::string& session) const;
  // Cluster layout: pushes what the session's outbox holds to the queues (throws RedisError).
  void relay(const std::string& session);
  // Stream Redis names in the configured layout: the live-connection and handshake sets
  // (keys::live) and the session streams (stream:<t>:{<session>} in the cluster layout).
  std::string live(std::string_view reference_name) const;
  std::string stream_key(int stream_type, const std::string& session) const;
  // One XREAD over every stream (reference layout), or one per slot (cluster layout): the
  // replies' [stream key, entries] elements, kept alive in `replies`.
  std::vector<const core::RedisReply*> read_new_entries(
      const std::vector<std::pair<std::string, std::string>>& keys_and_ids,
      std::vector<core::RedisReply>& replies);

  RunnerOptions opt_;
  WorkerSettings settings_;
  std::string type_;
  core::RedisClient stream_, meta_, analyzer_;
  queues::QueueRouter router_;
  Compressor& compressor_;
  RunnerCounters& counters_;
  std::shared_ptr<CompressionInbox> inbox_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  std::map<std::string, std::chrono::steady_clock::time_point> cooldown_;
  std::map<std::string, bool> accepted_ext_cache_;
  std::chrono::steady_clock::time_point last_discover_{}, last_renew_{}, ext_cache_loaded_{};
};

}  // namespace d4::workers
