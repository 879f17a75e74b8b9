#pragma once
// A sensor session on a worker thread. It reads into the protocol Framer (zero copy), checks the
// policy on the first header and on every new policy snapshot (policy_admission.hpp) before
// buffering a payload, verifies every packet's HMAC, and appends accepted packets to a
// MULTI/XADD.../EXEC batch (stream_batch.hpp). One batch per session is in flight at a time; a
// batch is "accepted" only when Redis confirms it. While Redis is slow or down, or the session's
// backlog is over its limit, the session stops reading (TCP flow control) instead of dropping or
// disconnecting.
//
// Its code is in three rooms: the read loop and the session's end (session.cpp), the admission
// checks (session_admission.cpp) and the storing of batches (session_storage.cpp); behind a load
// balancer, the PROXY protocol header that comes first is read in session_proxy.cpp.
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/ipnet.hpp"
#include "core/log_fields.hpp"
#include "core/rate_limiter.hpp"
#include "core/redis_async.hpp"
#include "protocol/framer.hpp"
#include "protocol/hmac.hpp"
#include "protocol/metaheader.hpp"
#include "server/admission.hpp"
#include "server/metrics.hpp"
#include "server/policy.hpp"
#include "server/policy_admission.hpp"
#include "server/proxy_protocol.hpp"
#include "server/session_state.hpp"
#include "server/stream_batch.hpp"
#include "server/transport.hpp"
#include "server/unauth_budget.hpp"

namespace d4::server {

using SteadyClock = std::chrono::steady_clock;

struct Peer {
  std::string ip;  // normalised text (reference rendering)
  core::IpAddress address;
  std::uint16_t port = 0;
  bool tls = true;
  // From a proxy_protocol_from source: a PROXY header comes first and names the sensor's address,
  // which then replaces the balancer's in this struct; the balancer's stays in proxy_ip.
  bool expects_proxy_header = false;
  std::string proxy_ip;
};

class Worker;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, boost::asio::ip::tcp::socket socket, TlsContext tls, Peer peer);
  ~Session();

  static boost::asio::awaitable<void> run(std::shared_ptr<Session> self);

  // Closes the connection for `reason` (recorded as a reject). Idempotent; the first reason wins.
  void abort(Reject reason, std::string detail);
  // Server shutdown: stop reading, store what was accepted, end the session. Not a reject.
  void shutdown();
  void check_timeouts(SteadyClock::time_point now);
  void apply_policy(const Policy& policy);
  void wake();  // re-evaluate pause conditions now
  void poll_backlog();

  const std::string& id() const { return session_id_; }
  bool closing() const { return state_.closing(); }

 private:
  // The read loop (session.cpp).
  boost::asio::awaitable<void> main();
  boost::asio::awaitable<void> process();
  bool verify_and_admit(const protocol::Packet& p);
  void on_end_of_stream();
  boost::asio::awaitable<void> finish();
  unsigned pause_causes(SteadyClock::time_point now);
  std::chrono::milliseconds pause_wait(unsigned causes);
  unsigned held_by_admission() const;  // admission causes (admission.hpp) holding this session now
  void set_paused(unsigned causes);
  void count_backpressure(unsigned started);
  void record_reject(Reject reason, const std::string& detail);
  void update_framer_options();
  std::size_t unauthenticated_read_size(std::size_t read_size);
  void account_unauthenticated_bytes();

  // A load balancer's PROXY protocol header (session_proxy.cpp).
  boost::asio::awaitable<bool> accept_proxy_header();
  boost::asio::awaitable<bool> read_proxy_header(proxy::Fixed& fixed, std::optional<proxy::Source>& source);
  boost::asio::awaitable<bool> after_local_command();
  bool adopt_proxied_source(const proxy::Source& source);
  void end_health_check();
  void refuse_incomplete_proxy_header(std::size_t received);
  bool refuse_stray_proxy_header(std::span<const std::uint8_t> first_bytes);
  void refuse_unexpected_proxy_header();

  // Admission (session_admission.cpp).
  SensorClaim claim() const;
  bool admit(AdmissionMoment when);
  boost::asio::awaitable<bool> check_first_header(const protocol::Header& h);
  boost::asio::awaitable<bool> load_sensor();
  bool check_next_header(const protocol::Header& h);
  bool check_clock_skew(const protocol::Header& h);
  boost::asio::awaitable<bool> identify(const protocol::Header& h);
  void switch_to_254();
  void block_peer_of_uuid();
  bool admit_meta_header_bytes(const protocol::Packet& p);

  // Storage (session_storage.cpp).
  void store(const protocol::Packet& p, SteadyClock::time_point read_time);
  void submit_batch();
  void send_batch(std::string&& request);
  void on_batch_done(boost::system::error_code ec, core::RedisReplies&& replies, std::string&& request);
  void reuse_request_buffer(std::string&& request);
  void retry_batch(std::string&& request);
  void confirm_batch(const BatchOutcome& outcome);
  void finish_stored_batch(const BatchOutcome& outcome, std::string&& request);
  void hold_for_replicas(core::RedisReplies&& replies, std::string&& request, long long replicas);
  void ask_replicas();
  bool stop_awaiting_replicas();
  void on_replicas_answer(boost::system::error_code ec, const core::RedisReplies& replies);
  void end_batch();
  long long backlog_estimate() const;
  SessionBacklog backlog_view() const;
  void learn_backlog_bytes(const core::RedisReply& session, const core::RedisReply& sensor);
  void uncount_duplicates(std::uint64_t bytes);
  void relay_batch(std::uint64_t number, std::uint64_t bytes);
  core::keys::KeyLayout layout() const;
  boost::asio::awaitable<void> store_remaining();
  boost::asio::awaitable<void> release_slot();
  void drop_incorrect_session_data();
  std::string live_value() const;  // server:instance_sessions value
  // session, source, source_port, sensor_uuid (claimed_sensor_uuid before the peer proved it holds
  // the key), type: the structured fields of this session's log lines.
  core::LogFields log_fields() const;

  bool switched() const { return type_ == 254; }  // 2 -> 254 happened (254 first is refused)

  Worker& worker_;
  Transport transport_;
  Peer peer_;
  std::string limiter_ip_;  // the address this connection counts for in the connection limiter
  std::string session_id_;  // random UUID v4 with dashes, as the reference
  long long start_ms_ = 0;  // wall clock, compared with kick times
  SessionState state_;
  protocol::Framer framer_;
  UnauthenticatedBudget::Hold unauth_hold_;  // this connection's share until it authenticates
  boost::asio::steady_timer wake_timer_;

  // Identity: tentative from the first header, confirmed by the first verified packet.
  protocol::Uuid uuid_;
  std::string uuid_hex_;
  std::uint8_t type_ = 0;
  std::string type_text_;
  bool type2_stored_ = false;
  std::uint64_t type2_bytes_ = 0;  // every type-2 payload byte of the session
  protocol::MetaHeaderAssembler meta_header_;
  std::optional<protocol::HmacKey> key_;
  long long backlog_limit_ = 0;
  core::RateLimiter rate_{0};  // rate_limit_by_uuid or rate_limit, once the sensor is known

  // Storage.
  std::string stream_key_;
  std::string worker_type_ = "-";  // session_uuid:<t> the session is announced in
  StreamIds stream_ids_;
  StreamBatch batch_;      // being filled
  StreamBatch in_flight_;  // submitted, awaiting confirmation
  bool batch_in_flight_ = false;
  // Cluster layout: batches sealed (the outbox items' numbers) and relays not yet confirmed (the
  // session ends only after them, so that its close applies after its last relay).
  std::uint64_t batches_sealed_ = 0;
  std::uint32_t relays_in_flight_ = 0;
  std::size_t pending_in_flight_size_ = 0;  // request bytes of the batch in flight
  std::unique_ptr<boost::asio::steady_timer> retry_timer_;
  // wait_replicas: the batch in flight is stored on the stream Redis but fewer replicas than asked
  // acknowledged it; EXEC's replies and the request wait here until enough do.
  bool awaiting_replicas_ = false;
  // Cluster layout: the batch in flight was sent again for its WAIT (not after a reconnect), so
  // its XADDs refused as duplicates are expected, not duplicate writes.
  bool resent_for_replicas_ = false;
  core::RedisReplies unreplicated_replies_;
  std::string unreplicated_request_;
  long long xlen_ = 0;
  // Unprocessed bytes in the stream Redis (d4:backlog:*) as of the last reply.
  std::uint64_t session_backlog_bytes_ = 0, sensor_backlog_bytes_ = 0;
  std::list<Session*>::iterator worker_entry_;  // in the worker's list: removed in O(1) at the end
  bool backlog_poll_in_flight_ = false;
  SteadyClock::time_point last_backlog_poll_{};
  std::uint64_t packets_stored_ = 0, bytes_stored_ = 0;

  // Reading.
  SteadyClock::time_point accepted_at_, ready_at_, last_activity_, partial_since_;
  bool awaiting_proxy_header_ = false;
  bool header_checked_ = false;  // the buffered packet's header passed its checks
  bool partial_ = false;         // part of a packet is buffered
  bool hold_ = false;            // complete packets wait in the buffer (backlog limit reached)
  unsigned paused_ = 0;

  // Ending.
  std::optional<Reject> reason_;
  std::string reason_detail_;
  std::int64_t pending_gauge_ = 0;  // this session's contribution to metrics.pending_bytes
};

}  // namespace d4::server
