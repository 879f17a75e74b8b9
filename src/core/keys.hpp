#pragma once
// Redis key names, compatible with the reference D4 server so that its web UI, workers and the
// existing analyzers (analyzer-d4-passivedns, -pibs, -passivessl) keep working against our data.
// The full layout, with types and writers, is documented in docs/redis-keys.md.
//
// "stream" keys live in the stream Redis (volatile buffer), "meta" keys in the metadata Redis,
// analyzer lists in the analyzer database (reference: 6380 db 2).
#include <optional>
#include <string>
#include <string_view>

namespace d4::core::keys {

inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (auto p : parts) s.append(p);
  return s;
}

// ---- key layouts ([redis] key_layout; docs/redis-keys.md, "Key layouts") ----
// Reference: the names of the reference D4 server, one Redis (or one Sentinel-managed master) per
// role and the users/analyzer/cache/results databases as database numbers of the meta instance:
// what the reference web UI, workers and analyzers read. Cluster: for a Redis Cluster (database 0
// only, keys spread over 16384 slots): the databases become key prefixes, and the keys one
// operation (a script, a MULTI) touches share a hash tag so that they live in one slot.
enum class KeyLayout { Reference, Cluster };

inline std::optional<KeyLayout> parse_key_layout(std::string_view text) {
  if (text == "reference") return KeyLayout::Reference;
  if (text == "cluster") return KeyLayout::Cluster;
  return std::nullopt;
}
inline std::string_view key_layout_name(KeyLayout layout) {
  return layout == KeyLayout::Cluster ? "cluster" : "reference";
}

// The databases of the meta instance besides its db 0 (and the backscatter results database).
enum class Database { Users, Analyzer, Cache, PibsResults };

// The database number in the reference layout (on the meta instance); the cluster layout keeps
// them all in the meta database (database 0 on a cluster).
inline int database_number(KeyLayout layout, Database d) {
  if (layout == KeyLayout::Cluster) return 0;
  switch (d) {
    case Database::Users:
      return 1;
    case Database::Analyzer:
      return 2;
    case Database::Cache:
      return 3;
    case Database::PibsResults:
      return 4;
  }
  return 0;
}

// What starts every key of a database in a layout ("" in the reference layout, where the database
// number separates them). In the cluster layout:
// * users and cache: a hash tag, so that each of these small databases lives in one slot and
//   their multi-key transactions (a user and its tokens, a web session and its user's index)
//   keep working unchanged;
// * analyzer: nothing, so that queues stay analyzer:<type>:<queue> for the existing analyzers;
//   its key names are distinct from the meta database's (docs/redis-keys.md checks both lists);
// * backscatter results: nothing, their own key prefix ([analyzers.pibs] key_prefix, "pibs:")
//   already separates them.
inline std::string_view database_prefix(KeyLayout layout, Database d) {
  if (layout == KeyLayout::Reference) return {};
  switch (d) {
    case Database::Users:
      return "{d4:users}:";
    case Database::Cache:
      return "{d4:cache}:";
    case Database::Analyzer:
    case Database::PibsResults:
      return {};
  }
  return {};
}
inline std::string in_database(KeyLayout layout, Database d, std::string_view name) {
  return cat({database_prefix(layout, d), name});
}

// The stream Redis in the cluster layout. Two kinds of slots:
// * a session's slot, hash tag {<session>}: its stream(s) and its outbox, so that the ingest
//   batch (XADDs + outbox item) is one MULTI on one node and sessions spread over the masters;
// * the live slot, hash tag {live}: the live-connection state, the worker handshake sets, the
//   backlog counters, the instances and the kicks (every key the server's scripts touch together).
//   Written once per connection event and once per stored batch (the relay of the batch's outbox
//   item), a few bytes each, while the packets go to the sessions' slots.
// In the reference layout live() is the name itself.
inline constexpr std::string_view kLiveSlotPrefix = "{live}:";
inline std::string live(KeyLayout layout, std::string_view reference_name) {
  if (layout == KeyLayout::Reference) return std::string(reference_name);
  return cat({kLiveSlotPrefix, reference_name});
}

// ---- stream Redis: packets and live-connection state ----
inline std::string stream(std::string_view type, std::string_view session) {
  return cat({"stream:", type, ":", session});
}
// The cluster layout tags the stream by its session: stream:<type>:{<session>}.
inline std::string stream(KeyLayout layout, std::string_view type, std::string_view session) {
  if (layout == KeyLayout::Reference) return stream(type, session);
  return cat({"stream:", type, ":{", session, "}"});
}
// Cluster layout, session slot: the batches of the session stored but whose bookkeeping in the
// live slot (session_uuid:<type>, the instance's sessions, the backlog counters) is not yet
// confirmed: hash batch number -> "<bytes> <uuid> <type> <worker type> <instance>". Written in the
// batch's MULTI, applied once by the relay script (the live slot remembers the last batch number
// applied per session, kRelayedBatches), then deleted.
inline std::string session_outbox(std::string_view session) {
  return cat({"d4:outbox:{", session, "}"});
}
// Cluster layout, live slot: session -> number of the last batch whose outbox item was applied.
inline constexpr std::string_view kRelayedBatches = "d4:outbox:relayed";
inline std::string sessions_of_type(std::string_view type) {
  return cat({"session_uuid:", type});
}
inline std::string working_sessions(std::string_view type) {
  return cat({"working_session_uuid:", type});
}
inline constexpr std::string_view kEndedSessions = "ended_session";
inline constexpr std::string_view kActiveConnection = "active_connection";
inline std::string active_connection_type(std::string_view type) {
  return cat({"active_connection:", type});
}
inline std::string active_connection_by_uuid(std::string_view uuid) {
  return cat({"active_connection_by_uuid:", uuid});
}
inline std::string active_uuid_type2(std::string_view uuid) {
  return cat({"active_uuid_type2:", uuid});
}
inline std::string active_uuid_type254(std::string_view uuid) {
  return cat({"active_uuid_type254:", uuid});
}
inline std::string sessions_of_sensor(std::string_view uuid) {
  return cat({"map:active_connection-uuid-session_uuid:", uuid});
}
inline std::string active_extended_types(std::string_view uuid) {
  return cat({"active_connection_extended_type:", uuid});
}
inline constexpr std::string_view kSessionExtendedType = "map:session-uuid_active_extended_type";
inline constexpr std::string_view kSensorsToKick = "server:sensor_to_kick";
inline std::string temp_blocklist_uuid(std::string_view uuid) {
  return cat({"temp_blacklist_uuid:", uuid});
}
inline constexpr std::string_view kIncorrectTypeSessions = "Error:IncorrectType";
// Bytes stored but not yet processed (ours): session -> bytes and sensor uuid -> bytes. d4-server
// adds in the MULTI/EXEC that stores the packets, d4-worker subtracts when it trims processed
// entries (a field reaching 0 is deleted), so HLEN of the sensor hash counts the sensors holding a
// backlog. Admission limits and the memory budget's fair share are computed from them.
inline constexpr std::string_view kBacklogBytesBySession = "d4:backlog:session";
inline constexpr std::string_view kBacklogBytesBySensor = "d4:backlog:sensor";
// Cluster layout only, live slot: stream key -> the last trim point (XTRIM MINID id) whose bytes
// d4-worker subtracted from the two counts above; the trim itself runs in the stream's slot, after
// it (workers/backlog.hpp says why the counts stay exact). Deleted with the session.
inline constexpr std::string_view kBacklogTrimPoints = "d4:backlog:trimmed";

// ---- meta Redis: configuration, sensors, statistics ----
inline constexpr std::string_view kDefaultHmacKey = "server:hmac_default_key";
inline constexpr std::string_view kAcceptedTypes = "server:accepted_type";
inline constexpr std::string_view kAcceptedExtendedTypes = "server:accepted_extended_type";
inline constexpr std::string_view kFirstDate = "first_date";
inline constexpr std::string_view kBlocklistIp = "blacklist_ip";  // IPs and (ours) CIDR ranges
inline constexpr std::string_view kBlocklistUuid = "blacklist_uuid";
inline constexpr std::string_view kBlocklistIpByUuid = "blacklist_ip_by_uuid";
inline constexpr std::string_view kRegisteredUuids = "registered_uuid";
inline constexpr std::string_view kPendingRegistrations = "sensor_pending_registration";
inline std::string sensor_metadata(std::string_view uuid) {
  return cat({"metadata_uuid:", uuid});
}
inline std::string sensor_type_metadata(std::string_view uuid, std::string_view type) {
  return cat({"metadata_type_by_uuid:", uuid, ":", type});
}
inline std::string sensor_extended_type_metadata(std::string_view uuid, std::string_view ext) {
  return cat({"metadata_extended_type_by_uuid:", uuid, ":", ext});
}
inline std::string sensor_all_types(std::string_view uuid) {
  return cat({"all_types_by_uuid:", uuid});
}
inline std::string sensor_all_extended_types(std::string_view uuid) {
  return cat({"all_extended_types_by_uuid:", uuid});
}
inline std::string sensor_last_ips(std::string_view uuid) {
  return cat({"list_uuid_ip:", uuid});
}
inline constexpr std::string_view kStreamMaxSizeByUuid = "stream_max_size_by_uuid";
// Daily packet counters (date = YYYYMMDD, server local time).
inline std::string stat_uuid_ip(std::string_view date, std::string_view uuid) {
  return cat({"stat_uuid_ip:", date, ":", uuid});
}
inline std::string stat_ip_uuid(std::string_view date, std::string_view ip) {
  return cat({"stat_ip_uuid:", date, ":", ip});
}
inline std::string daily_uuid(std::string_view date) {
  return cat({"daily_uuid:", date});
}
inline std::string daily_ip(std::string_view date) {
  return cat({"daily_ip:", date});
}
inline std::string daily_type(std::string_view date) {
  return cat({"daily_type:", date});
}
inline std::string stat_type_uuid(std::string_view date, std::string_view type) {
  return cat({"stat_type_uuid:", date, ":", type});
}
inline std::string stat_uuid_type(std::string_view date, std::string_view uuid) {
  return cat({"stat_uuid_type:", date, ":", uuid});
}
// Sensor monitoring.
inline constexpr std::string_view kMonitoredSensors = "to_monitor:sensors";
inline std::string monitored_sensor(std::string_view uuid) {
  return cat({"to_monitor:sensor:", uuid});
}
inline constexpr std::string_view kMonitoringLastUpdated = "sensors_monitoring:last_updated";
inline constexpr std::string_view kSensorsInError = "sensors_monitoring:sensors_error";

// ---- analyzer queues (metadata in meta db, lists in the analyzer db) ----
inline std::string analyzer_queue_meta(std::string_view queue) {
  return cat({"analyzer:", queue});
}
inline std::string analyzer_queues_of_type(std::string_view type) {
  return cat({"analyzer:", type});
}
inline std::string analyzer_queues_of_extended_type(std::string_view ext) {
  return cat({"analyzer:254:", ext});
}
inline std::string analyzer_group_queues(std::string_view type_or_254_ext) {
  return cat({"analyzer_uuid_group:", type_or_254_ext});
}
inline std::string analyzer_sensor_group(std::string_view queue) {
  return cat({"analyzer_sensor_group:", queue});
}
inline std::string sensor_group_queues(std::string_view type_or_ext, std::string_view sensor) {
  return cat({"sensor:queues:", type_or_ext, ":", sensor});
}
inline constexpr std::string_view kAllAnalyzerQueues = "all_analyzer_queues";
// The list an analyzer pops: analyzer:<type>:<queue> or analyzer:<extended type>:<queue>.
inline std::string analyzer_list(std::string_view type_or_ext, std::string_view queue) {
  return cat({"analyzer:", type_or_ext, ":", queue});
}

// ---- workers/queues (ours) ----
// Per-sensor errors: the workers use sensor_errors()/sensor_rejects() defined by the server below.
// Per-queue statistics (analyzer db, next to the lists): pushed, dropped, consumed, length,
// last_push, last_consumer_activity.
inline std::string analyzer_queue_stats(std::string_view queue) {
  return cat({"d4:queue_stats:", queue});
}
// The same in a layout: in the cluster layout tagged by the queue's list name
// (d4:queue_stats:{analyzer:<type>:<queue>}), which puts it in the list's slot (a tag equal to a
// key's whole name hashes like that key), so the scripts over a list and its statistics stay in
// one slot.
inline std::string analyzer_queue_stats(std::string_view queue, std::string_view list_key, KeyLayout layout) {
  if (layout == KeyLayout::Cluster) return cat({"d4:queue_stats:{", list_key, "}"});
  return analyzer_queue_stats(queue);
}
// Worker bookkeeping (analyzer db, so that progress is committed in the same transaction as the
// queue pushes): the lease that gives one worker process a session, and the session's progress.
inline std::string worker_lease(std::string_view type, std::string_view session) {
  return cat({"d4:worker:lease:", type, ":", session});
}
inline std::string worker_progress(std::string_view type, std::string_view session) {
  return cat({"d4:worker:progress:", type, ":", session});
}
// In the cluster layout the lease, the progress and the outbox of a session (queues/queue_outbox.hpp)
// are tagged by the session, so that a commit (WATCH lease, MULTI, progress + outbox, EXEC) stays
// in one slot.
inline std::string worker_lease(std::string_view type, std::string_view session, KeyLayout layout) {
  if (layout == KeyLayout::Cluster) return cat({"d4:worker:lease:", type, ":{", session, "}"});
  return worker_lease(type, session);
}
inline std::string worker_progress(std::string_view type, std::string_view session, KeyLayout layout) {
  if (layout == KeyLayout::Cluster) return cat({"d4:worker:progress:", type, ":{", session, "}"});
  return worker_progress(type, session);
}
inline std::string worker_outbox(std::string_view type, std::string_view session) {
  return cat({"d4:worker:outbox:", type, ":{", session, "}"});
}
// Consecutive failures of each session of a type (session -> count, analyzer db): a session
// whose data makes its handler fail this many times ([workers] max_session_failures) is
// quarantined instead of being retried forever.
inline std::string worker_failures(std::string_view type) {
  return cat({"d4:worker:failures:", type});
}
// Dead letters (stream Redis): the streams of quarantined sessions, moved aside within a budget
// ([workers] dead_letter_max_bytes / dead_letter_max_sessions; the oldest are dropped, counted).
//   d4:deadletter                          zset session -> time moved (epoch seconds)
//   d4:deadletter:info:<session>           hash sensor, type, reason, time, entries, bytes, keys
//   d4:deadletter:stream:<type>:<session>  the session's stream, renamed
//   d4:deadletter:stats                    hash held_sessions, held_entries, held_bytes,
//                                          moved_sessions, evicted_sessions, evicted_entries, evicted_bytes
inline constexpr std::string_view kDeadLetters = "d4:deadletter";
inline constexpr std::string_view kDeadLetterStats = "d4:deadletter:stats";
inline std::string dead_letter_info(std::string_view session) {
  return cat({"d4:deadletter:info:", session});
}
inline std::string dead_letter_stream(std::string_view type, std::string_view session) {
  return cat({"d4:deadletter:stream:", type, ":", session});
}
// Cluster layout: a session's dead letters are tagged by the session, in the slot of its streams
// (d4:deadletter:info:{<session>}, d4:deadletter:stream:<type>:{<session>}), so that moving them
// aside is one script in one slot; the index and the counts are live-slot keys
// ({live}:d4:deadletter, {live}:d4:deadletter:stats) with, per held session, what its eviction
// subtracts: {live}:d4:deadletter:held (session -> "<entries> <bytes> <key> <key>...").
inline constexpr std::string_view kDeadLettersHeld = "d4:deadletter:held";
inline std::string dead_letter_info(std::string_view session, KeyLayout layout) {
  if (layout == KeyLayout::Cluster) return cat({"d4:deadletter:info:{", session, "}"});
  return dead_letter_info(session);
}
inline std::string dead_letter_stream(std::string_view type, std::string_view session, KeyLayout layout) {
  if (layout == KeyLayout::Cluster) return cat({"d4:deadletter:stream:", type, ":{", session, "}"});
  return dead_letter_stream(type, session);
}
// Short-lived locks so that only one worker process runs a periodic task at a time.
inline std::string worker_task_lock(std::string_view task) {
  return cat({"d4:worker:lock:", task});
}
// Elements an exporter has popped but not yet delivered (re-sent first on restart).
inline std::string exporter_processing(std::string_view name) {
  return cat({"d4:export:processing:", name});
}
// In the cluster layout tagged by the exported list's name (it moves elements from that list).
inline std::string exporter_processing(std::string_view name, std::string_view list_key, KeyLayout layout) {
  if (layout == KeyLayout::Cluster) return cat({"d4:export:processing:{", list_key, "}:", name});
  return exporter_processing(name);
}
// Elements an exporter can never deliver (larger than a datagram, missing file): kept, not dropped.
inline std::string exporter_failed(std::string_view name) {
  return cat({"d4:export:failed:", name});
}
// Running worker processes (analyzer db): their names, and per name a hash refreshed every 2 s
// and expiring 60 s after the process stopped: "started", "updated", "types" (e.g. "1,3,8"), and per served
// type
// "<type>:entries", ":bytes", ":items", ":files", ":rejects", ":sessions_done".
inline constexpr std::string_view kWorkers = "d4:workers";
inline std::string worker_stats(std::string_view name) {
  return cat({"d4:worker:stats:", name});
}

// ---- analyzers (analyzer db unless noted) ----
// Queue consumers (src/analyzers/common/queue_consumer.cpp): the batch being handled, deleted only
// after its results were written (replayed first after a crash), and the elements of batches that
// failed for a reason other than Redis (newest first, capped).
inline std::string analyzer_processing(std::string_view consumer) {
  return cat({"d4:analyzer:processing:", consumer});
}
// In the cluster layout the processing list is tagged by the queue's list name
// (d4:analyzer:processing:{analyzer:<type>:<queue>}:<consumer>): the take script moves elements
// from the queue into it, so both lie in one slot.
inline std::string analyzer_processing(std::string_view consumer, std::string_view list_key,
                                       KeyLayout layout) {
  if (layout == KeyLayout::Cluster) return cat({"d4:analyzer:processing:{", list_key, "}:", consumer});
  return analyzer_processing(consumer);
}
inline std::string analyzer_failed(std::string_view consumer) {
  return cat({"d4:analyzer:failed:", consumer});
}
// Backscatter results of d4-pibs (results Redis, default meta host db 4), read by d4-web. Every
// key starts with a configurable prefix ([analyzers.pibs] key_prefix, default "pibs:").
inline constexpr int kPibsResultsDb = 4;  // on the meta Redis, when [analyzers.pibs] results_redis is unset
inline constexpr std::string_view kPibsDefaultPrefix = "pibs:";
// zset victim -> backscatter packets (all time).
inline std::string pibs_victims(std::string_view prefix) {
  return cat({prefix, "victims"});
}
// zset victim -> last seen (epoch seconds).
inline std::string pibs_victims_last_seen(std::string_view prefix) {
  return cat({prefix, "victims:last_seen"});
}
// hash packets, first_seen, last_seen, syn_ack, rst, rst_ack, ack, other, ece, ports (distinct).
inline std::string pibs_victim(std::string_view prefix, std::string_view ip) {
  return cat({prefix, "victim:", ip});
}
// zset source port -> packets.
inline std::string pibs_victim_ports(std::string_view prefix, std::string_view ip) {
  return cat({prefix, "victim:", ip, ":ports"});
}
// hash bucket start (epoch seconds) -> packets.
inline std::string pibs_victim_series(std::string_view prefix, std::string_view ip) {
  return cat({prefix, "victim:", ip, ":series"});
}
// hash frames, tcp, syn, normal, backscatter, undecodable.
inline std::string pibs_stats(std::string_view prefix) {
  return cat({prefix, "stats"});
}

// Running analyzer queue consumers (analyzer db), like the workers' registry: their names, and per
// name a hash refreshed every 2 s by the consumer loop (src/analyzers/common/queue_consumer.cpp):
// "queue" (the list it pops), "started", "updated" (epoch s), "elements", "batches",
// "failed_batches", "redis_errors". A clean stop deletes both; the hash of a consumer that died
// expires after kAnalyzerConsumerTtlSeconds, so a member without a fresh hash is down.
inline constexpr std::string_view kAnalyzerConsumers = "d4:analyzer:consumers";
inline std::string analyzer_consumer(std::string_view consumer) {
  return cat({"d4:analyzer:consumer:", consumer});
}
inline constexpr int kAnalyzerConsumerTtlSeconds = 600;

// ---- alerts (meta db, ours; docs/alerts.md) ----
// Rules: rule id -> JSON rule (kind, scope, parameters, channels), written by d4-alerts rule
// add/remove (and the web API), read by the alert daemon at every evaluation.
inline constexpr std::string_view kAlertRules = "d4:alerts:rules";
// Alert instances: "<rule id>|<instance>" -> JSON state (firing/resolved, since, last notified,
// notifications not yet delivered). Bounded by [alerts] max_instances.
inline constexpr std::string_view kAlertState = "d4:alerts:state";
// The daemon's counters (evaluations, notifications sent/failed, instances refused by the budget,
// last evaluation time), shown by `d4-alerts status` and the web interface.
inline constexpr std::string_view kAlertStats = "d4:alerts:stats";
// Held (SET NX PX) by the one d4-alerts process that evaluates, so that two daemons never notify
// the same change twice.
inline constexpr std::string_view kAlertLock = "d4:alerts:lock";

// ---- organisations (meta db, ours; docs/redis-keys.md, docs/web.md#organisations) ----
// The organisations of the server: dashless lowercase UUIDs (an organisation's UUID is its MISP
// organisation UUID, the "misp:org" of its sensors' meta headers).
inline constexpr std::string_view kOrganisations = "d4:orgs";
// One organisation: hash name, created (epoch s).
inline std::string organisation(std::string_view uuid) {
  return cat({"d4:org:", uuid});
}
// The UUID of the default organisation: every sensor and user not assigned to another one
// belongs to it (a single-team server has only this one). Created by d4-web at start.
inline constexpr std::string_view kDefaultOrganisation = "d4:org:default";
// Sensor (dashless UUID) -> organisation UUID, for sensors assigned explicitly.
inline constexpr std::string_view kSensorOrganisation = "d4:sensor:org";
// Web user (e-mail) -> organisation UUID, for users assigned explicitly.
inline constexpr std::string_view kUserOrganisation = "d4:user:org";
// Web users who administer their organisation (approve its sensors' registrations when
// [web] sensor_registration = "org-approval").
inline constexpr std::string_view kOrganisationAdmins = "d4:org:admins";
// Self-service sensor registrations awaiting approval: sensor (dashless) -> JSON {"org", "key",
// "description", "by", "created"}. The key reaches metadata_uuid:<uuid> (where d4-server reads
// it) only at approval; at most [web] max_pending_registrations.
inline constexpr std::string_view kSensorRegistrations = "d4:registrations";
// Analyzer queues one organisation grants another (docs/web.md#queue-grants): queue id (as
// stored) -> JSON {"from", "to", "by", "created"}. The queue itself is an ordinary group queue of
// the granting organisation's sensors (analyzer:<type>:<queue>), fed by d4-worker like any other;
// at most [web] max_grants_per_organisation per granting organisation.
inline constexpr std::string_view kQueueGrants = "d4:grants";
// An organisation's own notification channels (alerts/org_channels.hpp): channel name -> JSON
// {"type": "webhook", "url", "headers"} or {"type": "email", "to"}; written by d4-web (the
// organisation's administrators), read by d4-alerts for the organisation's org:<uuid> rules.
inline std::string org_channels(std::string_view org) {
  return cat({"d4:org:channels:", org});
}
// The grants' audit trail, newest first: JSON {"time", "action" (granted, revoked, sensor_removed),
// "by", "grant", "from", "to", "target", "sensors"}; trimmed to [web] grant_audit_max_entries.
inline constexpr std::string_view kQueueGrantAudit = "d4:grants:audit";

// ---- web interface sessions and login throttling (cache db 3, ours; docs/redis-keys.md) ----
// One signed-in session: hash of the session token -> user, CSRF token, creation time; expires
// with the session.
inline std::string web_session(std::string_view token_hash) {
  return cat({"d4:web:session:", token_hash});
}
// The session hashes of one user, so that a password change or removal ends them all.
inline std::string web_user_sessions(std::string_view user) {
  return cat({"d4:web:user_sessions:", user});
}
// Every session's hash scored by its expiry time: counts the live sessions for the metrics
// without scanning the keyspace. Expired members are removed at each create and count, so its
// size is bounded by the sessions created within one session_ttl.
inline constexpr std::string_view kWebSessionsByExpiry = "d4:web:sessions";
// Failed sign-ins from one source (address or aggregated prefix); suffixed ":<user hash>" for the
// (user, source) pair.
inline std::string web_login_failures(std::string_view source) {
  return cat({"d4:web:login_failures:", source});
}

// ---- keys added by this implementation (not read by the reference tools) ----
// Server instances sharing one stream Redis (stream Redis). Each live d4-server has a random
// instance id, refreshes a heartbeat key with a TTL and records its live sessions, so another
// instance can release the (uuid, type) slots and end the sessions of an instance that died.
inline constexpr std::string_view kServerInstances = "server:instances";
inline std::string server_instance(std::string_view id) {
  return cat({"server:instance:", id});
}
inline std::string server_instance_sessions(std::string_view id) {
  return cat({"server:instance_sessions:", id});
}
// Owner instance of each (uuid, type) slot in active_connection:<type> (uuid -> instance id).
inline std::string slot_owners(std::string_view type) {
  return cat({"server:claims:", type});
}
// Kicks every instance applies: member "uuid:<uuid>" or "type:<type>", score = kick time (ms);
// sessions of that sensor/type opened before the score are closed. Entries expire after a minute.
inline constexpr std::string_view kKicks = "server:kicks";

// Meta Redis.
inline constexpr std::string_view kServerMode = "server:mode";  // informative copy of [server] mode
// Policy version: every writer of the policy the servers cache (accepted types, blocklists,
// registered sensors, default key) INCRs it after its change, so that d4-server re-reads the
// policy only when the number moved (one GET per refresh instead of every set).
inline constexpr std::string_view kPolicyVersion = "server:policy_version";
// Per-sensor error reporting (server rejects of authenticated connections, and worker errors):
// sensor:rejects:<uuid> is a hash reason -> count (HINCRBY); sensor:errors:<uuid> a list, newest
// first, capped (LPUSH + LTRIM 0 49), of JSON objects
//   {"time": <epoch seconds>, "reason": "<reason>", "detail": "<text>", "ip": "<peer>",
//    "source": "server" | "worker:<type>", "session": "<session uuid>"}
// (ip/session optional). Reasons are short snake_case words, listed in docs/redis-keys.md.
inline std::string sensor_rejects(std::string_view uuid) {
  return cat({"sensor:rejects:", uuid});
}
inline std::string sensor_errors(std::string_view uuid) {
  return cat({"sensor:errors:", uuid});
}
// Rejects before any HMAC verified that name an already known sensor (metadata exists): shown to
// the operator, never creating sensor state.
inline std::string sensor_unauth_errors(std::string_view uuid) {
  return cat({"sensor:unauth_errors:", uuid});
}
// Rejects before authentication, per source network of the peer (core::source_network: an IPv4
// /24, an IPv6 /64, e.g. "ip:rejects:192.0.2.0/24"), only for the networks ranked in
// kRejectSources; they expire after a week without rejects.
inline std::string ip_rejects(std::string_view network) {
  return cat({"ip:rejects:", network});
}
inline std::string ip_errors(std::string_view network) {
  return cat({"ip:errors:", network});
}
// Back-pressure that held a sensor's sessions (cause -> times it started): backlog (packets),
// session_bytes, sensor_bytes, memory (the stream Redis memory budget); and the global counts.
inline std::string sensor_backpressure(std::string_view uuid) {
  return cat({"sensor:backpressure:", uuid});
}
inline constexpr std::string_view kServerBackpressure = "server:backpressure";
// zset source network -> rejects before authentication: the top [server] reject_sources_max
// networks (a newcomer replaces the lowest and inherits its count; the replaced network's
// ip:rejects/ip:errors keys are deleted). Bounds what unauthenticated peers can create.
inline constexpr std::string_view kRejectSources = "server:reject_sources";
// The same details in a layout. The cluster layout tags them with the ranking's own name
// (ip:rejects:{server:reject_sources}:<network>; a tag equal to a key's whole name hashes like
// that key), so that the ranking, the details it writes and those of the network it replaces,
// which the flush script deletes, all lie in the ranking's slot.
inline std::string ip_rejects(KeyLayout layout, std::string_view network) {
  if (layout == KeyLayout::Cluster) return cat({"ip:rejects:{", kRejectSources, "}:", network});
  return ip_rejects(network);
}
inline std::string ip_errors(KeyLayout layout, std::string_view network) {
  if (layout == KeyLayout::Cluster) return cat({"ip:errors:{", kRejectSources, "}:", network});
  return ip_errors(network);
}
// Every sensor that has a metadata_uuid:<uuid> hash written by this implementation (stored data,
// registration, key or description set): the list d4-web shows, read without scanning the
// keyspace. Built once from a SCAN by d4-server at start when it does not exist.
inline constexpr std::string_view kSensorIndex = "sensor:index";
// Global reject counters: reason -> count, overall and per day (YYYYMMDD).
inline constexpr std::string_view kServerRejects = "server:rejects";
inline std::string daily_rejects(std::string_view date) {
  return cat({"server:rejects:", date});
}
inline std::string sensor_tags(std::string_view uuid) {
  return cat({"sensor:tags:", uuid});
}
// The latest meta header of each extended type a sensor sent (extended type -> JSON text, at most
// 100,000 bytes each, one field per accepted extended type), written by the type-2 worker: its
// "tags" and "misp:org" are carried into the MISP feed (src/sharing/misp_feed).
inline std::string sensor_meta_header(std::string_view uuid) {
  return cat({"sensor:metaheader:", uuid});
}
// Counters of the MISP feed exporter (d4-misp-feed): runs, events_written, events_unchanged,
// objects, attributes, objects_dropped, tags_dropped, candidates_not_read,
// sensors_not_read, organisations_refused, unattributed_records (totals), last_run, last_success,
// last_error (epoch seconds / text of the last failure).
inline constexpr std::string_view kMispFeedStats = "d4:mispfeed:stats";
// Per-sensor ingest rate limit in bytes per second (uuid -> limit), overriding [server] rate_limit.
inline constexpr std::string_view kRateLimitByUuid = "rate_limit_by_uuid";
// Daily byte counters next to the reference's packet counters.
inline std::string daily_uuid_bytes(std::string_view date) {
  return cat({"daily_uuid_bytes:", date});
}
inline std::string daily_ip_bytes(std::string_view date) {
  return cat({"daily_ip_bytes:", date});
}
inline std::string daily_type_bytes(std::string_view date) {
  return cat({"daily_type_bytes:", date});
}
inline std::string stat_uuid_type_bytes(std::string_view date, std::string_view uuid) {
  return cat({"stat_uuid_type_bytes:", date, ":", uuid});
}
// Idempotency marker of one server worker thread's metadata/statistics flushes: the sequence
// number of its last call applied (TTL one hour after the last flush).
inline std::string flush_marker(std::string_view instance, std::string_view worker) {
  return cat({"server:flush:", instance, ":", worker});
}
// Cluster layout: a flush call touches the keys of one slot and its marker must be there too, so
// each slot a worker writes to has its own marker, server:flush:<instance>:<worker>:{<tag>}, with
// a tag of that slot (core::cluster_slot_tag). One sequence per worker still serves them all: the
// calls of one slot carry increasing numbers, which is all a marker compares.
inline std::string flush_marker_in_slot(std::string_view marker, std::string_view slot_tag) {
  return cat({marker, ":{", slot_tag, "}"});
}

}  // namespace d4::core::keys
