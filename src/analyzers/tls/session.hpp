#pragma once
// TLS session tracking over reassembled TCP streams: which side is the client (the one that sent
// the ClientHello, not just the first packet), the hellos and their fingerprints, the server
// certificates, and the `ja3-jl` JSON line of the reference TLS sensor.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "analyzers/packet/tcp_reassembly.hpp"
#include "analyzers/tls/certificate.hpp"
#include "analyzers/tls/tls_parser.hpp"

namespace d4::analyzers::tls {

struct TlsSession {
  packet::IpAddress client_ip, server_ip;
  std::uint16_t client_port = 0, server_port = 0;
  std::int64_t ts_ns = 0;  // capture time of the first handshake data
  bool has_client_hello = false, has_server_hello = false;
  ClientHello client_hello;
  ServerHello server_hello;
  std::string ja3, ja3_md5, ja3s, ja3s_md5;
  std::vector<CertificateInfo> certificates;
  std::uint64_t unparsed_certificates = 0;
  bool partial = false;  // emitted at the end of the flow without the full handshake
  std::string tlsh;      // "" when libtlsh refused the input (see tlsh.hpp)
};

// One ClientHello or ServerHello, for per-packet fingerprint listings (tshark-like): the frame
// that completed it, its endpoints, and the types of all handshake messages completed by that frame.
struct HelloEvent {
  std::uint64_t frame = 0;
  packet::IpAddress src, dst;
  std::uint16_t sport = 0, dport = 0;
  std::string handshake_types;  // "2,11,12,14"
  bool client = false;
  std::string ja3, ja3_md5, ja3s, ja3s_md5;
  std::string sni;
};

struct TrackerOptions {
  bool partial = true;     // emit sessions with only one hello when the flow ends
  bool ja3_quirk = false;  // reference sensor's trailing '-' with a trailing GREASE value
  std::size_t max_certificates = 16;
  std::size_t max_stream_bytes = 1 << 20;  // per direction, before giving up on a handshake
  packet::TcpReassemblyOptions tcp{200000, 256 * 1024, 300LL * 1000000000, 1u << 24, 256u << 20};
};

struct TrackerStats {
  std::uint64_t frames = 0;
  std::uint64_t tcp_segments = 0;
  std::uint64_t client_hellos = 0;
  std::uint64_t server_hellos = 0;
  std::uint64_t bad_hellos = 0;
  std::uint64_t certificates = 0;
  std::uint64_t unparsed_certificates = 0;
  std::uint64_t sessions = 0;
  std::uint64_t partial_sessions = 0;
  std::uint64_t tlsh_refused = 0;  // sessions whose TLSH input the library refused (TLSH "")
  std::uint64_t not_tls_streams = 0;
  std::uint64_t undecodable_frames = 0;
};

class TlsTracker : private packet::TcpListener {
 public:
  using SessionSink = std::function<void(const TlsSession&)>;
  using HelloSink = std::function<void(const HelloEvent&)>;

  TlsTracker(SessionSink on_session, HelloSink on_hello, TrackerOptions options = {});
  ~TlsTracker() override;

  void process(const packet::Frame& frame);
  // Ends every flow (partial sessions are emitted if enabled).
  void finish();
  const TrackerStats& stats() const { return stats_; }
  const packet::TcpReassemblyStats& tcp_stats() const { return tcp_.stats(); }
  const packet::TcpReassembler& tcp() const { return tcp_; }

 private:
  struct FlowContext;
  void on_data(packet::TcpFlow& flow, int direction, std::span<const std::uint8_t> data, std::int64_t ts_ns,
               std::uint64_t frame_number) override;
  void on_gap(packet::TcpFlow& flow, int direction) override;
  void on_close(packet::TcpFlow& flow) override;
  void on_handshake(FlowContext& ctx, packet::TcpFlow& flow, int direction, std::uint8_t type,
                    std::span<const std::uint8_t> body, std::uint64_t frame);
  void maybe_emit(FlowContext& ctx, packet::TcpFlow& flow, bool closing);
  void flush_events();

  SessionSink on_session_;
  HelloSink on_hello_;
  TrackerOptions options_;
  TrackerStats stats_;
  packet::TcpReassembler tcp_;
  packet::Packet packet_;
  std::int64_t current_ts_ = 0;
  struct PendingEvent {
    HelloEvent event;
    std::shared_ptr<std::string> types;
  };
  std::vector<PendingEvent> pending_events_;
};

// The ja3-jl line (compact JSON, no newline): the reference sensor's top-level keys (ServerIP,
// ServerPort and ClientPort as strings, ClientIP, TLSH (as the reference computes it, "" when
// refused), Timestamp
// RFC 3339 with nanoseconds, JA3, JA3Digest, JA3S, JA3SDigest, Certificates) plus SNI, ALPN,
// ServerALPN, ClientSupportedVersions, TLSVersion and Partial.
nlohmann::ordered_json session_json(const TlsSession& s);
std::string rfc3339_nano(std::int64_t ts_ns);

}  // namespace d4::analyzers::tls
