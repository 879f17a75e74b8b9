#include "analyzers/packet/tcp_reassembly.hpp"

#include <algorithm>
#include <vector>

namespace d4::analyzers::packet {
namespace {

constexpr std::int64_t kExpiryPeriodNs = 10LL * 1000000000;

bool endpoint_less(const IpAddress& a, std::uint16_t pa, const IpAddress& b, std::uint16_t pb) {
  if (a != b) return a < b;
  return pa < pb;
}

// The key of a connection whichever way its packets go: the lower endpoint first.
FlowKey canonical(const IpAddress& a, std::uint16_t pa, const IpAddress& b, std::uint16_t pb) {
  FlowKey k;
  if (endpoint_less(a, pa, b, pb)) {
    k.addr[0] = a, k.port[0] = pa, k.addr[1] = b, k.port[1] = pb;
  } else {
    k.addr[0] = b, k.port[0] = pb, k.addr[1] = a, k.port[1] = pa;
  }
  return k;
}

inline std::int32_t seq_diff(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b);
}

std::size_t segment_cost(const std::vector<std::uint8_t>& bytes) {
  return bytes.capacity() + TcpReassembler::kSegmentOverhead;
}

}  // namespace

std::size_t FlowKeyHash::operator()(const FlowKey& k) const noexcept {
  std::hash<IpAddress> h;
  std::size_t a = h(k.addr[0]), b = h(k.addr[1]);
  return a ^ (b * 0x9E3779B97F4A7C15ULL) ^ (static_cast<std::size_t>(k.port[0]) << 16 | k.port[1]);
}

std::string describe(const TcpReassemblyStats& s, std::size_t flows, std::size_t bytes) {
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  return n(s.segments) + " segment(s), " + n(s.out_of_order_segments) + " out of order, " + n(s.gaps) +
         " gap(s), " + n(s.flows_created) + " flow(s) created, " + n(s.flows_expired) + " expired, " +
         n(s.flows_evicted) + " evicted (table full), " + n(s.flows_evicted_memory) +
         " evicted (memory cap), " + n(s.memory_gaps) + " held-back run(s) dropped (memory cap); " +
         n(flows) + " flow(s) open holding " + n(bytes) + " bytes (peak " + n(s.peak_bytes) + ")";
}

TcpReassembler::TcpReassembler(TcpListener& listener, TcpReassemblyOptions options)
    : listener_(listener), options_(options) {}

TcpReassembler::~TcpReassembler() = default;

void TcpReassembler::add_bytes(std::size_t n) {
  bytes_ += n;
  stats_.peak_bytes = std::max<std::uint64_t>(stats_.peak_bytes, bytes_);
}

void TcpReassembler::close(FlowIt it) {
  TcpFlow& flow = *it;
  listener_.on_close(flow);
  bytes_ -= kFlowOverhead + flow.dir[0].pending_bytes + flow.dir[1].pending_bytes + flow.state_bytes;
  flows_.erase(canonical(flow.key.addr[0], flow.key.port[0], flow.key.addr[1], flow.key.port[1]));
  lru_.erase(it);
}

void TcpReassembler::evict_oldest(std::int64_t now, std::uint64_t& counter) {
  // A flow that has been idle past the timeout would have expired anyway: count it as such.
  if (now - lru_.front().last_ts_ns > options_.idle_timeout_ns)
    ++stats_.flows_expired;
  else
    ++counter;
  close(lru_.begin());
}

TcpReassembler::FlowIt TcpReassembler::find_or_create(const Packet& p, std::int64_t ts) {
  FlowKey key = canonical(p.src, p.sport, p.dst, p.dport);
  if (auto found = flows_.find(key); found != flows_.end()) {
    lru_.splice(lru_.end(), lru_, found->second);  // now the most recently active
    return found->second;
  }
  while (!lru_.empty() && flows_.size() >= options_.max_flows) evict_oldest(ts, stats_.flows_evicted);
  while (!lru_.empty() && bytes_ + kFlowOverhead > options_.max_bytes)
    evict_oldest(ts, stats_.flows_evicted_memory);
  TcpFlow& nf = lru_.emplace_back();
  auto it = std::prev(lru_.end());
  flows_.emplace(key, it);
  add_bytes(kFlowOverhead);
  ++stats_.flows_created;
  // A SYN-ACK seen first means its destination initiated the connection.
  const bool syn_ack = (p.tcp.flags & tcpflag::kSyn) && (p.tcp.flags & tcpflag::kAck);
  if (!syn_ack) {
    nf.key.addr[0] = p.src, nf.key.port[0] = p.sport, nf.key.addr[1] = p.dst, nf.key.port[1] = p.dport;
  } else {
    nf.key.addr[0] = p.dst, nf.key.port[0] = p.dport, nf.key.addr[1] = p.src, nf.key.port[1] = p.sport;
  }
  nf.first_ts_ns = ts;
  return it;
}

void TcpReassembler::process(const Packet& p, std::int64_t ts, std::uint64_t frame) {
  ++stats_.segments;
  if (ts - last_expiry_ns_ > kExpiryPeriodNs || ts < last_expiry_ns_) {
    expire(ts);
    last_expiry_ns_ = ts;
  }
  const std::uint8_t flags = p.tcp.flags;
  const bool syn = flags & tcpflag::kSyn, ack = flags & tcpflag::kAck, rst = flags & tcpflag::kRst,
             fin = flags & tcpflag::kFin;
  if (rst && !flows_.count(canonical(p.src, p.sport, p.dst, p.dport))) return;
  FlowIt it = find_or_create(p, ts);
  TcpFlow& flow = *it;
  flow.last_ts_ns = ts;
  int d = (p.src == flow.key.addr[0] && p.sport == flow.key.port[0]) ? 0 : 1;
  if (syn && !ack && d == 1 && flow.dir[0].delivered == 0 && flow.dir[1].delivered == 0) {
    // The handshake shows the other side initiated: swap the orientation before any data flowed.
    std::swap(flow.key.addr[0], flow.key.addr[1]);
    std::swap(flow.key.port[0], flow.key.port[1]);
    std::swap(flow.dir[0], flow.dir[1]);
    d = 0;
  }
  auto& dir = flow.dir[d];
  if (rst) {
    close(it);
    return;
  }
  std::uint32_t seq = p.tcp.seq;
  if (syn) {
    flow.saw_syn = true;
    dir.started = true;
    dir.next_seq = seq + 1;
    seq += 1;
  }
  if (!p.payload.empty() && !flow.ignore) {
    if (!dir.started) {
      dir.started = true;
      dir.next_seq = seq;
    }
    deliver(flow, d, p.payload.data(), p.payload.size(), seq, ts, frame);
    recount_state(flow);
    if (bytes_ > options_.max_bytes && !enforce_budget(it, ts, frame)) return;  // the flow was closed
  }
  if (fin) {
    dir.closed = true;
    if (flow.dir[0].closed && flow.dir[1].closed) close(it);
  }
}

void TcpReassembler::deliver(TcpFlow& flow, int d, const std::uint8_t* data, std::size_t len,
                             std::uint32_t seq, std::int64_t ts, std::uint64_t frame) {
  auto& dir = flow.dir[d];
  std::int32_t diff = seq_diff(seq, dir.next_seq);
  if (diff < 0) {
    std::size_t overlap = static_cast<std::size_t>(-static_cast<std::int64_t>(diff));
    if (len <= overlap) {
      stats_.retransmitted_bytes += len;
      return;
    }
    stats_.retransmitted_bytes += overlap;
    data += overlap;
    len -= overlap;
    seq = dir.next_seq;
    diff = 0;
  }
  if (diff > 0) {
    if (static_cast<std::uint32_t>(diff) > options_.max_window) {
      ++stats_.segments_outside_window;
      return;
    }
    hold_back(flow, d, data, len, seq, ts, frame);
    return;
  }
  dir.next_seq += static_cast<std::uint32_t>(len);
  dir.delivered += len;
  listener_.on_data(flow, d, {data, len}, ts, frame);
  if (flow.ignore) {
    clear_pending(flow, 0);
    clear_pending(flow, 1);
    return;
  }
  if (!dir.pending.empty()) drain_pending(flow, d, ts, frame);
}

void TcpReassembler::hold_back(TcpFlow& flow, int d, const std::uint8_t* data, std::size_t len,
                               std::uint32_t seq, std::int64_t ts, std::uint64_t frame) {
  auto& dir = flow.dir[d];
  ++stats_.out_of_order_segments;
  // Room is made before the copy, so the budget holds at every instant; only a flow holding more
  // than the whole budget by itself goes over, until enforce_budget() deals with it.
  while (bytes_ + len + kSegmentOverhead > options_.max_bytes && &lru_.front() != &flow)
    evict_oldest(ts, stats_.flows_evicted_memory);
  auto [pos, inserted] = dir.pending.try_emplace(seq);
  if (inserted || pos->second.size() < len) {
    const std::size_t before = inserted ? 0 : segment_cost(pos->second);
    pos->second.assign(data, data + len);
    const std::size_t after = segment_cost(pos->second);
    dir.pending_bytes = dir.pending_bytes - before + after;
    bytes_ -= before;
    add_bytes(after);
  }
  if (dir.pending_bytes > options_.max_pending_bytes_per_direction) {
    // Give up on the hole: continue from the earliest held-back segment.
    ++stats_.gaps;
    listener_.on_gap(flow, d);
    dir.next_seq = dir.pending.begin()->first;
    drain_pending(flow, d, ts, frame);
  }
}

void TcpReassembler::drain_pending(TcpFlow& flow, int d, std::int64_t ts, std::uint64_t frame) {
  auto& dir = flow.dir[d];
  while (!dir.pending.empty() && !flow.ignore) {
    auto first = dir.pending.begin();
    std::int32_t diff = seq_diff(first->first, dir.next_seq);
    if (diff > 0) break;
    std::vector<std::uint8_t> bytes = std::move(first->second);
    const std::size_t cost = segment_cost(bytes);
    dir.pending_bytes -= cost;
    bytes_ -= cost;
    dir.pending.erase(first);
    std::size_t skip = static_cast<std::size_t>(-static_cast<std::int64_t>(diff));
    if (skip >= bytes.size()) {
      stats_.retransmitted_bytes += bytes.size();
      continue;
    }
    std::size_t n = bytes.size() - skip;
    dir.next_seq += static_cast<std::uint32_t>(n);
    dir.delivered += n;
    listener_.on_data(flow, d, {bytes.data() + skip, n}, ts, frame);
  }
  if (flow.ignore) clear_pending(flow, d);
}

void TcpReassembler::clear_pending(TcpFlow& flow, int d) {
  auto& dir = flow.dir[d];
  bytes_ -= dir.pending_bytes;
  dir.pending.clear();
  dir.pending_bytes = 0;
}

void TcpReassembler::recount_state(TcpFlow& flow) {
  const std::size_t now = flow.state ? flow.state->memory_bytes() : 0;
  bytes_ -= flow.state_bytes;
  flow.state_bytes = now;
  add_bytes(now);
}

bool TcpReassembler::enforce_budget(FlowIt current, std::int64_t ts, std::uint64_t frame) {
  // The least recently active flows go first; `current` is the most recent one.
  while (bytes_ > options_.max_bytes && lru_.begin() != current)
    evict_oldest(ts, stats_.flows_evicted_memory);
  if (bytes_ <= options_.max_bytes) return true;
  // The current flow alone is over the budget: its held-back data is handed over after the hole
  // (as when the per-direction bound is reached), and if that is not enough the flow is closed.
  TcpFlow& flow = *current;
  for (int d = 0; d < 2; ++d) {
    auto& dir = flow.dir[d];
    if (dir.pending.empty()) continue;
    ++stats_.memory_gaps;
    ++stats_.gaps;
    listener_.on_gap(flow, d);
    dir.next_seq = dir.pending.begin()->first;
    drain_pending(flow, d, ts, frame);
  }
  recount_state(flow);
  if (bytes_ <= options_.max_bytes) return true;
  ++stats_.flows_evicted_memory;
  close(current);
  return false;
}

void TcpReassembler::expire(std::int64_t now) {
  while (!lru_.empty() && now - lru_.front().last_ts_ns > options_.idle_timeout_ns) {
    ++stats_.flows_expired;
    close(lru_.begin());
  }
}

void TcpReassembler::flush() {
  while (!lru_.empty()) close(lru_.begin());
}

}  // namespace d4::analyzers::packet
