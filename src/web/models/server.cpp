// Read model of the server's settings.
#include "web/models/server.hpp"

#include <algorithm>

#include "core/keys.hpp"
#include "core/sensors.hpp"

namespace d4::web::models {

namespace keys = core::keys;

namespace {
std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}
constexpr std::string_view kReferenceDefaultKey = "private key to change";

std::map<std::string, long long> counts(const core::RedisReply& r) {
  std::map<std::string, long long> m;
  for (auto& [k, v] : hash_pairs(r)) m[k] = to_ll(v);
  return m;
}

// From the replies of HGETALL server:rejects, HGETALL of today's, ZREVRANGE ... WITHSCORES and
// ZCARD of server:reject_sources, HGETALL server:backpressure.
Refusals refusals_of(const core::RedisReply* r) {
  Refusals f;
  f.all_time = counts(r[0]);
  f.today = counts(r[1]);
  for (auto& [network, n] : scored(r[2])) f.top_sources.push_back({network, n});
  f.ranked_sources = r[3].integer;
  f.backpressure = counts(r[4]);
  return f;
}
}  // namespace

ServerView Server::view(const Scope& scope) {
  auto r = meta_.pipeline({{"GET", std::string(keys::kDefaultHmacKey)},
                           {"GET", std::string(keys::kServerMode)},
                           {"SCARD", std::string(keys::kRegisteredUuids)},
                           {"SCARD", std::string(keys::kPendingRegistrations)},
                           {"SCARD", std::string(keys::kBlocklistIp)},
                           {"SCARD", std::string(keys::kBlocklistUuid)},
                           {"SMEMBERS", std::string(keys::kBlocklistIpByUuid)},
                           {"GET", std::string(keys::kFirstDate)},
                           {"HGETALL", std::string(keys::kServerRejects)},
                           {"HGETALL", keys::daily_rejects(today())},
                           {"ZREVRANGE", std::string(keys::kRejectSources), "0",
                            std::to_string(kTopRefusedSources - 1), "WITHSCORES"},
                           {"ZCARD", std::string(keys::kRejectSources)},
                           {"HGETALL", std::string(keys::kServerBackpressure)}});
  ServerView v;
  auto key = r[0].as_string();
  v.default_key.set = key.has_value();
  v.default_key.is_reference_default = key && *key == kReferenceDefaultKey;
  v.default_key.status = !key                                 ? "missing"
                         : v.default_key.is_reference_default ? "reference default (change it)"
                                                              : "set";
  v.pending = sorted(policy_.pending());
  v.registered = sorted(policy_.registered());
  v.accepted_extended_types = sorted(policy_.accepted_extended_types());
  v.ips_blocked_by_uuid = sorted(r[6].as_strings());
  v.mode = r[1].as_string().value_or(default_mode_);
  v.registered_count = r[2].integer;
  v.pending_count = r[3].integer;
  v.blocked_ip_count = r[4].integer;
  v.blocked_uuid_count = r[5].integer;
  v.first_date = r[7].as_string().value_or("");
  v.accepted_types = policy_.accepted_types();
  v.refusals = refusals_of(&r[8]);
  if (!scope.unrestricted()) {
    v.pending = scope.covered(std::move(v.pending));
    v.registered = scope.covered(std::move(v.registered));
    v.ips_blocked_by_uuid = scope.covered(std::move(v.ips_blocked_by_uuid));
    v.registered_count = static_cast<long long>(v.registered.size());
    v.pending_count = static_cast<long long>(v.pending.size());
    v.blocked_uuid_count = static_cast<long long>(scope.covered(policy_.blocked_uuids()).size());
    v.refusals = Refusals{};
  }
  return v;
}

Blocklist Server::blocklist(BlocklistKind kind, const std::string& filter, long long page, long long per_page,
                            const Scope& scope) {
  auto all =
      sorted(kind == BlocklistKind::Ips ? policy_.blocked_ips() : scope.covered(policy_.blocked_uuids()));
  std::vector<std::string> hits;
  for (auto& e : all)
    if (filter.empty() || e.find(filter) != std::string::npos) hits.push_back(e);
  return page_of(std::move(hits), page, per_page);
}

}  // namespace d4::web::models
