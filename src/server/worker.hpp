#pragma once
// The worker pool's threads: each runs one io_context with its sensor sessions (session.hpp), one
// stream-Redis and one meta-Redis connection, and the meta batch of its statistics
// (meta_batch.hpp), flushed on an interval. The server (server.hpp) accepts connections on its
// control thread and hands each to a worker; policy snapshots, runtime options and shutdown
// reach the workers through thread-safe posts.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/redis_async.hpp"
#include "server/admission.hpp"
#include "server/connection_limiter.hpp"
#include "server/meta_batch.hpp"
#include "server/metrics.hpp"
#include "server/policy.hpp"
#include "server/server_config.hpp"
#include "server/session.hpp"
#include "server/transport.hpp"
#include "server/unauth_budget.hpp"

namespace d4::server {

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
  // A session's entry, which it hands back when it ends: removal costs the same with a thousand
  // sessions (a flood of short connections) as with one.
  std::list<Session*>::iterator add_session(Session* s) { return sessions_.insert(sessions_.end(), s); }
  void remove_session(std::list<Session*>::iterator entry);
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
