#include "server/reject_record.hpp"

#include "core/keys.hpp"
#include "core/logging.hpp"
#include "core/sensors.hpp"
#include "protocol/clock.hpp"
#include "server/worker.hpp"

namespace d4::server {

namespace keys = core::keys;

std::string printable(std::string_view s) {
  return core::json_escape(s.substr(0, 200));
}

void record_reject(Worker& worker, Reject reason, const RejectSubject& who, std::string_view detail) {
  auto& m = worker.metrics();
  m.rejects[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  std::string name(reject_name(reason));
  auto& batch = worker.meta_batch();
  batch.incr(keys::kServerRejects, name);
  batch.incr(keys::daily_rejects(worker.today()), name);
  const std::size_t cap = worker.runtime().error_list_size;
  const long long now = clock::unix_seconds();
  if (!who.sensor.empty()) {
    batch.incr(keys::sensor_rejects(who.sensor), name);
    batch.push_capped(keys::sensor_errors(who.sensor),
                      core::format_sensor_error(now, name, detail, who.ip, "server", who.session), cap);
    batch.set_field(keys::sensor_metadata(who.sensor), "Error", reference_error_text(reason, detail));
    return;
  }
  std::string text(detail);
  if (!who.claimed_uuid.empty() && text.find(who.claimed_uuid) == std::string::npos)
    text = "uuid " + std::string(who.claimed_uuid) + ": " + text;
  std::string entry = core::format_sensor_error(now, name, text, who.ip, "server", who.session);
  if (!batch.count_source_reject(core::source_network(who.address).to_string(), name, std::move(entry), cap))
    m.reject_details_dropped.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace d4::server
