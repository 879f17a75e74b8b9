#pragma once
// Sensor policy: the operator's view of sensors, shared by d4-server (reads), d4-admin, the web UI
// and the REST API (reads and writes). Everything lives in Redis under the reference key names
// (docs/redis-keys.md), so changes made here reach every running server within its policy
// refresh interval (about a second) and apply to live connections.
//
// UUIDs are accepted with or without dashes, in any case, and stored dashless lowercase (the
// reference UI stored them as typed, so dashed entries never matched). HMAC keys are stored
// verbatim: no HTML-escaping, no truncation.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/keys.hpp"
#include "core/redis_client.hpp"

namespace d4::core {

enum class ServerMode { Registration, SharedSecret };
std::optional<ServerMode> parse_server_mode(std::string_view text);  // "registration" | "shared-secret"
std::string_view to_string(ServerMode m);

// Outcome of an operator action; the codes map to the reference API's HTTP statuses.
struct PolicyResult {
  enum class Code { Ok, Invalid /*400*/, NotFound /*404*/, Conflict /*409*/ };
  Code code = Code::Ok;
  std::string message;  // human-readable reason when not Ok
  std::string value;    // normalised uuid, canonical network, generated key...
  explicit operator bool() const { return code == Code::Ok; }
  static PolicyResult ok(std::string value = {}) { return {Code::Ok, {}, std::move(value)}; }
  static PolicyResult fail(Code c, std::string msg) { return {c, std::move(msg), {}}; }
};

// One entry of a sensor's (or IP's) error list, parsed from its JSON form.
struct SensorError {
  long long time = 0;  // epoch seconds
  std::string reason;
  std::string detail;
  std::string ip;
  std::string source;  // "server" or "worker:<type>"
  std::string session;
  std::string raw;  // the stored JSON text
};
// Parses a stored entry; unknown/invalid JSON gives reason "unknown" with raw kept.
SensorError parse_sensor_error(std::string_view json);
// Formats an entry as stored (the server and workers use this).
std::string format_sensor_error(long long time, std::string_view reason, std::string_view detail,
                                std::string_view ip, std::string_view source, std::string_view session);

struct SensorInfo {
  std::string uuid;  // dashless
  bool registered = false;
  bool pending = false;
  bool blocked = false;       // in blacklist_uuid
  bool ips_blocked = false;   // in blacklist_ip_by_uuid
  bool temp_blocked = false;  // kicked recently (temp_blacklist_uuid:<uuid> exists)
  bool has_own_key = false;   // metadata_uuid:<uuid>.hmac_key set
  std::optional<long long> first_seen, last_seen;
  std::string description, error, user_mail;
  bool third_party = false;
  std::vector<std::string> tags;
  std::optional<long long> backlog_limit;    // stream_max_size_by_uuid
  std::optional<long long> rate_limit;       // bytes/s, rate_limit_by_uuid
  std::vector<std::string> types;            // all_types_by_uuid
  std::vector<std::string> connected_types;  // active_connection_by_uuid
  std::vector<std::string> last_ips;         // list_uuid_ip ("<ip>-<YYYYmmddHHMMSS>")
  std::map<std::string, long long> rejects;
  std::map<std::string, long long> backpressure;  // cause -> times its sessions were held
  long long backlog_bytes = 0;                    // stored, not yet processed (d4:backlog:sensor)
  std::vector<SensorError> errors;                // newest first
  std::vector<SensorError> unauthenticated_errors;
};

class SensorPolicy {
 public:
  // `meta` is the metadata Redis (reference 6380 db 0), `stream` the stream Redis (6379 db 0).
  // `layout` names the stream Redis's keys (kicks, temporary blocks) and the source networks'
  // reject details (keys::ip_rejects).
  SensorPolicy(RedisClient& meta, RedisClient& stream, keys::KeyLayout layout = keys::KeyLayout::Reference)
      : meta_(meta), stream_(stream), layout_(layout) {}

  // ---- registration (reference lib/Sensor.py semantics) ----
  // Pending registration: invalid uuid/key -> Invalid; metadata_uuid:<uuid> exists -> Conflict.
  PolicyResult register_sensor(std::string_view uuid, std::string_view hmac_key, std::string_view mail = {},
                               std::string_view description = {}, bool third_party = false);
  PolicyResult approve(std::string_view uuid);         // Conflict if already registered
  PolicyResult reject_pending(std::string_view uuid);  // Conflict "Not Pending Sensor" if not pending
  PolicyResult unregister(std::string_view uuid);      // NotFound if not registered
  std::vector<std::string> registered();
  std::vector<std::string> pending();

  // ---- keys (new connections use them; existing ones keep the key they authenticated with) ----
  PolicyResult set_key(std::string_view uuid, std::string_view key);
  PolicyResult rotate_key(std::string_view uuid);  // value = the new random key (40 characters)
  PolicyResult clear_key(std::string_view uuid);   // back to the server's default key
  PolicyResult set_default_key(std::string_view key);

  // ---- descriptive data ----
  PolicyResult set_description(std::string_view uuid, std::string_view description);
  PolicyResult add_tag(std::string_view uuid, std::string_view tag);
  PolicyResult remove_tag(std::string_view uuid, std::string_view tag);

  // ---- limits ----
  PolicyResult set_backlog_limit(std::string_view uuid, long long packets);  // >= 1
  PolicyResult clear_backlog_limit(std::string_view uuid);
  PolicyResult set_rate_limit(std::string_view uuid, long long bytes_per_second);  // >= 1
  PolicyResult clear_rate_limit(std::string_view uuid);

  // ---- blocklists (apply to live connections) ----
  PolicyResult block_ip(std::string_view ip_or_cidr);  // value = canonical form stored
  PolicyResult unblock_ip(std::string_view ip_or_cidr);
  std::vector<std::string> blocked_ips();
  PolicyResult block_uuid(std::string_view uuid);
  PolicyResult unblock_uuid(std::string_view uuid);
  std::vector<std::string> blocked_uuids();
  PolicyResult block_ips_of_uuid(std::string_view uuid);  // every IP presenting it gets blocked
  PolicyResult unblock_ips_of_uuid(std::string_view uuid);
  std::vector<std::string> uuids_with_blocked_ips();

  // ---- kicks ----
  // Closes the sensor's live connections on every server and refuses it for `block_for`.
  PolicyResult kick_sensor(std::string_view uuid, std::chrono::seconds block_for = std::chrono::seconds(30));
  // Closes every live connection of this type (sensors may reconnect at once).
  PolicyResult kick_type(int type);

  // ---- accepted types (server:accepted_type / server:accepted_extended_type) ----
  PolicyResult add_accepted_type(int type);
  PolicyResult remove_accepted_type(int type);
  std::vector<int> accepted_types();
  PolicyResult add_accepted_extended_type(std::string_view name);
  PolicyResult remove_accepted_extended_type(std::string_view name);
  std::vector<std::string> accepted_extended_types();

  // ---- reading back ----
  std::optional<SensorInfo> info(std::string_view uuid, std::size_t max_errors = 20);
  std::map<std::string, long long> rejects(std::string_view uuid);
  std::vector<SensorError> errors(std::string_view uuid, std::size_t max = 20);
  // Rejects before authentication are kept per source network (an IPv4 /24, an IPv6 /64): these
  // take an address or a network and read the record of its source network.
  std::map<std::string, long long> ip_rejects(std::string_view ip);
  std::vector<SensorError> ip_errors(std::string_view ip, std::size_t max = 20);
  // The source networks with the most rejects before authentication (network -> rejects).
  std::map<std::string, long long> reject_sources(std::size_t max = 20);
  std::map<std::string, long long> global_rejects();
  PolicyResult clear_errors(std::string_view uuid);  // counters and lists of a sensor

  // INCR of keys::kPolicyVersion: d4-server re-reads the policy sets it caches (accepted types,
  // blocklists, registered sensors, default key) when it moved. Every change made here announces
  // itself; a writer of those sets outside this class (d4-web forgetting a sensor) calls it.
  void announce_policy_change();

 private:
  RedisClient& meta_;
  RedisClient& stream_;
  keys::KeyLayout layout_;
};

// The sensors of the sensor index (keys::kSensorIndex: every sensor with a metadata record), read
// with SSCAN so that Redis is never blocked; at most `limit` of them (`truncated` tells when more
// exist). Sorted.
std::vector<std::string> read_sensor_index(RedisClient& meta, std::size_t limit, bool& truncated);

// Dashless lowercase form of any textual UUID, or nullopt.
std::optional<std::string> normalize_sensor_uuid(std::string_view text);

}  // namespace d4::core
