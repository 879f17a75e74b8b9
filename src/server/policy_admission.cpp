#include "server/policy_admission.hpp"

#include "server/reject_record.hpp"

namespace d4::server {

namespace {

// Decided before anything the peer sent: its address.
std::optional<Refusal> address_refusal(const Policy& p, const SensorClaim& c) {
  if (auto m = p.blocked_ips.match(c.address))
    return Refusal{Reject::blocked_ip, c.ip + " matches blacklist_ip entry " + *m};
  return std::nullopt;
}

// Decided by the UUID and type the peer claims (proven or not yet).
std::optional<Refusal> sensor_refusal(const Policy& p, const SensorClaim& c, AdmissionMoment when) {
  const std::string type_text = std::to_string(c.type);
  if (when == AdmissionMoment::FirstHeader && c.type == 254)
    return Refusal{Reject::first_type_254, "a type 2 packet must be sent before type 254"};
  if (p.uuid_blocked(c.uuid)) return Refusal{Reject::blocked_uuid, "uuid " + c.uuid + " is blocked"};
  if (!p.is_registered(c.uuid))
    return Refusal{Reject::unregistered,
                   "uuid " + c.uuid +
                       (when == AdmissionMoment::FirstHeader ? " is not registered (registration mode)"
                                                             : " is no longer registered")};
  if (auto it = p.uuid_kicks.find(c.uuid); it != p.uuid_kicks.end() && it->second >= c.started_ms)
    return Refusal{Reject::kicked, "sensor kicked by an operator"};
  if (auto it = p.type_kicks.find(c.type); it != p.type_kicks.end() && it->second >= c.started_ms)
    return Refusal{Reject::kicked, "every sensor of type " + type_text + " kicked by an operator"};
  return std::nullopt;
}

// Decided for a session that stores data: what it sends must still be wanted.
std::optional<Refusal> stream_refusal(const Policy& p, const SensorClaim& c) {
  if (!p.accepted_types.test(c.type))
    return Refusal{Reject::type_not_accepted, "type " + std::to_string(c.type) + " is no longer accepted"};
  if (c.extended_type && !p.accepted_extended_types.count(*c.extended_type))
    return Refusal{Reject::extended_type_not_accepted,
                   "extended type \"" + printable(*c.extended_type) + "\" is no longer accepted"};
  if (p.incorrect_sessions.count(c.session_id))
    return Refusal{Reject::incorrect_type,
                   "a worker could not parse this session's data (Error:IncorrectType)"};
  return std::nullopt;
}

}  // namespace

AdmissionVerdict check_admission(const Policy& p, const SensorClaim& c, AdmissionMoment when) {
  AdmissionVerdict v;
  // At the first header the address was checked at accept time, against the same snapshot.
  if (when == AdmissionMoment::PolicyRefresh) v.refusal = address_refusal(p, c);
  if (v.refusal || !c.header_seen) return v;
  // The only check written for blacklist_ip_by_uuid: the session blocks the address once verified.
  v.block_peer_by_uuid = p.uuid_ips_blocked(c.uuid);
  v.refusal = sensor_refusal(p, c, when);
  if (!v.refusal && c.identified) v.refusal = stream_refusal(p, c);
  return v;
}

}  // namespace d4::server
