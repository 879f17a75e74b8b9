#pragma once
// The stdout destination: signs the spooled packets and writes them with writev() straight from
// the spool (header and payload are contiguous there), many packets per system call. The bytes are
// those of the reference C client for the same chunks and timestamps.
#include "client/config.hpp"
#include "client/spool.hpp"
#include "client/stats.hpp"
#include "client/stop.hpp"

namespace d4::client {

// Returns the process exit status (0, or 1 when stdout failed).
int run_stdout_sink(const Settings& settings, Spool& spool, Stats& stats, const StopState& stop, int fd);

// Builds the type-2 packets carrying the meta header (chunked by snaplen).
std::vector<std::uint8_t> metaheader_packets(const Settings& settings, std::uint64_t timestamp);

}  // namespace d4::client
