#pragma once
// Read model of the server's settings (/server, /api/v1/server...): mode, default key,
// registrations, accepted types and the blocklists.
#include <map>
#include <string>
#include <vector>

#include "core/redis_client.hpp"
#include "web/auth/scope.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"

namespace d4::web::models {

struct DefaultKeyState {
  std::string status;  // "missing", "reference default (change it)" or "set"
  bool set = false;
  bool is_reference_default = false;
};
D4_VIEW_TO_JSON(DefaultKeyState, status, set, is_reference_default)

// The source networks ranked by refusals before authentication that the server page lists.
inline constexpr long long kTopRefusedSources = 20;

// A source network refused before authentication, as d4-server ranks them.
struct RefusedSource {
  std::string network;  // an IPv4 /24 or an IPv6 /64
  long long rejects = 0;
};
D4_VIEW_TO_JSON(RefusedSource, network, rejects)

// What d4-server refused, by reason (all time and today, including the refusals before
// authentication, which no sensor's page shows), the source networks refused most before
// authentication (its bounded ranking, highest first) and the back-pressure that held sensors.
struct Refusals {
  std::map<std::string, long long> all_time, today;  // reason -> refusals
  std::vector<RefusedSource> top_sources;            // at most kTopRefusedSources
  long long ranked_sources = 0;                      // networks in d4-server's ranking
  std::map<std::string, long long> backpressure;     // cause -> times a session was held
};
D4_VIEW_TO_JSON(Refusals, all_time, today, top_sources, ranked_sources, backpressure)

struct ServerView {
  std::string mode;
  DefaultKeyState default_key;
  long long registered_count = 0, pending_count = 0;
  std::vector<std::string> registered, pending;  // sorted
  long long blocked_ip_count = 0, blocked_uuid_count = 0;
  std::vector<std::string> ips_blocked_by_uuid;  // sensors whose IPs get blocked, sorted
  std::string first_date;
  std::vector<int> accepted_types;
  std::vector<std::string> accepted_extended_types;  // sorted
  Refusals refusals;
};
D4_VIEW_TO_JSON(ServerView, mode, default_key, registered_count, pending_count, registered, pending,
                blocked_ip_count, blocked_uuid_count, ips_blocked_by_uuid, first_date, accepted_types,
                accepted_extended_types, refusals)

// A page of a blocklist (IPs and networks, or sensor UUIDs), sorted, filtered by a substring.
using Blocklist = Page<std::string>;
enum class BlocklistKind { Ips, Uuids };

class Server {
 public:
  // `default_mode`: the mode shown when d4-server has not written it ([server] mode).
  Server(Db& db, const WebConfig& c) : meta_(db.meta), policy_(db.policy), default_mode_(c.server_mode) {}

  // A restricted scope sees its own sensors among the registrations and the UUID blocklist, and
  // none of the server-wide refusal counters (they count every organisation's sensors).
  ServerView view(const Scope& scope);
  Blocklist blocklist(BlocklistKind kind, const std::string& filter, long long page, long long per_page,
                      const Scope& scope);

 private:
  core::RedisClient& meta_;
  core::SensorPolicy& policy_;
  std::string default_mode_;
};

}  // namespace d4::web::models
