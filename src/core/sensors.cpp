#include "core/sensors.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/ipnet.hpp"
#include "core/keys.hpp"
#include "protocol/clock.hpp"
#include "protocol/uuid.hpp"

namespace d4::core {
namespace {

using Code = PolicyResult::Code;

PolicyResult invalid_uuid() {
  return PolicyResult::fail(Code::Invalid, "Invalid uuid");
}

std::optional<long long> to_ll(const RedisReply& r) {
  return r.as_integer();
}

std::map<std::string, long long> hash_counts(const RedisReply& r) {
  std::map<std::string, long long> out;
  auto v = r.as_strings();
  for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
    long long n = 0;
    std::from_chars(v[i + 1].data(), v[i + 1].data() + v[i + 1].size(), n);
    out[v[i]] = n;
  }
  return out;
}

std::vector<SensorError> parse_list(const RedisReply& r) {
  std::vector<SensorError> out;
  for (const auto& s : r.as_strings()) out.push_back(parse_sensor_error(s));
  return out;
}

// A key must be usable by every client: non-empty, no NUL (the C client uses strlen) and no
// trailing newline (clients strip the last one from their key file).
std::optional<std::string> check_key(std::string_view key) {
  if (key.empty()) return "the key must not be empty";
  if (key.find('\0') != std::string_view::npos) return "the key must not contain NUL bytes";
  if (key.back() == '\n' || key.back() == '\r') return "the key must not end with a newline";
  if (key.size() > 4096) return "the key is longer than 4096 bytes";
  return std::nullopt;
}

std::string random_key(std::size_t n) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  while (out.size() < n) {
    unsigned char buf[64];
    if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("RAND_bytes failed");
    for (unsigned char b : buf) {
      // Rejection sampling: 248 = 4 * 62 keeps the mapping unbiased.
      if (b < 248 && out.size() < n) out += kAlphabet[b % kAlphabet.size()];
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> read_sensor_index(RedisClient& meta, std::size_t limit, bool& truncated) {
  std::vector<std::string> out;
  truncated = false;
  std::string cursor = "0";
  do {
    auto r = meta.command({"SSCAN", keys::kSensorIndex, cursor, "COUNT", "1000"});
    if (r.is_error() || r.elements.size() != 2) throw RedisError("SSCAN sensor:index: unexpected reply");
    cursor = r.elements[0].str;
    for (auto& u : r.elements[1].as_strings()) {
      if (out.size() >= limit) {
        truncated = true;
        cursor = "0";
        break;
      }
      out.push_back(std::move(u));
    }
  } while (cursor != "0");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());  // SSCAN may return a member twice
  return out;
}

std::optional<ServerMode> parse_server_mode(std::string_view text) {
  if (text == "registration") return ServerMode::Registration;
  if (text == "shared-secret") return ServerMode::SharedSecret;
  return std::nullopt;
}

std::string_view to_string(ServerMode m) {
  return m == ServerMode::Registration ? "registration" : "shared-secret";
}

std::optional<std::string> normalize_sensor_uuid(std::string_view text) {
  return protocol::normalize_uuid(text);
}

SensorError parse_sensor_error(std::string_view text) {
  SensorError e;
  e.raw = std::string(text);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    e.reason = "unknown";
    e.detail = e.raw;
    return e;
  }
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  if (j.contains("time") && j["time"].is_number()) e.time = j["time"].get<long long>();
  e.reason = str("reason");
  e.detail = str("detail");
  e.ip = str("ip");
  e.source = str("source");
  e.session = str("session");
  return e;
}

std::string format_sensor_error(long long time, std::string_view reason, std::string_view detail,
                                std::string_view ip, std::string_view source, std::string_view session) {
  nlohmann::json j;
  j["time"] = time;
  j["reason"] = reason;
  j["detail"] = detail;
  if (!ip.empty()) j["ip"] = ip;
  j["source"] = source;
  if (!session.empty()) j["session"] = session;
  // Sensor-supplied bytes never reach this text unescaped; invalid UTF-8 is replaced.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// ---- registration ----
PolicyResult SensorPolicy::register_sensor(std::string_view uuid_text, std::string_view hmac_key,
                                           std::string_view mail, std::string_view description,
                                           bool third_party) {
  auto parsed = protocol::Uuid::parse(uuid_text);
  if (!parsed || !parsed->is_v4()) return invalid_uuid();
  if (hmac_key.empty()) return PolicyResult::fail(Code::Invalid, "Mandatory parameter(s) not provided");
  if (auto why = check_key(hmac_key)) return PolicyResult::fail(Code::Invalid, *why);
  std::string uuid = parsed->dashless();
  std::string meta = keys::sensor_metadata(uuid);
  if (meta_.command({"EXISTS", meta}).integer != 0)
    return PolicyResult::fail(Code::Conflict, "Sensor already registered");
  std::vector<std::vector<std::string>> cmds;
  cmds.push_back({"HSET", meta, "hmac_key", std::string(hmac_key)});
  if (!mail.empty()) cmds.push_back({"HSET", meta, "user_mail", std::string(mail)});
  if (!description.empty()) cmds.push_back({"HSET", meta, "description", std::string(description)});
  if (third_party) cmds.push_back({"HSET", meta, "third_party", "True"});
  cmds.push_back({"SADD", std::string(keys::kPendingRegistrations), uuid});
  cmds.push_back({"SADD", std::string(keys::kSensorIndex), uuid});
  for (const auto& r : meta_.pipeline(cmds))
    if (r.is_error()) throw RedisError("register_sensor: " + r.str);
  return PolicyResult::ok(uuid);
}

PolicyResult SensorPolicy::approve(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  if (meta_.command({"SISMEMBER", keys::kRegisteredUuids, *uuid}).integer == 1)
    return PolicyResult::fail(Code::Conflict, "Sensor already registered");
  meta_.command_ok({"SADD", keys::kRegisteredUuids, *uuid});
  meta_.command_ok({"SREM", keys::kPendingRegistrations, *uuid});
  announce_policy_change();
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::reject_pending(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  if (meta_.command_ok({"SREM", keys::kPendingRegistrations, *uuid}).integer == 0)
    return PolicyResult::fail(Code::Conflict, "Not Pending Sensor");
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::unregister(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  if (meta_.command_ok({"SREM", keys::kRegisteredUuids, *uuid}).integer == 0)
    return PolicyResult::fail(Code::NotFound, "Sensor not registered");
  announce_policy_change();
  return PolicyResult::ok(*uuid);
}

std::vector<std::string> SensorPolicy::registered() {
  auto v = meta_.command_ok({"SMEMBERS", keys::kRegisteredUuids}).as_strings();
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> SensorPolicy::pending() {
  auto v = meta_.command_ok({"SMEMBERS", keys::kPendingRegistrations}).as_strings();
  std::sort(v.begin(), v.end());
  return v;
}

// ---- keys ----
PolicyResult SensorPolicy::set_key(std::string_view uuid_text, std::string_view key) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  if (auto why = check_key(key)) return PolicyResult::fail(Code::Invalid, *why);
  meta_.command_ok({"HSET", keys::sensor_metadata(*uuid), "hmac_key", key});
  meta_.command_ok({"SADD", keys::kSensorIndex, *uuid});
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::rotate_key(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  std::string key = random_key(40);
  meta_.command_ok({"HSET", keys::sensor_metadata(*uuid), "hmac_key", key});
  meta_.command_ok({"SADD", keys::kSensorIndex, *uuid});
  return PolicyResult::ok(key);
}

PolicyResult SensorPolicy::clear_key(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  meta_.command_ok({"HDEL", keys::sensor_metadata(*uuid), "hmac_key"});
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::set_default_key(std::string_view key) {
  if (auto why = check_key(key)) return PolicyResult::fail(Code::Invalid, *why);
  meta_.command_ok({"SET", keys::kDefaultHmacKey, key});
  announce_policy_change();
  return PolicyResult::ok();
}

// ---- descriptive data ----
PolicyResult SensorPolicy::set_description(std::string_view uuid_text, std::string_view description) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  meta_.command_ok({"HSET", keys::sensor_metadata(*uuid), "description", description});
  meta_.command_ok({"SADD", keys::kSensorIndex, *uuid});
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::add_tag(std::string_view uuid_text, std::string_view tag) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  if (tag.empty() || tag.size() > 200)
    return PolicyResult::fail(Code::Invalid, "a tag has 1 to 200 characters");
  meta_.command_ok({"SADD", keys::sensor_tags(*uuid), tag});
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::remove_tag(std::string_view uuid_text, std::string_view tag) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  if (meta_.command_ok({"SREM", keys::sensor_tags(*uuid), tag}).integer == 0)
    return PolicyResult::fail(Code::NotFound, "no such tag");
  return PolicyResult::ok(*uuid);
}

// ---- limits ----
PolicyResult SensorPolicy::set_backlog_limit(std::string_view uuid_text, long long packets) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  // The reference treats a stored 0 as "no value" and then refuses every packet; never store it.
  if (packets < 1) return PolicyResult::fail(Code::Invalid, "the backlog limit must be at least 1 packet");
  meta_.command_ok({"HSET", keys::kStreamMaxSizeByUuid, *uuid, std::to_string(packets)});
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::clear_backlog_limit(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  meta_.command_ok({"HDEL", keys::kStreamMaxSizeByUuid, *uuid});
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::set_rate_limit(std::string_view uuid_text, long long bytes_per_second) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  if (bytes_per_second < 1)
    return PolicyResult::fail(Code::Invalid, "the rate limit must be at least 1 byte/s");
  meta_.command_ok({"HSET", keys::kRateLimitByUuid, *uuid, std::to_string(bytes_per_second)});
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::clear_rate_limit(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  meta_.command_ok({"HDEL", keys::kRateLimitByUuid, *uuid});
  return PolicyResult::ok(*uuid);
}

// ---- blocklists ----
PolicyResult SensorPolicy::block_ip(std::string_view text) {
  std::string err;
  auto net = IpNetwork::parse(text, &err);
  if (!net) return PolicyResult::fail(Code::Invalid, err);
  std::string canonical = net->to_string();
  meta_.command_ok({"SADD", keys::kBlocklistIp, canonical});
  announce_policy_change();
  return PolicyResult::ok(canonical);
}

PolicyResult SensorPolicy::unblock_ip(std::string_view text) {
  std::string err;
  auto net = IpNetwork::parse(text, &err);
  // Entries written by other tools may not be canonical: remove the text as given too.
  long long removed = meta_.command_ok({"SREM", keys::kBlocklistIp, text}).integer;
  if (net) removed += meta_.command_ok({"SREM", keys::kBlocklistIp, net->to_string()}).integer;
  if (removed == 0) return PolicyResult::fail(Code::NotFound, "not in the IP blocklist");
  announce_policy_change();
  return PolicyResult::ok(net ? net->to_string() : std::string(text));
}

std::vector<std::string> SensorPolicy::blocked_ips() {
  auto v = meta_.command_ok({"SMEMBERS", keys::kBlocklistIp}).as_strings();
  std::sort(v.begin(), v.end());
  return v;
}

PolicyResult SensorPolicy::block_uuid(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  if (meta_.command_ok({"SADD", keys::kBlocklistUuid, *uuid}).integer == 0)
    return PolicyResult::fail(Code::Conflict, "already blocked");
  announce_policy_change();
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::unblock_uuid(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  // Also drop entries the reference UI stored as typed (dashed).
  long long removed = meta_.command_ok({"SREM", keys::kBlocklistUuid, *uuid}).integer;
  if (uuid_text != *uuid) removed += meta_.command_ok({"SREM", keys::kBlocklistUuid, uuid_text}).integer;
  if (removed == 0) return PolicyResult::fail(Code::NotFound, "not blocked");
  announce_policy_change();
  return PolicyResult::ok(*uuid);
}

std::vector<std::string> SensorPolicy::blocked_uuids() {
  auto v = meta_.command_ok({"SMEMBERS", keys::kBlocklistUuid}).as_strings();
  std::sort(v.begin(), v.end());
  return v;
}

PolicyResult SensorPolicy::block_ips_of_uuid(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  if (meta_.command_ok({"SADD", keys::kBlocklistIpByUuid, *uuid}).integer == 0)
    return PolicyResult::fail(Code::Conflict, "already blocked");
  announce_policy_change();
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::unblock_ips_of_uuid(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  long long removed = meta_.command_ok({"SREM", keys::kBlocklistIpByUuid, *uuid}).integer;
  if (uuid_text != *uuid) removed += meta_.command_ok({"SREM", keys::kBlocklistIpByUuid, uuid_text}).integer;
  if (removed == 0) return PolicyResult::fail(Code::NotFound, "not blocked");
  announce_policy_change();
  return PolicyResult::ok(*uuid);
}

std::vector<std::string> SensorPolicy::uuids_with_blocked_ips() {
  auto v = meta_.command_ok({"SMEMBERS", keys::kBlocklistIpByUuid}).as_strings();
  std::sort(v.begin(), v.end());
  return v;
}

// ---- kicks ----
PolicyResult SensorPolicy::kick_sensor(std::string_view uuid_text, std::chrono::seconds block_for) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  // The temporary block first, so a sensor reconnecting between the two writes is refused.
  if (block_for.count() > 0)
    stream_.command_ok({"SET", keys::live(layout_, keys::temp_blocklist_uuid(*uuid)), "1", "EX",
                        std::to_string(block_for.count())});
  stream_.command_ok(
      {"ZADD", keys::live(layout_, keys::kKicks), std::to_string(clock::unix_millis()), "uuid:" + *uuid});
  return PolicyResult::ok(*uuid);
}

PolicyResult SensorPolicy::kick_type(int type) {
  if (type < 0 || type > 255) return PolicyResult::fail(Code::Invalid, "a type is 0..255");
  stream_.command_ok({"ZADD", keys::live(layout_, keys::kKicks), std::to_string(clock::unix_millis()),
                      "type:" + std::to_string(type)});
  return PolicyResult::ok(std::to_string(type));
}

// ---- accepted types ----
PolicyResult SensorPolicy::add_accepted_type(int type) {
  if (type < 1 || type > 254) return PolicyResult::fail(Code::Invalid, "Invalid type");
  meta_.command_ok({"SADD", keys::kAcceptedTypes, std::to_string(type)});
  announce_policy_change();
  return PolicyResult::ok(std::to_string(type));
}

PolicyResult SensorPolicy::remove_accepted_type(int type) {
  if (meta_.command_ok({"SREM", keys::kAcceptedTypes, std::to_string(type)}).integer == 0)
    return PolicyResult::fail(Code::NotFound, "type not accepted");
  announce_policy_change();
  return PolicyResult::ok(std::to_string(type));
}

std::vector<int> SensorPolicy::accepted_types() {
  std::vector<int> out;
  for (const auto& s : meta_.command_ok({"SMEMBERS", keys::kAcceptedTypes}).as_strings()) {
    int t = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), t);
    if (ec == std::errc() && p == s.data() + s.size()) out.push_back(t);
  }
  std::sort(out.begin(), out.end());
  return out;
}

PolicyResult SensorPolicy::add_accepted_extended_type(std::string_view name) {
  // Same rule as the meta-header parser: the name becomes a key part and a directory name.
  bool ok = !name.empty() && name.size() <= 64 && name.front() != '.' &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '_' || c == '-';
            });
  if (!ok) return PolicyResult::fail(Code::Invalid, "Invalid extended type");
  meta_.command_ok({"SADD", keys::kAcceptedExtendedTypes, name});
  announce_policy_change();
  return PolicyResult::ok(std::string(name));
}

PolicyResult SensorPolicy::remove_accepted_extended_type(std::string_view name) {
  if (meta_.command_ok({"SREM", keys::kAcceptedExtendedTypes, name}).integer == 0)
    return PolicyResult::fail(Code::NotFound, "extended type not accepted");
  announce_policy_change();
  return PolicyResult::ok(std::string(name));
}

std::vector<std::string> SensorPolicy::accepted_extended_types() {
  auto v = meta_.command_ok({"SMEMBERS", keys::kAcceptedExtendedTypes}).as_strings();
  std::sort(v.begin(), v.end());
  return v;
}

// ---- reading back ----
std::optional<SensorInfo> SensorPolicy::info(std::string_view uuid_text, std::size_t max_errors) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return std::nullopt;
  const std::string& u = *uuid;
  std::string last = std::to_string(max_errors == 0 ? 0 : static_cast<long long>(max_errors) - 1);
  auto m = meta_.pipeline({
      {"HGETALL", keys::sensor_metadata(u)},                       // 0
      {"SISMEMBER", std::string(keys::kRegisteredUuids), u},       // 1
      {"SISMEMBER", std::string(keys::kPendingRegistrations), u},  // 2
      {"SISMEMBER", std::string(keys::kBlocklistUuid), u},         // 3
      {"SISMEMBER", std::string(keys::kBlocklistIpByUuid), u},     // 4
      {"SMEMBERS", keys::sensor_tags(u)},                          // 5
      {"HGET", std::string(keys::kStreamMaxSizeByUuid), u},        // 6
      {"HGET", std::string(keys::kRateLimitByUuid), u},            // 7
      {"SMEMBERS", keys::sensor_all_types(u)},                     // 8
      {"LRANGE", keys::sensor_last_ips(u), "0", "-1"},             // 9
      {"HGETALL", keys::sensor_rejects(u)},                        // 10
      {"LRANGE", keys::sensor_errors(u), "0", last},               // 11
      {"LRANGE", keys::sensor_unauth_errors(u), "0", last},        // 12
      {"HGETALL", keys::sensor_backpressure(u)},                   // 13
  });
  auto s = stream_.pipeline({
      {"EXISTS", keys::live(layout_, keys::temp_blocklist_uuid(u))},          // 0
      {"SMEMBERS", keys::live(layout_, keys::active_connection_by_uuid(u))},  // 1
      {"HGET", keys::live(layout_, keys::kBacklogBytesBySensor), u},          // 2
  });
  for (const auto& r : m)
    if (r.is_error()) throw RedisError("sensor info: " + r.str);
  SensorInfo info;
  info.uuid = u;
  auto meta = m[0].as_strings();
  for (std::size_t i = 0; i + 1 < meta.size(); i += 2) {
    const auto& k = meta[i];
    const auto& v = meta[i + 1];
    long long n = 0;
    bool num = std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc();
    if (k == "first_seen" && num)
      info.first_seen = n;
    else if (k == "last_seen" && num)
      info.last_seen = n;
    else if (k == "description")
      info.description = v;
    else if (k == "Error")
      info.error = v;
    else if (k == "user_mail")
      info.user_mail = v;
    else if (k == "third_party")
      info.third_party = !v.empty();
    else if (k == "hmac_key")
      info.has_own_key = true;
  }
  info.registered = m[1].integer == 1;
  info.pending = m[2].integer == 1;
  info.blocked = m[3].integer == 1;
  info.ips_blocked = m[4].integer == 1;
  info.tags = m[5].as_strings();
  std::sort(info.tags.begin(), info.tags.end());
  info.backlog_limit = to_ll(m[6]);
  info.rate_limit = to_ll(m[7]);
  info.types = m[8].as_strings();
  std::sort(info.types.begin(), info.types.end());
  info.last_ips = m[9].as_strings();
  info.rejects = hash_counts(m[10]);
  if (max_errors > 0) {
    info.errors = parse_list(m[11]);
    info.unauthenticated_errors = parse_list(m[12]);
  }
  info.backpressure = hash_counts(m[13]);
  info.backlog_bytes = to_ll(s[2]).value_or(0);
  info.temp_blocked = s[0].integer == 1;
  info.connected_types = s[1].as_strings();
  std::sort(info.connected_types.begin(), info.connected_types.end());
  return info;
}

std::map<std::string, long long> SensorPolicy::rejects(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return {};
  return hash_counts(meta_.command_ok({"HGETALL", keys::sensor_rejects(*uuid)}));
}

std::vector<SensorError> SensorPolicy::errors(std::string_view uuid_text, std::size_t max) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid || max == 0) return {};
  return parse_list(meta_.command_ok({"LRANGE", keys::sensor_errors(*uuid), "0", std::to_string(max - 1)}));
}

std::map<std::string, long long> SensorPolicy::ip_rejects(std::string_view ip) {
  return hash_counts(
      meta_.command_ok({"HGETALL", keys::ip_rejects(layout_, source_network_text(normalize_ip_text(ip)))}));
}

std::map<std::string, long long> SensorPolicy::reject_sources(std::size_t max) {
  if (max == 0) return {};
  return hash_counts(
      meta_.command_ok({"ZREVRANGE", keys::kRejectSources, "0", std::to_string(max - 1), "WITHSCORES"}));
}

std::vector<SensorError> SensorPolicy::ip_errors(std::string_view ip, std::size_t max) {
  if (max == 0) return {};
  return parse_list(
      meta_.command_ok({"LRANGE", keys::ip_errors(layout_, source_network_text(normalize_ip_text(ip))), "0",
                        std::to_string(max - 1)}));
}

std::map<std::string, long long> SensorPolicy::global_rejects() {
  return hash_counts(meta_.command_ok({"HGETALL", keys::kServerRejects}));
}

PolicyResult SensorPolicy::clear_errors(std::string_view uuid_text) {
  auto uuid = normalize_sensor_uuid(uuid_text);
  if (!uuid) return invalid_uuid();
  // One DEL per key: on a Redis Cluster they lie in different slots.
  for (const auto& r : meta_.pipeline({{"DEL", keys::sensor_rejects(*uuid)},
                                       {"DEL", keys::sensor_errors(*uuid)},
                                       {"DEL", keys::sensor_unauth_errors(*uuid)},
                                       {"DEL", keys::sensor_backpressure(*uuid)}}))
    if (r.is_error()) throw RedisError("clear_errors: " + r.str);
  meta_.command_ok({"HDEL", keys::sensor_metadata(*uuid), "Error"});
  return PolicyResult::ok(*uuid);
}

// Servers of the cluster layout read the policy sets again only when the version moves
// (keys::kPolicyVersion); the reference layout's read them every refresh anyway.
void SensorPolicy::announce_policy_change() {
  meta_.command_ok({"INCR", keys::kPolicyVersion});
}

}  // namespace d4::core
