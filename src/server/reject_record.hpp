#pragma once
// Where a reject is written (through the worker's MetaBatch, flushed to the meta Redis) besides
// its metric. Global counters always (server:rejects, per day). A sensor's own record
// (sensor:rejects, sensor:errors, the reference Error field) only once the peer proved it holds
// the sensor's key: before that, nothing an unauthenticated peer sends may change a sensor's
// record (it could name any UUID), so the reject goes to the record of the peer's source network
// (an IPv4 /24, an IPv6 /64; bounded, see MetaBatch), with the UUID it named in the detail.
#include <string>
#include <string_view>

#include "core/ipnet.hpp"
#include "server/metrics.hpp"

namespace d4::server {

class Worker;

struct RejectSubject {
  const core::IpAddress& address;
  const std::string& ip;          // canonical text of address
  std::string_view session;       // empty for rejects at accept time
  std::string_view sensor;        // the authenticated sensor (dashless UUID), empty before
  std::string_view claimed_uuid;  // the UUID an unauthenticated peer's header named, if any
};

// Sensor-chosen text (an extended type name, a certificate) as it may appear in a reject's detail
// and in the logs: escaped (JSON logs embed messages unescaped) and cut to 200 bytes.
std::string printable(std::string_view s);

void record_reject(Worker& worker, Reject reason, const RejectSubject& who, std::string_view detail);

}  // namespace d4::server
