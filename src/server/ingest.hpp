#pragma once
// The ingest path: worker threads (one io_context, one stream-Redis and one meta-Redis
// connection each) and the sensor sessions they run.
//
// A session reads into the protocol Framer (zero copy), applies the policy to each header before
// buffering its payload, verifies every packet's HMAC, and appends accepted packets to a
// MULTI/XADD.../EXEC batch with explicit, increasing stream ids. One batch per session is in
// flight at a time; a batch is "accepted" only when Redis confirms it. While Redis is slow or
// down, or the session's backlog is over its limit, the session stops reading (TCP flow control)
// instead of dropping or disconnecting.
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/ipnet.hpp"
#include "core/redis_async.hpp"
#include "protocol/framer.hpp"
#include "protocol/hmac.hpp"
#include "protocol/metaheader.hpp"
#include "server/admission.hpp"
#include "server/meta_batch.hpp"
#include "server/metrics.hpp"
#include "server/policy.hpp"
#include "server/server_config.hpp"
#include "server/transport.hpp"
#include "server/unauth_budget.hpp"

namespace d4::server {

using SteadyClock = std::chrono::steady_clock;

// Connection counting across threads (global and per peer IP).
class ConnectionLimiter {
 public:
  std::optional<Reject> try_acquire(const std::string& ip, std::size_t max_total, std::size_t max_per_ip);
  void release(const std::string& ip);
  std::size_t total() const;
  std::uint64_t released() const;  // connections closed since start

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> per_ip_;
  std::size_t total_ = 0;
  std::uint64_t released_ = 0;
};

struct Peer {
  std::string ip;  // normalised text (reference rendering)
  core::IpAddress address;
  std::uint16_t port = 0;
  bool tls = true;
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
  bool closing() const { return closing_; }

 private:
  enum class Phase { Handshake, Reading, Closing };

  boost::asio::awaitable<void> main();
  boost::asio::awaitable<void> process();
  boost::asio::awaitable<bool> check_first_header(const protocol::Header& h);
  bool check_next_header(const protocol::Header& h);
  boost::asio::awaitable<bool> identify(const protocol::Header& h);
  void on_end_of_stream();
  boost::asio::awaitable<void> finish();
  boost::asio::awaitable<void> store_remaining();
  boost::asio::awaitable<void> release_slot();
  void drop_incorrect_session_data();
  bool admit_meta_header_bytes(const protocol::Packet& p);
  void store(const protocol::Packet& p, SteadyClock::time_point read_time);
  void submit_batch();
  void on_batch_done(boost::system::error_code ec, core::RedisReplies&& replies, std::string&& request);
  void switch_to_254();
  unsigned pause_causes(SteadyClock::time_point now);
  long long backlog_estimate() const;
  SessionBacklog backlog_view() const;
  unsigned held_by_admission() const;  // admission causes (admission.hpp) holding this session now
  void set_paused(unsigned causes);
  void count_backpressure(unsigned started);
  void learn_backlog_bytes(const core::RedisReply& session, const core::RedisReply& sensor);
  void uncount_duplicates(std::uint64_t bytes);
  bool check_clock_skew(const protocol::Header& h);
  void record_reject(Reject reason, const std::string& detail);
  void block_peer_of_uuid();
  void update_framer_options();
  std::size_t unauthenticated_read_size(std::size_t read_size);
  void account_unauthenticated_bytes();
  std::string next_stream_id();
  std::string live_value() const;  // server:instance_sessions value

  Worker& worker_;
  Transport transport_;
  Peer peer_;
  std::string session_id_;  // random UUID v4 with dashes, as the reference
  long long start_ms_ = 0;  // wall clock, compared with kick times
  Phase phase_ = Phase::Handshake;
  protocol::Framer framer_;
  UnauthenticatedBudget::Hold unauth_hold_;  // this connection's share until it authenticates
  boost::asio::steady_timer wake_timer_;

  // Identity: tentative from the first header, confirmed by the first verified packet.
  bool have_first_header_ = false;
  bool identified_ = false;
  bool claimed_ = false;  // holds the (uuid, type) slot / live-session records in Redis
  bool header_checked_ = false;
  bool hmac_verified_ = false;        // a packet verified with the sensor's key
  bool block_ip_after_auth_ = false;  // the UUID is in blacklist_ip_by_uuid
  protocol::Uuid uuid_;
  std::string uuid_hex_;
  std::uint8_t type_ = 0;
  std::string type_text_;
  bool switched_ = false;  // 2 -> 254 happened
  bool type2_stored_ = false;
  std::uint64_t type2_bytes_ = 0;  // every type-2 payload byte of the session
  protocol::MetaHeaderAssembler meta_header_;
  std::optional<protocol::HmacKey> key_;
  long long backlog_limit_ = 0;
  std::uint64_t rate_limit_ = 0;
  double rate_tokens_ = 0;
  SteadyClock::time_point rate_last_{};

  // Storage.
  std::string stream_key_;
  std::string worker_type_ = "-";  // session_uuid:<t> the session is announced in
  std::uint64_t last_id_ms_ = 0, id_seq_ = 0;
  struct TypeCount {
    std::uint8_t type;
    std::uint64_t packets, bytes;
  };
  struct Batch {
    std::string resp;
    std::uint32_t commands = 0;
    std::uint64_t packets = 0, bytes = 0;
    std::vector<TypeCount> types;
    std::vector<std::pair<SteadyClock::time_point, std::uint32_t>> reads;  // read time, packets
    void clear() {
      resp.clear();
      commands = 0;
      packets = bytes = 0;
      types.clear();
      reads.clear();
    }
  };
  Batch batch_;      // being filled
  Batch in_flight_;  // submitted, awaiting confirmation
  bool batch_in_flight_ = false;
  std::size_t pending_in_flight_size_ = 0;  // request bytes of the batch in flight
  std::unique_ptr<boost::asio::steady_timer> retry_timer_;
  long long xlen_ = 0;
  // Unprocessed bytes in the stream Redis (d4:backlog:*) as of the last reply.
  std::uint64_t session_backlog_bytes_ = 0, sensor_backlog_bytes_ = 0;
  bool backlog_poll_in_flight_ = false;
  SteadyClock::time_point last_backlog_poll_{};
  bool first_confirmed_ = false;
  std::uint64_t packets_stored_ = 0, bytes_stored_ = 0;

  // Timing.
  SteadyClock::time_point accepted_at_, ready_at_, last_activity_, partial_since_;
  bool partial_ = false;
  bool hold_ = false;  // complete packets wait in the buffer (backlog limit reached)
  unsigned paused_ = 0;

  // Closing.
  bool closing_ = false;
  bool shutdown_ = false;
  std::optional<Reject> reason_;
  std::string reason_detail_;
  std::int64_t pending_gauge_ = 0;  // this session's contribution to metrics.pending_bytes
  bool counted_identified_ = false;
};

class Server;

class Worker {
 public:
  Worker(Server& server, unsigned index);
  ~Worker();

  void start();      // starts Redis clients and timers (call before run)
  void run();        // thread body: runs the io_context until stopped
  void stop_loop();  // stops the io_context (after a drain)

  boost::asio::io_context& ioc() { return ioc_; }
  unsigned index() const { return index_; }
  // Thread-safe entry points (post to this worker).
  void post_session(boost::asio::ip::tcp::socket socket, TlsContext tls, Peer peer);
  void post_policy(std::shared_ptr<const Policy> policy);
  void post_runtime(std::shared_ptr<const RuntimeOptions> runtime);
  void post_shutdown();  // close every session (not a reject)
  void post_close_all(Reject reason, std::string detail);
  std::size_t session_count() const { return session_count_.load(std::memory_order_relaxed); }
  bool drained() const { return drained_.load(std::memory_order_relaxed); }

  // For sessions (worker thread only).
  core::AsyncRedis& stream() { return stream_; }
  core::AsyncRedis& meta() { return meta_; }
  MetaBatch& meta_batch() { return meta_batch_; }
  WorkerMetrics& metrics() { return metrics_; }
  const WorkerMetrics& metrics() const { return metrics_; }
  const Policy& policy() const { return *policy_; }
  const RuntimeOptions& runtime() const { return *runtime_; }
  const ServerConfig& config() const;
  const std::string& instance() const;
  ConnectionLimiter& limiter();
  UnauthenticatedBudget& unauthenticated_budget();
  MemoryGate& memory_gate() const;
  void post_wake_held();  // thread-safe: the memory budget relaxed, held sessions re-check
  const std::string& today() const { return today_; }
  void add_session(Session* s) { sessions_.push_back(s); }
  void remove_session(Session* s);
  void flush_meta_soon();
  // Thread-safe snapshot for metrics.
  std::vector<RedisGauge> redis_gauges() const;

 private:
  void sweep();
  void flush_meta();
  void on_flush_reply(boost::system::error_code ec, const core::RedisReplies& rs);
  void apply_meta_limits();
  void update_clock();
  void update_drained();

  Server& server_;
  unsigned index_;
  boost::asio::io_context ioc_{1};
  core::AsyncRedis stream_;
  core::AsyncRedis meta_;
  MetaBatch meta_batch_;
  std::uint64_t flush_seq_ = 0;  // sequence number of the last flush call (exactly once)
  std::size_t flush_calls_in_flight_ = 0;
  WorkerMetrics metrics_;
  std::shared_ptr<const Policy> policy_;
  std::shared_ptr<const RuntimeOptions> runtime_;
  std::list<Session*> sessions_;
  std::atomic<std::size_t> session_count_{0};
  std::atomic<bool> drained_{true};
  boost::asio::steady_timer sweep_timer_;
  boost::asio::steady_timer flush_timer_;
  bool flush_soon_ = false;
  std::string today_;
  long long clock_second_ = 0;
  bool shutting_down_ = false;
  // Gauges copied for the metrics thread.
  std::atomic<bool> stream_up_{false}, meta_up_{false};
  bool ever_connected_ = false;
  SteadyClock::time_point stream_down_since_{};
  std::atomic<std::size_t> stream_pending_{0}, meta_pending_{0};
};

}  // namespace d4::server
