#include "client/stats.hpp"

namespace d4::client {

std::string Stats::line(std::uint64_t spool_memory, std::uint64_t spool_disk, bool network) const {
  auto v = [](const std::atomic<std::uint64_t>& a) {
    return std::to_string(a.load(std::memory_order_relaxed));
  };
  std::string s = "stats: read=" + v(bytes_read) + "B queued=" + v(packets_queued) +
                  " sent=" + v(packets_sent) + " payload=" + v(bytes_sent) + "B wire=" + v(wire_bytes) + "B";
  if (network)
    s += " acked=" + v(packets_acked) + " resent=" + v(packets_resent) + " connections=" + v(connections) +
         " connect_failures=" + v(connect_failures) + " disconnects=" + v(disconnects);
  s += " dropped=" + v(packets_dropped) + "/" + v(bytes_dropped) +
       "B spool_mem=" + std::to_string(spool_memory) + "B spool_disk=" + std::to_string(spool_disk) + "B";
  return s;
}

}  // namespace d4::client
