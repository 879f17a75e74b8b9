#include "analyzers/packet/tcp_reassembly.hpp"

#include <vector>

namespace d4::analyzers::packet {
namespace {

bool endpoint_less(const IpAddress& a, std::uint16_t pa, const IpAddress& b, std::uint16_t pb) {
  if (a != b) return a < b;
  return pa < pb;
}

FlowKey canonical(const Packet& p) {
  FlowKey k;
  if (endpoint_less(p.src, p.sport, p.dst, p.dport)) {
    k.addr[0] = p.src, k.port[0] = p.sport, k.addr[1] = p.dst, k.port[1] = p.dport;
  } else {
    k.addr[0] = p.dst, k.port[0] = p.dport, k.addr[1] = p.src, k.port[1] = p.sport;
  }
  return k;
}

inline std::int32_t seq_diff(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b);
}

}  // namespace

std::size_t FlowKeyHash::operator()(const FlowKey& k) const noexcept {
  std::hash<IpAddress> h;
  std::size_t a = h(k.addr[0]), b = h(k.addr[1]);
  return a ^ (b * 0x9E3779B97F4A7C15ULL) ^ (static_cast<std::size_t>(k.port[0]) << 16 | k.port[1]);
}

TcpReassembler::TcpReassembler(TcpListener& listener, TcpReassemblyOptions options)
    : listener_(listener), options_(options) {}

TcpReassembler::~TcpReassembler() = default;

void TcpReassembler::close(std::unordered_map<FlowKey, TcpFlow, FlowKeyHash>::iterator it) {
  listener_.on_close(it->second);
  flows_.erase(it);
}

void TcpReassembler::process(const Packet& p, std::int64_t ts, std::uint64_t frame) {
  ++stats_.segments;
  if (ts - last_expiry_ns_ > 10LL * 1000000000 || ts < last_expiry_ns_) {
    expire(ts);
    last_expiry_ns_ = ts;
  }
  const std::uint8_t flags = p.tcp.flags;
  const bool syn = flags & tcpflag::kSyn, ack = flags & tcpflag::kAck, rst = flags & tcpflag::kRst,
             fin = flags & tcpflag::kFin;
  FlowKey key = canonical(p);
  auto it = flows_.find(key);
  if (it == flows_.end()) {
    if (rst) return;
    if (flows_.size() >= options_.max_flows) {
      expire(ts);
      if (flows_.size() >= options_.max_flows) {
        ++stats_.flows_rejected;
        return;
      }
    }
    it = flows_.emplace(key, TcpFlow{}).first;
    ++stats_.flows_created;
    TcpFlow& nf = it->second;
    // A SYN-ACK seen first means its destination initiated the connection.
    bool sender_is_initiator = !(syn && ack);
    if (sender_is_initiator) {
      nf.key.addr[0] = p.src, nf.key.port[0] = p.sport, nf.key.addr[1] = p.dst, nf.key.port[1] = p.dport;
    } else {
      nf.key.addr[0] = p.dst, nf.key.port[0] = p.dport, nf.key.addr[1] = p.src, nf.key.port[1] = p.sport;
    }
    nf.first_ts_ns = ts;
  }
  TcpFlow& flow = it->second;
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
  }
  if (fin) {
    dir.closed = true;
    if (flow.dir[0].closed && flow.dir[1].closed) {
      close(it);
      return;
    }
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
    ++stats_.out_of_order_segments;
    auto [pos, inserted] = dir.pending.try_emplace(seq);
    if (inserted || pos->second.size() < len) {
      dir.pending_bytes += len - pos->second.size();
      pos->second.assign(data, data + len);
    }
    if (dir.pending_bytes > options_.max_pending_bytes_per_direction) {
      // Give up on the hole: continue from the earliest held-back segment.
      ++stats_.gaps;
      listener_.on_gap(flow, d);
      dir.next_seq = dir.pending.begin()->first;
      drain_pending(flow, d, ts, frame);
    }
    return;
  }
  dir.next_seq += static_cast<std::uint32_t>(len);
  dir.delivered += len;
  listener_.on_data(flow, d, {data, len}, ts, frame);
  if (flow.ignore) {
    for (auto& x : flow.dir) {
      x.pending.clear();
      x.pending_bytes = 0;
    }
    return;
  }
  if (!dir.pending.empty()) drain_pending(flow, d, ts, frame);
}

void TcpReassembler::drain_pending(TcpFlow& flow, int d, std::int64_t ts, std::uint64_t frame) {
  auto& dir = flow.dir[d];
  while (!dir.pending.empty() && !flow.ignore) {
    auto first = dir.pending.begin();
    std::int32_t diff = seq_diff(first->first, dir.next_seq);
    if (diff > 0) break;
    std::vector<std::uint8_t> bytes = std::move(first->second);
    dir.pending_bytes -= bytes.size();
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
  if (flow.ignore) {
    dir.pending.clear();
    dir.pending_bytes = 0;
  }
}

void TcpReassembler::expire(std::int64_t now) {
  for (auto it = flows_.begin(); it != flows_.end();) {
    if (now - it->second.last_ts_ns > options_.idle_timeout_ns) {
      auto next = std::next(it);
      ++stats_.flows_expired;
      close(it);
      it = next;
    } else {
      ++it;
    }
  }
}

void TcpReassembler::flush() {
  while (!flows_.empty()) close(flows_.begin());
}

}  // namespace d4::analyzers::packet
