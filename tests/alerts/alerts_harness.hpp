#pragma once
// Test harness for d4-alerts: a real redis-server, the real d4-alerts executable (daemon and CLI),
// a real HTTP webhook receiver in the test process (the project's HTTP server on loopback) and a
// real SMTP server with STARTTLS (aiosmtpd, smtp_receiver.py) in a child process.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/http_server.hpp"
#include "core/redis_client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

namespace d4::test {

// The sensor the alert tests report conditions for.
inline const std::string kSensor = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";

using namespace std::chrono_literals;
using nlohmann::json;

// Records every JSON body POSTed to /hook; answers `status` (200 unless a test changes it).
class WebhookReceiver {
 public:
  // port 0: a free port chosen by the kernel; another: that port (reserved by the test).
  explicit WebhookReceiver(std::uint16_t port = 0);
  ~WebhookReceiver();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<json> received() const;
  // The received notifications with this "event" (firing, resolved, reminder).
  std::vector<json> events(const std::string& event) const;
  bool wait_for_count(std::size_t n, std::chrono::milliseconds timeout = 20s) const;
  std::atomic<int> status{200};

 private:
  std::unique_ptr<core::http::Server> server_;
  std::uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<json> bodies_;
};

// smtp_receiver.py: STARTTLS required (unless plain), AUTH PLAIN/LOGIN as d4/secret, each message
// saved as <dir>/<n>.json ({"mail_from", "rcpt_tos", "tls", "auth", "data"}).
class SmtpReceiver {
 public:
  explicit SmtpReceiver(bool offer_starttls = true);
  int port() const { return port_; }
  const std::filesystem::path& ca_file() const { return cert_; }
  std::vector<json> messages() const;
  bool wait_for_count(std::size_t n, std::chrono::milliseconds timeout = 20s) const;

 private:
  TempDir dir_;
  std::filesystem::path cert_, key_, out_;
  Process proc_;
  int port_ = 0;
};

struct CommandResult {
  int status = -1;
  std::string out, err;
};

class AlertsHarness {
 public:
  // meta_db: the metadata database (d4-server's test harness uses db 1); analyzer: db 2.
  explicit AlertsHarness(int meta_db = 0);
  // The [redis] and [alerts] settings of the daemon and CLI: fast evaluations (200 ms), resolving
  // at once, no reminders, quick retries; `extra` is appended (more [alerts] keys, channels).
  void write_config(const std::string& alerts_settings, const std::string& extra = {});
  void start_daemon();  // waits for its metrics endpoint
  int stop_daemon();
  // A second daemon on the same configuration (it stands by while the first holds the lock).
  struct Standby {
    Process process;
    int metrics_port = 0;
    std::filesystem::path log;
  };
  Standby start_standby();
  // Runs `d4-alerts -c <config> <args>` to completion.
  CommandResult cli(const std::vector<std::string>& args);
  // `rule add` with these options; returns the new rule's id (fails the test otherwise).
  std::string add_rule(const std::vector<std::string>& options);
  // Evaluations completed so far (d4:alerts:stats), and a wait for `n` more.
  long long evaluations();
  bool wait_evaluations(long long more, std::chrono::milliseconds timeout = 20s);
  std::string metrics_text();
  // Lines of /metrics starting with `prefix` (e.g. "d4_alerts_firing{").
  std::vector<std::string> metric_lines(const std::string& prefix);
  std::string daemon_log() const;

  RedisServer& redis() { return redis_; }
  core::RedisClient& meta() { return meta_; }
  core::RedisClient& analyzer() { return analyzer_; }
  WebhookReceiver& hook() { return *hook_; }
  void replace_hook(std::unique_ptr<WebhookReceiver> hook) { hook_ = std::move(hook); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  int metrics_port() const { return metrics_port_; }
  std::string webhook_url;  // where [alerts.webhook.hook] posts; default: the receiver's

 private:
  int meta_db_;
  RedisServer redis_;
  TempDir dir_;
  core::RedisClient meta_, analyzer_;
  std::unique_ptr<WebhookReceiver> hook_;
  Process daemon_;
  int metrics_port_ = 0;
  int runs_ = 0;
};

// Sets metadata_uuid:<uuid> last_seen (and first_seen) and indexes the sensor, as d4-server does.
void set_last_seen(core::RedisClient& meta, const std::string& uuid, long long last_seen);

}  // namespace d4::test
