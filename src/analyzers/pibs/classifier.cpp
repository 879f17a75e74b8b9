#include "analyzers/pibs/classifier.hpp"

namespace d4::analyzers::pibs {

Classifier::Classifier(ClassifierOptions options)
    : options_(options),
      v4_(1 << 14, options.max_table_bytes / 2),
      v6_(1 << 10, options.max_table_bytes / 2) {}

Verdict Classifier::classify(const packet::Frame& frame, packet::Packet& p) {
  ++stats_.frames;
  auto status = packet::decode(frame.linktype, frame.bytes(), p);
  if (status != packet::DecodeStatus::Ok) {
    if (status == packet::DecodeStatus::NotIp) return Verdict::NotTcp;
    if (status == packet::DecodeStatus::Fragment && p.protocol != packet::ipproto::kTcp)
      return Verdict::NotTcp;
    ++stats_.undecodable[std::string(packet::to_string(status))];
    return Verdict::Undecodable;
  }
  if (!p.is_tcp() || (p.ip_version == 6 && !options_.ipv6)) return Verdict::NotTcp;
  return classify_tcp(p, frame.ts_seconds());
}

Verdict Classifier::classify_tcp(const packet::Packet& p, std::int64_t ts) {
  ++stats_.tcp;
  const auto ts32 = static_cast<std::uint32_t>(ts < 0 ? 0 : ts);
  const bool v4 = p.ip_version == 4;
  if (p.tcp.flags == packet::tcpflag::kSyn) {
    ++stats_.syn;
    if (v4)
      v4_.put(p.src.v4_value(), ts32);
    else
      v6_.put(p.src.bytes, ts32);
    stats_.evicted_senders = v4_.evictions() + v6_.evictions();
    return Verdict::Syn;
  }
  const std::uint32_t* seen = v4 ? v4_.find(p.src.v4_value()) : v6_.find(p.src.bytes);
  if (seen) {
    if (options_.syn_window_seconds <= 0 ||
        ts - static_cast<std::int64_t>(*seen) <= options_.syn_window_seconds) {
      ++stats_.normal;
      return Verdict::Normal;
    }
    // Too old: forget the sender, and now and then sweep the table so memory follows the window.
    ++stats_.expired_senders;
    if (v4)
      v4_.erase(p.src.v4_value());
    else
      v6_.erase(p.src.bytes);
  }
  if (options_.syn_window_seconds > 0 && ts - last_sweep_ > options_.syn_window_seconds) {
    auto oldest = static_cast<std::uint32_t>(std::max<std::int64_t>(0, ts - options_.syn_window_seconds));
    stats_.expired_senders += v4_.remove_older_than(oldest) + v6_.remove_older_than(oldest);
    last_sweep_ = ts;
  }
  ++stats_.backscatter;
  return Verdict::Backscatter;
}

FlagClass classify_flags(std::uint8_t f) {
  using namespace packet::tcpflag;
  const std::uint8_t core = f & (kSyn | kAck | kRst | kFin);
  if (core == (kSyn | kAck)) return FlagClass::SynAck;
  if (core == kRst) return FlagClass::Rst;
  if (core == (kRst | kAck)) return FlagClass::RstAck;
  if (core == kAck) return FlagClass::Ack;
  return FlagClass::Other;
}

const char* to_string(FlagClass c) {
  switch (c) {
    case FlagClass::SynAck:
      return "syn_ack";
    case FlagClass::Rst:
      return "rst";
    case FlagClass::RstAck:
      return "rst_ack";
    case FlagClass::Ack:
      return "ack";
    case FlagClass::Other:
      return "other";
  }
  return "other";
}

}  // namespace d4::analyzers::pibs
