#pragma once
// d4-server: listeners, worker threads, the policy refresher, the instance heartbeat and the
// reaper of dead instances, metrics/health endpoint, signals (SIGINT/SIGTERM stop, SIGHUP reload).
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/memory_trim.hpp"
#include "server/server_config.hpp"
#include "server/tls.hpp"
#include "server/unauth_budget.hpp"
#include "server/worker.hpp"

namespace d4::core::http {
class Server;
}

namespace d4::server {

class Server {
 public:
  explicit Server(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts everything and blocks until SIGINT/SIGTERM (or a fatal start-up error). Returns the
  // process exit code: 0 after a clean shutdown, 1 when start-up failed.
  int run();

  const ServerConfig& config() const { return config_; }
  const std::string& instance() const { return instance_; }
  ConnectionLimiter& limiter() { return limiter_; }
  UnauthenticatedBudget& unauthenticated_budget() { return unauth_budget_; }
  MemoryGate& memory_gate() { return memory_gate_; }

 private:
  boost::asio::awaitable<void> startup();
  boost::asio::awaitable<void> accept_loop(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor,
                                           bool tls);
  boost::asio::awaitable<void> policy_loop();
  boost::asio::awaitable<bool> refresh_policy();
  void publish_policy(std::shared_ptr<Policy> p);
  boost::asio::awaitable<long long> reap_instance(const std::string& id);
  boost::asio::awaitable<std::optional<std::string>> relay_outbox(const std::string& session);
  boost::asio::awaitable<void> heartbeat_loop();
  boost::asio::awaitable<void> memory_loop();
  boost::asio::awaitable<void> memory_budget_loop();  // the stream Redis's memory (admission.hpp)
  boost::asio::awaitable<void> poll_memory();
  boost::asio::awaitable<void> write_startup_state();
  boost::asio::awaitable<void> build_sensor_index();
  boost::asio::awaitable<void> shutdown_sequence();
  void open_listener(const ListenAddress& a, bool tls);
  void begin_shutdown(int exit_code);
  void reload();
  void start_metrics();
  void finish(int exit_code);
  Worker& pick_worker();
  TlsContext current_tls();
  std::string metrics_text();
  std::string health_json(bool& healthy);

  ServerConfig config_;
  std::string instance_;
  std::string instance_info_;
  ConnectionLimiter limiter_;
  UnauthenticatedBudget unauth_budget_;
  MemoryTrimmer trimmer_;  // worker 0's thread
  MemoryGate memory_gate_;
  // [0]: the control thread (accepts, runs the loops above, no sessions); [1..threads]: sessions.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::mutex tls_mutex_;
  TlsContext tls_;
  // Owned by worker 0's thread (the control thread).
  std::shared_ptr<const RuntimeOptions> runtime_;
  std::shared_ptr<const Policy> policy_;
  std::uint64_t policy_version_ = 0;
  // keys::kPolicyVersion as last read with the policy sets, and how many times they were read.
  std::string policy_source_version_;
  std::atomic<std::uint64_t> policy_source_reads_{0};
  std::vector<std::string> last_policy_warnings_;
  bool heartbeat_known_ = false;
  // Read by the metrics thread.
  std::atomic<bool> listening_{false};
  std::atomic<bool> policy_loaded_{false};
  std::atomic<long long> policy_loaded_at_ms_{0};
  std::atomic<std::uint64_t> policy_version_pub_{0};
  std::chrono::steady_clock::time_point started_at_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<core::http::Server> http_;
  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  int exit_code_ = 0;
};

}  // namespace d4::server
