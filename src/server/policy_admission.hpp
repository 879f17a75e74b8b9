#pragma once
// Whether the sensor policy admits a connection: checked once with the connection's first header
// and again with every policy snapshot while it lives (operators' blocks, kicks, registrations
// and accepted types apply without a restart). One function for both moments, so that the two
// can never disagree; it only decides, the session acts on the verdict.
#include <cstdint>
#include <optional>
#include <string>

#include "core/ipnet.hpp"
#include "server/metrics.hpp"
#include "server/policy.hpp"

namespace d4::server {

enum class AdmissionMoment { FirstHeader, PolicyRefresh };

// What the policy is asked about: the peer and, once a header was read, the sensor it claims.
struct SensorClaim {
  const core::IpAddress& address;
  const std::string& ip;  // canonical text of address
  const std::string& session_id;
  long long started_ms = 0;  // wall clock at accept, compared with kick times
  bool header_seen = false;  // uuid and type are known
  bool identified = false;   // the session is recorded in Redis and storing
  const std::string& uuid;   // dashless lowercase
  std::uint8_t type = 0;
  const std::string* extended_type = nullptr;  // after the switch to type 254
};

struct Refusal {
  Reject reason;
  std::string detail;
};

struct AdmissionVerdict {
  std::optional<Refusal> refusal;
  // The UUID is in blacklist_ip_by_uuid: the peer's address is to be blocked once the peer
  // proved it holds the sensor's key (and the connection refused then).
  bool block_peer_by_uuid = false;
};

AdmissionVerdict check_admission(const Policy& policy, const SensorClaim& claim, AdmissionMoment when);

}  // namespace d4::server
