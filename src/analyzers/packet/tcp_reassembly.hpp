#pragma once
// TCP stream reassembly sufficient for application handshakes (TLS, DNS over TCP): both directions
// of every connection are delivered in order, retransmissions and overlaps are trimmed,
// out-of-order segments are held back (bounded per direction), idle flows time out, and the
// number of flows and the memory of all flows are bounded. A listener receives the contiguous
// bytes of each direction as they become available, with the number of the frame that completed
// them.
//
// Direction 0 is the initiator: the sender of a SYN without ACK when the handshake was captured,
// otherwise the sender of the first packet seen (listeners may decide otherwise from content,
// e.g. which side sent a TLS ClientHello).
//
// Floods of distinct flows (spoofed sources, scans) must not cost more than a packet each: flows
// are kept in order of last activity, so a new flow arriving at a full table evicts the least
// recently active one in O(1) and idle flows are found from the oldest end without a scan. Every
// byte the table holds is counted against `max_bytes`: a fixed cost per flow, each held-back
// segment with its bookkeeping, and the listener's own per-flow state (FlowState::memory_bytes).
// Past the budget the least recently active flows are closed first.
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyzers/packet/decode.hpp"

namespace d4::analyzers::packet {

struct FlowKey {
  IpAddress addr[2];
  std::uint16_t port[2] = {0, 0};
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};

struct FlowKeyHash {
  std::size_t operator()(const FlowKey& k) const noexcept;
};

// Per-flow state owned by the listener (virtual destructor so the table can own it).
struct FlowState {
  virtual ~FlowState() = default;
  // Bytes this state holds (itself and its buffers), counted in the reassembler's byte budget.
  // Called after each delivery to the flow, so it must be cheap.
  virtual std::size_t memory_bytes() const { return 0; }
};

struct TcpFlow {
  FlowKey key;  // addr[0]/port[0] = initiator
  std::int64_t first_ts_ns = 0;
  std::int64_t last_ts_ns = 0;
  bool saw_syn = false;
  bool ignore = false;  // set by the listener when it needs no more data from this flow
  std::unique_ptr<FlowState> state;

  struct Direction {
    bool started = false;
    bool closed = false;  // FIN seen
    std::uint32_t next_seq = 0;
    std::map<std::uint32_t, std::vector<std::uint8_t>> pending;  // out-of-order, keyed by seq
    std::size_t pending_bytes = 0;  // held-back data plus the bookkeeping of each segment
    std::uint64_t delivered = 0;
  } dir[2];

  std::size_t state_bytes = 0;  // the listener state's size when last counted (reassembler's use)
};

class TcpListener {
 public:
  virtual ~TcpListener() = default;
  // In-order bytes of one direction (0 initiator, 1 responder).
  virtual void on_data(TcpFlow& flow, int direction, std::span<const std::uint8_t> data, std::int64_t ts_ns,
                       std::uint64_t frame_number) = 0;
  // Bytes were lost (held-back data exceeded the bound, or capture loss): the stream of this
  // direction continues after a hole.
  virtual void on_gap(TcpFlow& flow, int direction) { (void)flow, (void)direction; }
  // The flow ends (FIN both ways, RST, idle timeout, eviction or final flush).
  virtual void on_close(TcpFlow& flow) { (void)flow; }
};

struct TcpReassemblyOptions {
  std::size_t max_flows = 200000;
  // Held back per direction, the bookkeeping of each segment included (kSegmentOverhead).
  std::size_t max_pending_bytes_per_direction = 256 * 1024;
  std::int64_t idle_timeout_ns = 300LL * 1000000000;  // capture time
  std::uint32_t max_window = 1u << 24;                // segments further ahead are ignored
  std::size_t max_bytes = 256u << 20;                 // every flow together (see the file comment)
};

struct TcpReassemblyStats {
  std::uint64_t segments = 0;
  std::uint64_t retransmitted_bytes = 0;
  std::uint64_t out_of_order_segments = 0;
  std::uint64_t gaps = 0;
  std::uint64_t flows_created = 0;
  std::uint64_t flows_expired = 0;
  std::uint64_t flows_evicted = 0;         // least recently active flow closed: table full (max_flows)
  std::uint64_t flows_evicted_memory = 0;  // closed to stay within max_bytes
  std::uint64_t memory_gaps = 0;           // held-back data dropped to stay within max_bytes
  std::uint64_t segments_outside_window = 0;
  std::uint64_t peak_bytes = 0;  // highest memory_bytes() seen
};

// "N segments, ..." for the analyzers' logs: the counters above and the current memory.
std::string describe(const TcpReassemblyStats& stats, std::size_t flows, std::size_t bytes);

class TcpReassembler {
 public:
  // Bookkeeping of one held-back segment (tree node, vector header, allocator headers).
  static constexpr std::size_t kSegmentOverhead = 96;
  // Fixed cost of one flow (list node, index node and bucket).
  static constexpr std::size_t kFlowOverhead = sizeof(TcpFlow) + sizeof(FlowKey) + 8 * sizeof(void*);

  TcpReassembler(TcpListener& listener, TcpReassemblyOptions options = {});
  ~TcpReassembler();

  // Feeds one decoded TCP packet (status Ok, protocol TCP).
  void process(const Packet& packet, std::int64_t ts_ns, std::uint64_t frame_number);
  // Closes flows idle for longer than the timeout (capture time `now_ns`), oldest activity first.
  void expire(std::int64_t now_ns);
  // Closes every flow (end of input), least recently active first.
  void flush();

  std::size_t flow_count() const { return flows_.size(); }
  // Bytes held by all flows, as counted against max_bytes.
  std::size_t memory_bytes() const { return bytes_; }
  const TcpReassemblyStats& stats() const { return stats_; }
  const TcpReassemblyOptions& options() const { return options_; }

 private:
  using FlowList = std::list<TcpFlow>;  // front: least recently active
  using FlowIt = FlowList::iterator;

  FlowIt find_or_create(const Packet& p, std::int64_t ts);
  void evict_oldest(std::int64_t now, std::uint64_t& counter);
  void deliver(TcpFlow& flow, int d, const std::uint8_t* data, std::size_t len, std::uint32_t seq,
               std::int64_t ts, std::uint64_t frame);
  void hold_back(TcpFlow& flow, int d, const std::uint8_t* data, std::size_t len, std::uint32_t seq,
                 std::int64_t ts, std::uint64_t frame);
  void drain_pending(TcpFlow& flow, int d, std::int64_t ts, std::uint64_t frame);
  void clear_pending(TcpFlow& flow, int d);
  void recount_state(TcpFlow& flow);
  // Brings the memory back within max_bytes; false when `current` itself had to be closed.
  bool enforce_budget(FlowIt current, std::int64_t ts, std::uint64_t frame);
  void close(FlowIt it);
  void add_bytes(std::size_t n);

  TcpListener& listener_;
  TcpReassemblyOptions options_;
  TcpReassemblyStats stats_;
  FlowList lru_;
  std::unordered_map<FlowKey, FlowIt, FlowKeyHash> flows_;  // canonical key -> flow
  std::size_t bytes_ = 0;
  std::int64_t last_expiry_ns_ = 0;
};

}  // namespace d4::analyzers::packet
