#pragma once
// TCP stream reassembly sufficient for application handshakes (TLS, DNS over TCP): both directions
// of every connection are delivered in order, retransmissions and overlaps are trimmed,
// out-of-order segments are held back (bounded per direction), idle flows time out, and the number
// of flows is bounded. A listener receives the contiguous bytes of each direction as they become
// available, with the number of the frame that completed them.
//
// Direction 0 is the initiator: the sender of a SYN without ACK when the handshake was captured,
// otherwise the sender of the first packet seen (listeners may decide otherwise from content,
// e.g. which side sent a TLS ClientHello).
#include <cstdint>
#include <map>
#include <memory>
#include <span>
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
    std::size_t pending_bytes = 0;
    std::uint64_t delivered = 0;
  } dir[2];
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
  std::size_t max_pending_bytes_per_direction = 256 * 1024;
  std::int64_t idle_timeout_ns = 300LL * 1000000000;  // capture time
  std::uint32_t max_window = 1u << 24;                // segments further ahead are ignored
};

struct TcpReassemblyStats {
  std::uint64_t segments = 0;
  std::uint64_t retransmitted_bytes = 0;
  std::uint64_t out_of_order_segments = 0;
  std::uint64_t gaps = 0;
  std::uint64_t flows_created = 0;
  std::uint64_t flows_expired = 0;
  std::uint64_t flows_rejected = 0;  // table full
  std::uint64_t segments_outside_window = 0;
};

class TcpReassembler {
 public:
  TcpReassembler(TcpListener& listener, TcpReassemblyOptions options = {});
  ~TcpReassembler();

  // Feeds one decoded TCP packet (status Ok, protocol TCP).
  void process(const Packet& packet, std::int64_t ts_ns, std::uint64_t frame_number);
  // Closes flows idle for longer than the timeout (capture time `now_ns`).
  void expire(std::int64_t now_ns);
  // Closes every flow (end of input).
  void flush();

  std::size_t flow_count() const { return flows_.size(); }
  const TcpReassemblyStats& stats() const { return stats_; }

 private:
  void deliver(TcpFlow& flow, int d, const std::uint8_t* data, std::size_t len, std::uint32_t seq,
               std::int64_t ts, std::uint64_t frame);
  void drain_pending(TcpFlow& flow, int d, std::int64_t ts, std::uint64_t frame);
  void close(std::unordered_map<FlowKey, TcpFlow, FlowKeyHash>::iterator it);

  TcpListener& listener_;
  TcpReassemblyOptions options_;
  TcpReassemblyStats stats_;
  std::unordered_map<FlowKey, TcpFlow, FlowKeyHash> flows_;
  std::int64_t last_expiry_ns_ = 0;
};

}  // namespace d4::analyzers::packet
