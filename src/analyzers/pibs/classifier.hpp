#pragma once
// PIBS, Passive Identification of BackScatter. The rule of analyzer-d4-pibs, applied per packet
// in capture order:
//   * a TCP packet whose flags byte is exactly SYN (0x02) marks its source as a normal client;
//   * any other TCP packet from a source that never sent such a pure SYN is potential backscatter:
//     a host answering (SYN-ACK, RST, ...) connection attempts made with its address spoofed,
//     i.e. the victim of a spoofed-source DDoS.
// Extensions: IPv6 and every link type of the packet library (VLAN, SLL, raw IP), IP options
// (the reference assumed a 20-byte IPv4 header), bounds checks, and an optional window after
// which a SYN sender is forgotten (0 = never, the reference behaviour). The SYN table's memory is
// capped (`max_table_bytes`, half for each address family, so a spoofed IPv6 flood cannot take the
// IPv4 senders' room); past it the oldest senders are evicted and counted.
#include <cstdint>
#include <map>
#include <string>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "analyzers/pibs/syn_table.hpp"

namespace d4::analyzers::pibs {

enum class Verdict : std::uint8_t {
  NotTcp,       // decoded, but not TCP (or not IP)
  Undecodable,  // truncated/malformed frame, non-first fragment, unknown link type
  Syn,          // pure SYN: source recorded as a client
  Normal,       // from a known client
  Backscatter,
};

struct ClassifierOptions {
  std::int64_t syn_window_seconds = 0;  // 0: a SYN sender is remembered forever
  bool ipv6 = true;
  std::size_t max_table_bytes = std::size_t{512} << 20;  // both SYN tables together
};

struct ClassifierStats {
  std::uint64_t frames = 0;
  std::uint64_t tcp = 0;
  std::uint64_t syn = 0;
  std::uint64_t normal = 0;
  std::uint64_t backscatter = 0;
  std::uint64_t expired_senders = 0;                 // SYN senders forgotten by the window
  std::uint64_t evicted_senders = 0;                 // SYN senders evicted by the memory cap
  std::map<std::string, std::uint64_t> undecodable;  // by reason
};

class Classifier {
 public:
  explicit Classifier(ClassifierOptions options = {});

  // Classifies a frame; `packet` receives the decoded headers (valid for Syn/Normal/Backscatter).
  Verdict classify(const packet::Frame& frame, packet::Packet& packet);
  // Classifies an already decoded TCP packet seen at `ts_seconds`.
  Verdict classify_tcp(const packet::Packet& packet, std::int64_t ts_seconds);

  const ClassifierStats& stats() const { return stats_; }
  std::size_t known_clients() const { return v4_.size() + v6_.size(); }
  std::size_t table_bytes() const { return v4_.memory_bytes() + v6_.memory_bytes(); }
  std::size_t table_max_bytes() const { return options_.max_table_bytes; }

 private:
  ClassifierOptions options_;
  ClassifierStats stats_;
  SynTable<std::uint32_t> v4_;
  SynTable<std::array<std::uint8_t, 16>> v6_;
  std::int64_t last_sweep_ = 0;
};

// Names of a TCP flags byte used in the per-victim flag mix.
enum class FlagClass : std::uint8_t { SynAck, Rst, RstAck, Ack, Other };
FlagClass classify_flags(std::uint8_t flags);
const char* to_string(FlagClass c);

}  // namespace d4::analyzers::pibs
