#pragma once
// The network destination (TCP or TLS to a D4 server), run on the main thread as a poll() loop.
//
// Delivery: every spooled packet stays in the spool until the server's TCP has acknowledged all
// the bytes that carried it: the sender counts the bytes it wrote to the socket, asks the kernel
// how many the peer acknowledged (TCP_INFO tcpi_bytes_acked; SIOCOUTQ on old kernels), and maps
// that onto the packets (with TLS, onto the ciphertext offsets recorded when each packet was
// encrypted). When a connection fails, the packets not acknowledged are sent again on the next
// connection. When the peer *reset* the connection (what a server that dies with unread data in
// its socket does), the last --resend-acked bytes of acknowledged packets are sent again too.
// At-least-once delivery; duplicates are always whole packets.
//
// The end of a TLS session is confirmed: when everything is acknowledged and no more input will
// come, the sender sends close_notify and waits (at most the connect timeout, or until the grace
// time ends) for the server's side of the close. A TLS 1.3 server checks the client certificate
// only after the client's handshake is complete, so it may refuse the session with a fatal alert
// after its TCP acknowledged packets it will never read; such an alert at the close means "not
// delivered": the packets are sent again on a new connection.
//
// Every new connection starts like a new D4 session: the meta header first (types 2/254); for
// type 1 a copy of the pcap global header before the first record; and data resumes on a record
// boundary (see chunker.hpp).
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "client/config.hpp"
#include "client/net.hpp"
#include "client/reader.hpp"
#include "client/spool.hpp"
#include "client/stats.hpp"
#include "client/stop.hpp"
#include "client/tls.hpp"
#include "core/rate_limiter.hpp"
#include "protocol/encoder.hpp"

namespace d4::client {

class NetworkSender {
 public:
  // Throws UsageError when the TLS settings cannot be loaded.
  NetworkSender(const Settings& settings, Spool& spool, Stats& stats, SessionInfo& session,
                const StopState& stop, int wake_fd);
  ~NetworkSender();

  // Returns the exit status: 0 when everything was delivered, 1 otherwise.
  int run();

 private:
  using Clock = std::chrono::steady_clock;
  enum class State { Idle, Connecting, Handshake, Up, Closing };

  void begin_connect(Clock::time_point now);
  void try_address(Clock::time_point now);
  void address_failed(const std::string& why, Clock::time_point now);
  void on_tcp_connected(Clock::time_point now);
  void step_handshake(Clock::time_point now);
  void on_up(Clock::time_point now);
  void disconnect(const std::string& reason, Clock::time_point now);
  void schedule_retry(Clock::time_point now, const std::string& what);
  void close_socket();

  void append_plain(const std::uint8_t* data, std::size_t n);
  bool fill_output(Clock::time_point now);
  bool flush_output();
  bool read_input();
  void update_acks();
  void release_acked();
  bool begin_close(Clock::time_point now);
  void step_close(Clock::time_point now);
  std::uint64_t undelivered_packets();

  const Settings& s_;
  Spool& spool_;
  Stats& stats_;
  SessionInfo& session_;
  const StopState& stop_;
  int wake_fd_;
  std::optional<TlsContext> tls_ctx_;
  std::unique_ptr<TlsSession> tls_;
  protocol::PacketEncoder enc_;
  protocol::PacketEncoder meta_enc_;
  core::RateLimiter limiter_;
  std::mt19937_64 rng_;

  State state_ = State::Idle;
  int fd_ = -1;
  std::vector<Address> addrs_;
  std::size_t addr_idx_ = 0;
  std::string connect_errors_;
  Clock::time_point deadline_{};
  Clock::time_point retry_at_{};
  Clock::time_point up_since_{};
  int attempts_ = 0;
  bool fatal_ = false;
  std::string reason_;
  bool reset_ = false;               // the current connection was reset by the peer
  std::uint64_t resend_window_ = 0;  // --resend-acked, at most a quarter of the memory spool
  bool close_confirmed_ = false;     // State::Closing: the server closed its side without an alert

  std::vector<std::uint8_t> out_;
  std::size_t out_off_ = 0;
  std::uint64_t stream_bytes_ = 0;  // bytes queued for this connection (ciphertext with TLS)
  std::uint64_t written_ = 0;       // bytes the socket accepted
  bool need_stream_header_ = false;

  std::uint64_t known_head_ = 0;
  std::uint64_t sent_pos_ = 0;
  std::uint64_t ack_pos_ = 0;
  std::uint64_t resend_until_ = 0;
  std::uint64_t delivered_pos_ = 0;   // spool position up to which Stats::payload_delivered counted
  std::uint64_t retained_bytes_ = 0;  // acknowledged bytes kept between the spool tail and ack_pos_
};

}  // namespace d4::client
