#include "alerts/alerts_harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/http.hpp"

namespace d4::test {

void set_last_seen(core::RedisClient& meta, const std::string& uuid, long long last_seen) {
  meta.command_ok({"HSET", "metadata_uuid:" + uuid, "last_seen", std::to_string(last_seen)});
  meta.command_ok({"HSETNX", "metadata_uuid:" + uuid, "first_seen", std::to_string(last_seen)});
  meta.command_ok({"SADD", "sensor:index", uuid});
}

// ---- webhook receiver ----

WebhookReceiver::WebhookReceiver(std::uint16_t port) {
  core::http::Router router;
  router.post("/hook", [this](core::http::Request& req) {
    auto j = json::parse(req.body, nullptr, false);
    int answer = status.load();
    if (answer >= 200 && answer < 300) {
      std::lock_guard lock(mu_);
      bodies_.push_back(j.is_discarded() ? json{{"unparsable", req.body}} : j);
    }
    return core::http::Response::json(answer, json{{"ok", answer < 300}});
  });
  core::http::ServerOptions o;
  o.address = "127.0.0.1";
  o.port = port;
  server_ = std::make_unique<core::http::Server>(std::move(router), o);
  server_->start();
  port_ = server_->port();
}

WebhookReceiver::~WebhookReceiver() {
  server_->stop();
}

std::vector<json> WebhookReceiver::received() const {
  std::lock_guard lock(mu_);
  return bodies_;
}

std::vector<json> WebhookReceiver::events(const std::string& event) const {
  std::vector<json> out;
  for (const auto& b : received())
    if (b.value("event", "") == event) out.push_back(b);
  return out;
}

bool WebhookReceiver::wait_for_count(std::size_t n, std::chrono::milliseconds timeout) const {
  return eventually([&] { return received().size() >= n; }, timeout);
}

// ---- SMTP receiver ----

SmtpReceiver::SmtpReceiver(bool offer_starttls) {
  cert_ = dir_ / "smtp.crt";
  key_ = dir_ / "smtp.key";
  out_ = dir_ / "mail";
  std::filesystem::create_directories(out_);
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout '" +
      key_.string() + "' -out '" + cert_.string() + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("openssl could not create the SMTP certificate");
  std::vector<std::string> argv{"/usr/bin/python3",
                                D4_ALERTS_TEST_DIR "/smtp_receiver.py",
                                "--cert",
                                cert_.string(),
                                "--key",
                                key_.string(),
                                "--out",
                                out_.string()};
  if (!offer_starttls) argv.push_back("--plain");
  Process::Options po;
  po.stdout_file = dir_ / "smtp.log";
  po.stderr_file = dir_ / "smtp.log";
  proc_ = Process(argv, po);
  port_ = wait_for_listening(dir_ / "smtp.log", "smtp", proc_, 30s);
}

std::vector<json> SmtpReceiver::messages() const {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(out_))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<json> out;
  for (const auto& f : files) out.push_back(json::parse(read_text(f)));
  return out;
}

bool SmtpReceiver::wait_for_count(std::size_t n, std::chrono::milliseconds timeout) const {
  return eventually([&] { return messages().size() >= n; }, timeout);
}

// ---- the daemon and its CLI ----

AlertsHarness::AlertsHarness(int meta_db)
    : meta_db_(meta_db),
      meta_(*core::RedisEndpoint::parse(redis_.endpoint(meta_db))),
      analyzer_(*core::RedisEndpoint::parse(redis_.endpoint(2))),
      hook_(std::make_unique<WebhookReceiver>()) {}

void AlertsHarness::write_config(const std::string& alerts_settings, const std::string& extra) {
  std::string url = webhook_url.empty() ? hook_->url() : webhook_url;
  std::ostringstream c;
  c << "[redis]\nstream = \"" << redis_.endpoint(0) << "\"\nmeta = \"" << redis_.endpoint(meta_db_)
    << "\"\nanalyzer = \"" << redis_.endpoint(2) << "\"\n\n"
    << "[alerts]\ninterval_ms = 200\nresolve_seconds = 0\nrenotify_seconds = 0\nretry_min_ms = 200\n"
    << "retry_max_ms = 400\nmetrics_listen = \"127.0.0.1:0\"\nsource_name = \"d4-alerts-test\"\n"
    << alerts_settings << "\n\n[alerts.webhook.hook]\nurl = \"" << url << "\"\ntimeout_ms = 3000\n\n"
    << extra << "\n";
  write_text(dir_ / "d4.toml", c.str());
}

namespace {

Process launch_daemon(const std::filesystem::path& config, const std::filesystem::path& log) {
  Process::Options po;
  po.stderr_file = log;
  po.stdout_file = log;
  return Process({(bin_dir() / "d4-alerts").string(), "-c", config.string(), "run"}, po);
}

}  // namespace

void AlertsHarness::start_daemon() {
  if (!std::filesystem::exists(dir_ / "d4.toml")) write_config("");
  auto log = dir_ / ("d4-alerts-" + std::to_string(++runs_) + ".log");
  daemon_ = launch_daemon(dir_ / "d4.toml", log);
  metrics_port_ = wait_for_listening(log, "metrics and health, HTTP", daemon_, 30s);
}

AlertsHarness::Standby AlertsHarness::start_standby() {
  Standby s;
  s.log = dir_ / "d4-alerts-standby.log";
  s.process = launch_daemon(dir_ / "d4.toml", s.log);
  s.metrics_port = wait_for_listening(s.log, "metrics and health, HTTP", s.process, 30s);
  return s;
}

int AlertsHarness::stop_daemon() {
  return daemon_.stop();
}

std::string AlertsHarness::daemon_log() const {
  return runs_ ? read_text(dir_ / ("d4-alerts-" + std::to_string(runs_) + ".log")) : std::string();
}

CommandResult AlertsHarness::cli(const std::vector<std::string>& args) {
  if (!std::filesystem::exists(dir_ / "d4.toml")) write_config("");
  std::vector<std::string> argv{(bin_dir() / "d4-alerts").string(), "-c", (dir_ / "d4.toml").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process::Options po;
  po.stdout_file = dir_ / "cli.out";
  po.stderr_file = dir_ / "cli.err";
  Process p(argv, po);
  CommandResult r;
  r.status = p.wait(30s);
  r.out = read_text(dir_ / "cli.out");
  r.err = read_text(dir_ / "cli.err");
  return r;
}

std::string AlertsHarness::add_rule(const std::vector<std::string>& options) {
  std::vector<std::string> args{"rule", "add"};
  args.insert(args.end(), options.begin(), options.end());
  auto r = cli(args);
  EXPECT_EQ(r.status, 0) << r.err;
  std::string id = r.out.substr(0, r.out.find('\n'));
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{16}"))) << r.out << r.err;
  return id;
}

long long AlertsHarness::evaluations() {
  return meta_.command({"HGET", "d4:alerts:stats", "evaluations"}).as_integer().value_or(0);
}

bool AlertsHarness::wait_evaluations(long long more, std::chrono::milliseconds timeout) {
  long long target = evaluations() + more;
  return eventually([&] { return evaluations() >= target; }, timeout);
}

std::string AlertsHarness::metrics_text() {
  auto r = http_get(metrics_port_, "/metrics");
  return r ? r->body : std::string();
}

std::vector<std::string> AlertsHarness::metric_lines(const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(metrics_text());
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  return out;
}

}  // namespace d4::test
