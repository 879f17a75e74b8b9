#include "analyzers/tls/session.hpp"

#include <ctime>

#include "analyzers/tls/tlsh.hpp"

namespace d4::analyzers::tls {

struct TlsTracker::FlowContext : packet::FlowState {
  HandshakeStream stream[2];
  TlsSession session;
  int client_dir = -1;
  bool emitted = false;
  bool started = false;
  std::uint64_t last_frame[2] = {0, 0};
  std::shared_ptr<std::string> frame_types[2];

  std::size_t memory_bytes() const override {
    std::size_t n = sizeof(*this) + stream[0].memory_bytes() + stream[1].memory_bytes();
    for (const auto& c : session.certificates) n += sizeof(c) + c.der.capacity() + c.spki_der.capacity();
    return n;
  }

  explicit FlowContext(TlsTracker& t, packet::TcpFlow& flow)
      : stream{HandshakeStream([&t, this, &flow](std::uint8_t type, std::span<const std::uint8_t> body,
                                                 std::uint64_t frame) {
                 t.on_handshake(*this, flow, 0, type, body, frame);
               }),
               HandshakeStream([&t, this, &flow](std::uint8_t type, std::span<const std::uint8_t> body,
                                                 std::uint64_t frame) {
                 t.on_handshake(*this, flow, 1, type, body, frame);
               })} {}
};

TlsTracker::TlsTracker(SessionSink on_session, HelloSink on_hello, TrackerOptions options)
    : on_session_(std::move(on_session)),
      on_hello_(std::move(on_hello)),
      options_(options),
      tcp_(*this, options_.tcp) {}

TlsTracker::~TlsTracker() = default;

void TlsTracker::process(const packet::Frame& frame) {
  ++stats_.frames;
  auto status = packet::decode(frame.linktype, frame.bytes(), packet_);
  if (status != packet::DecodeStatus::Ok) {
    if (status != packet::DecodeStatus::NotIp) ++stats_.undecodable_frames;
    return;
  }
  if (!packet_.is_tcp()) return;
  ++stats_.tcp_segments;
  current_ts_ = frame.ts_ns;
  tcp_.process(packet_, frame.ts_ns, frame.number);
  flush_events();
}

void TlsTracker::finish() {
  tcp_.flush();
  flush_events();
}

void TlsTracker::flush_events() {
  if (pending_events_.empty()) return;
  for (auto& p : pending_events_) {
    p.event.handshake_types = *p.types;
    if (on_hello_) on_hello_(p.event);
  }
  pending_events_.clear();
}

void TlsTracker::on_data(packet::TcpFlow& flow, int d, std::span<const std::uint8_t> data, std::int64_t ts_ns,
                         std::uint64_t frame) {
  if (!flow.state) flow.state = std::make_unique<FlowContext>(*this, flow);
  auto& ctx = static_cast<FlowContext&>(*flow.state);
  if (!ctx.started) {
    ctx.started = true;
    ctx.session.ts_ns = ts_ns;
  }
  current_ts_ = ts_ns;
  auto& stream = ctx.stream[d];
  if (!stream.active()) return;
  stream.feed(data, frame);
  if (stream.state() == HandshakeStream::State::NotTls) {
    if (ctx.session.has_client_hello || ctx.session.has_server_hello) {
      maybe_emit(ctx, flow, false);
    } else {
      ++stats_.not_tls_streams;
      flow.ignore = true;  // not TLS: stop reassembling this flow
    }
    return;
  }
  if (flow.dir[d].delivered > options_.max_stream_bytes && !ctx.emitted) flow.ignore = true;
  maybe_emit(ctx, flow, false);
}

void TlsTracker::on_gap(packet::TcpFlow& flow, int d) {
  if (!flow.state) return;
  auto& ctx = static_cast<FlowContext&>(*flow.state);
  // A hole in the handshake bytes: what follows cannot be framed reliably.
  ctx.stream[d].abandon();
}

void TlsTracker::on_close(packet::TcpFlow& flow) {
  if (!flow.state) return;
  auto& ctx = static_cast<FlowContext&>(*flow.state);
  maybe_emit(ctx, flow, true);
}

void TlsTracker::on_handshake(FlowContext& ctx, packet::TcpFlow& flow, int d, std::uint8_t type,
                              std::span<const std::uint8_t> body, std::uint64_t frame) {
  if (!ctx.frame_types[d] || ctx.last_frame[d] != frame) {
    ctx.frame_types[d] = std::make_shared<std::string>();
    ctx.last_frame[d] = frame;
  }
  if (!ctx.frame_types[d]->empty()) *ctx.frame_types[d] += ',';
  *ctx.frame_types[d] += std::to_string(type);

  auto& s = ctx.session;
  auto event_for = [&](bool client) {
    PendingEvent pe;
    pe.event.frame = frame;
    pe.event.src = flow.key.addr[d];
    pe.event.sport = flow.key.port[d];
    pe.event.dst = flow.key.addr[1 - d];
    pe.event.dport = flow.key.port[1 - d];
    pe.event.client = client;
    pe.types = ctx.frame_types[d];
    return pe;
  };
  if (type == handshake::kClientHello && !s.has_client_hello) {
    ClientHello ch;
    if (!parse_client_hello(body, ch)) {
      ++stats_.bad_hellos;
      return;
    }
    ++stats_.client_hellos;
    if (ctx.client_dir < 0) ctx.client_dir = d;
    s.has_client_hello = true;
    s.client_hello = std::move(ch);
    s.ja3 = ja3_string(s.client_hello, options_.ja3_quirk);
    s.ja3_md5 = md5_hex(s.ja3);
    auto pe = event_for(true);
    pe.event.ja3 = s.ja3;
    pe.event.ja3_md5 = s.ja3_md5;
    pe.event.sni = s.client_hello.sni;
    pending_events_.push_back(std::move(pe));
  } else if (type == handshake::kServerHello && !s.has_server_hello) {
    ServerHello sh;
    if (!parse_server_hello(body, sh)) {
      ++stats_.bad_hellos;
      return;
    }
    ++stats_.server_hellos;
    if (ctx.client_dir < 0) ctx.client_dir = 1 - d;
    s.has_server_hello = true;
    s.server_hello = std::move(sh);
    s.ja3s = ja3s_string(s.server_hello, options_.ja3_quirk);
    s.ja3s_md5 = md5_hex(s.ja3s);
    auto pe = event_for(false);
    pe.event.ja3s = s.ja3s;
    pe.event.ja3s_md5 = s.ja3s_md5;
    pending_events_.push_back(std::move(pe));
  } else if (type == handshake::kCertificate && d != ctx.client_dir && s.certificates.empty()) {
    std::vector<std::span<const std::uint8_t>> ders;
    if (!parse_certificate_list(body, ders)) {
      ++stats_.unparsed_certificates;
      ++s.unparsed_certificates;
      return;
    }
    for (const auto& der : ders) {
      if (s.certificates.size() >= options_.max_certificates) break;
      if (auto c = parse_certificate(der)) {
        s.certificates.push_back(std::move(*c));
        ++stats_.certificates;
      } else {
        ++s.unparsed_certificates;
        ++stats_.unparsed_certificates;
      }
    }
  }
}

void TlsTracker::maybe_emit(FlowContext& ctx, packet::TcpFlow& flow, bool closing) {
  if (ctx.emitted) return;
  auto& s = ctx.session;
  if (!s.has_client_hello && !s.has_server_hello) return;
  int client = ctx.client_dir < 0 ? 0 : ctx.client_dir;
  int server = 1 - client;
  bool server_done = !ctx.stream[server].active();  // encrypted from here, or not TLS
  bool tls13 = s.has_server_hello && s.server_hello.version() == 0x0304;
  bool complete =
      s.has_client_hello && s.has_server_hello && (!s.certificates.empty() || tls13 || server_done);
  if (!complete && !(closing && options_.partial)) return;
  ctx.emitted = true;
  s.client_ip = flow.key.addr[client];
  s.client_port = flow.key.port[client];
  s.server_ip = flow.key.addr[server];
  s.server_port = flow.key.port[server];
  s.partial = !complete;
  ++stats_.sessions;
  if (s.partial) ++stats_.partial_sessions;
  if (auto h = tlsh_digest(session_tlsh_input(s.ja3, s.ja3s, s.certificates)))
    s.tlsh = std::move(*h);
  else
    ++stats_.tlsh_refused;
  if (on_session_) on_session_(s);
  if (!closing) flow.ignore = true;  // nothing more to learn from this flow
}

std::string rfc3339_nano(std::int64_t ts_ns) {
  std::int64_t sec = ts_ns / 1000000000, ns = ts_ns % 1000000000;
  if (ns < 0) {
    ns += 1000000000;
    sec -= 1;
  }
  std::time_t t = static_cast<std::time_t>(sec);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(ns));
  return buf;
}

nlohmann::ordered_json session_json(const TlsSession& s) {
  nlohmann::ordered_json j;
  j["ServerIP"] = s.server_ip.to_string();
  j["ServerPort"] = std::to_string(s.server_port);
  j["ClientIP"] = s.client_ip.to_string();
  j["ClientPort"] = std::to_string(s.client_port);
  j["TLSH"] = s.tlsh;
  j["Timestamp"] = rfc3339_nano(s.ts_ns);
  j["JA3"] = s.ja3;
  j["JA3Digest"] = s.ja3_md5;
  j["JA3S"] = s.ja3s;
  j["JA3SDigest"] = s.ja3s_md5;
  if (s.certificates.empty()) {
    j["Certificates"] = nullptr;
  } else {
    nlohmann::ordered_json certs = nlohmann::ordered_json::array();
    for (const auto& c : s.certificates) certs.push_back(certificate_json(c));
    j["Certificates"] = certs;
  }
  j["SNI"] = s.client_hello.sni;
  j["ALPN"] = s.client_hello.alpn;
  j["ServerALPN"] = s.server_hello.alpn;
  nlohmann::ordered_json versions = nlohmann::ordered_json::array();
  for (auto v : s.client_hello.supported_versions)
    if (!is_grease(v)) versions.push_back(tls_version_name(v));
  j["ClientSupportedVersions"] = versions;
  j["TLSVersion"] = s.has_server_hello ? tls_version_name(s.server_hello.version()) : "";
  j["Partial"] = s.partial;
  return j;
}

}  // namespace d4::analyzers::tls
