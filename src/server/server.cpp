#include "server/server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include "core/http_server.hpp"
#include "core/keys.hpp"
#include "core/logging.hpp"
#include "protocol/clock.hpp"
#include "server/reject_record.hpp"
#include "server/scripts.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace d4::server {

namespace keys = core::keys;

namespace {

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Rejects decided at accept time, before any session exists (unauthenticated: per source).
void record_peer_reject(Worker& w, Reject reason, const Peer& peer, const std::string& detail) {
  record_reject(w, reason, {peer.address, peer.ip, {}, {}, {}}, detail);
  spdlog::info("connection from {} refused: {} ({})", peer.ip, reject_name(reason), detail);
}

void set_keepalive(tcp::socket& s, const ServerConfig& c) {
  int fd = s.native_handle();
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &c.keepalive_idle, sizeof c.keepalive_idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &c.keepalive_interval, sizeof c.keepalive_interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &c.keepalive_count, sizeof c.keepalive_count);
}

}  // namespace

Server::Server(ServerConfig config)
    : config_(std::move(config)),
      instance_(protocol::Uuid::generate_v4().dashless()),
      runtime_(std::make_shared<RuntimeOptions>(config_.runtime)),
      policy_(std::make_shared<Policy>()) {
  unsigned n = config_.threads ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
  // Worker 0 is the control thread (accept loops, policy, heartbeat, memory); sessions run on the
  // n others. Accepting a socket makes Asio allocate its reactor record on the accepting thread
  // and keep it for reuse, never freed: on a thread with sessions, a burst of connections left
  // one such record in every few pages of that thread's heap, which then could not be returned.
  for (unsigned i = 0; i <= n; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  nlohmann::json info;
  info["host"] = host;
  info["pid"] = getpid();
  info["started"] = clock::unix_millis() / 1000;
  std::vector<std::string> l;
  for (const auto& a : config_.listen) l.push_back(a.to_string() + " tls");
  for (const auto& a : config_.plain_listen) l.push_back(a.to_string() + " tcp");
  info["listen"] = l;
  info["threads"] = n;
  instance_info_ = info.dump();
}

Server::~Server() {
  for (auto& w : workers_) w->stop_loop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

TlsContext Server::current_tls() {
  std::lock_guard lock(tls_mutex_);
  return tls_;
}

Worker& Server::pick_worker() {
  Worker* best = workers_[1].get();
  for (auto it = workers_.begin() + 1; it != workers_.end(); ++it)
    if ((*it)->session_count() < best->session_count()) best = it->get();
  return *best;
}

int Server::run() {
  started_at_ = std::chrono::steady_clock::now();
  if (!config_.listen.empty()) {
    try {
      tls_ =
          make_tls_context({config_.tls_cert, config_.tls_key, config_.tls_client_ca,
                            config_.tls_require_client_cert, config_.tls_min_version, config_.tls_ciphers});
    } catch (const std::exception& e) {
      spdlog::critical("{} (create one with: d4-server --generate-cert <dir>)", e.what());
      return 1;
    }
  }
  for (auto& w : workers_) w->start();
  Worker& w0 = *workers_.front();
  asio::signal_set signals(w0.ioc(), SIGINT, SIGTERM);
  signals.add(SIGHUP);
  std::function<void()> arm;
  arm = [&] {
    signals.async_wait([&](error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload();
      } else {
        spdlog::info("signal {}: shutting down", sig);
        begin_shutdown(0);
      }
      arm();
    });
  };
  arm();
  asio::co_spawn(w0.ioc(), startup(), [this](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::critical("start-up failed: {}", ex.what());
      }
      begin_shutdown(1);
    }
  });
  for (auto& w : workers_) threads_.emplace_back([wp = w.get()] { wp->run(); });
  {
    std::unique_lock lock(done_mutex_);
    done_cv_.wait(lock, [&] { return done_; });
  }
  signals.cancel();
  for (auto& w : workers_) w->stop_loop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (http_) http_->stop();
  return exit_code_;
}

void Server::finish(int exit_code) {
  std::lock_guard lock(done_mutex_);
  exit_code_ = exit_code;
  done_ = true;
  done_cv_.notify_all();
}

asio::awaitable<void> Server::startup() {
  Worker& w0 = *workers_.front();
  const auto& redis = config_.common.redis;
  if (!co_await w0.stream().wait_connected(std::chrono::seconds(30)))
    throw std::runtime_error("cannot reach the stream Redis at " + redis.stream.to_string());
  if (!co_await w0.meta().wait_connected(std::chrono::seconds(30)))
    throw std::runtime_error("cannot reach the metadata Redis at " + redis.meta.to_string());
  co_await write_startup_state();
  co_await build_sensor_index();
  // Heartbeat first, so that our own claims are never mistaken for a dead instance's.
  std::string beat_req = scripts::eval(
      scripts::kHeartbeatScript, scripts::key_sets::heartbeat(redis.layout, instance_),
      {instance_,
       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(config_.instance_ttl).count()),
       instance_info_});
  error_code beat_ec;
  auto beat = co_await w0.stream().async_exec(std::move(beat_req), 1, true,
                                              asio::redirect_error(asio::use_awaitable, beat_ec));
  if (beat_ec || beat.size() != 1 || beat[0].is_error())
    throw std::runtime_error("heartbeat: " + (beat_ec ? beat_ec.message() : beat.empty() ? "" : beat[0].str));
  heartbeat_known_ = true;
  if (!co_await refresh_policy()) throw std::runtime_error("cannot load the sensor policy from Redis");
  // Listeners: a bind failure is fatal (port in use, address not available...).
  for (const auto& a : config_.listen) open_listener(a, true);
  for (const auto& a : config_.plain_listen) open_listener(a, false);
  start_metrics();
  // Sockets bound, TLS files read: from here on, the configured unprivileged user.
  core::drop_privileges("d4-server", config_.run_as);
  listening_ = true;
  spdlog::info("d4-server instance {} ready: mode {}, {} session threads, stream Redis {}, meta Redis {}",
               instance_, core::to_string(runtime_->mode), workers_.size() - 1, redis.stream.to_string(),
               redis.meta.to_string());
  asio::co_spawn(w0.ioc(), policy_loop(), asio::detached);
  asio::co_spawn(w0.ioc(), heartbeat_loop(), asio::detached);
  asio::co_spawn(w0.ioc(), memory_loop(), asio::detached);
  if (config_.memory_poll.count() > 0) asio::co_spawn(w0.ioc(), memory_budget_loop(), asio::detached);
}

// Memory of closed connections goes back to the system within seconds (see MemoryTrimmer).
asio::awaitable<void> Server::memory_loop() {
  while (!stopping_) {
    co_await sleep_for(std::chrono::seconds(1));
    if (trimmer_.maybe_trim(limiter_.released(), std::chrono::steady_clock::now()))
      spdlog::debug("connections closed: freed memory returned to the system");
  }
}

void Server::open_listener(const ListenAddress& a, bool tls) {
  Worker& w0 = *workers_.front();
  error_code ec;
  auto addr = asio::ip::make_address(a.host, ec);
  if (ec) throw std::runtime_error("listen address " + a.to_string() + ": " + ec.message());
  tcp::endpoint ep(addr, a.port);
  auto acc = std::make_shared<tcp::acceptor>(w0.ioc());
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && addr.is_v6() && addr.to_v6().is_unspecified()) acc->set_option(asio::ip::v6_only(false), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + a.to_string() + ": " + ec.message());
  acceptors_.push_back(acc);
  auto local = acc->local_endpoint();
  core::log_listening(tls ? "sensors, TLS" : "sensors, plain TCP", local.address().to_string(), local.port());
  asio::co_spawn(w0.ioc(), accept_loop(acc, tls), asio::detached);
}

asio::awaitable<void> Server::write_startup_state() {
  // Key by key (each accepted-types set by its own script): on a cluster they are in different
  // slots, and nothing here needs them written together.
  Worker& w0 = *workers_.front();
  std::vector<std::string> types, extended;
  for (int t : config_.default_accepted_types) types.push_back(std::to_string(t));
  for (const auto& e : config_.default_accepted_extended_types) extended.push_back(e);
  std::string req;
  core::RespWriter w(req);
  w.command({"SET", keys::kDefaultHmacKey, runtime_->default_hmac_key})
      .command({"SET", keys::kServerMode, core::to_string(runtime_->mode)})
      .command({"SET", keys::kFirstDate, local_date(clock::unix_millis() / 1000), "NX"});
  req += scripts::eval(scripts::kDefaultSetScript, {std::string(keys::kAcceptedTypes)}, types);
  req += scripts::eval(scripts::kDefaultSetScript, {std::string(keys::kAcceptedExtendedTypes)}, extended);
  // The policy changed for every instance when a set was created (and the key/mode may have).
  core::RespWriter(req).command({"INCR", keys::kPolicyVersion});
  const std::uint32_t n = w.commands() + 3;
  error_code ec;
  auto r =
      co_await w0.meta().async_exec(std::move(req), n, true, asio::redirect_error(asio::use_awaitable, ec));
  if (ec || r.size() != n) throw std::runtime_error("writing the server defaults: " + ec.message());
  for (const auto& reply : r)
    if (reply.is_error()) throw std::runtime_error("writing the server defaults: " + reply.str);
  if (r[3].integer == 1) spdlog::info("server:accepted_type created with the configured defaults");
}

// The sensor index (keys::kSensorIndex) lets d4-web list sensors without scanning the keyspace.
// Data written before it existed (an older version, the reference server) is indexed at start
// while the index does not exist (Redis drops empty sets: also while there is no sensor yet), in
// steps of 1,000 keys so that Redis is never blocked for long.
asio::awaitable<void> Server::build_sensor_index() {
  // (No braced lists inside co_await expressions: GCC 12 rejects them.)
  Worker& w0 = *workers_.front();
  // The cluster layout has no data of older versions or of the reference server to index (neither
  // runs on a cluster): every sensor hash it has was written by this implementation, which adds
  // the sensor to the index as it writes. (A SCAN names no key and would reach one master only.)
  if (config_.common.redis.layout == core::keys::KeyLayout::Cluster) co_return;
  const std::string index(keys::kSensorIndex);
  std::vector<std::string> exists_args = {"EXISTS", index};
  auto exists = co_await w0.meta().command(std::move(exists_args), true);
  if (exists.integer != 0) co_return;
  const std::string prefix = keys::sensor_metadata("");
  std::string cursor = "0";
  std::size_t indexed = 0;
  do {
    std::vector<std::string> scan = {"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000"};
    auto r = co_await w0.meta().command(std::move(scan), true);
    if (r.is_error() || r.elements.size() != 2) throw std::runtime_error("indexing sensors: " + r.describe());
    cursor = r.elements[0].str;
    std::vector<std::string> sadd = {"SADD", index};
    for (const auto& k : r.elements[1].as_strings()) sadd.push_back(k.substr(prefix.size()));
    if (sadd.size() > 2) {
      indexed += sadd.size() - 2;
      co_await w0.meta().command(std::move(sadd), true);
    }
  } while (cursor != "0");
  if (indexed) spdlog::info("indexed {} existing sensors in {}", indexed, index);
}

asio::awaitable<bool> Server::refresh_policy() {
  Worker& w0 = *workers_.front();
  const auto layout = config_.common.redis.layout;
  // The policy version (keys::kPolicyVersion): in the cluster layout the policy sets are re-read
  // only when it moved, since every writer of this stack announces its changes there. The
  // reference layout reads them every time: the reference tools change them without announcing.
  std::string version_req;
  core::RespWriter(version_req).command({"GET", keys::kPolicyVersion});
  error_code version_ec;
  auto version = co_await w0.meta().async_exec(std::move(version_req), 1, false,
                                               asio::redirect_error(asio::use_awaitable, version_ec));
  if (version_ec || version.size() != 1 || version[0].is_error()) co_return false;
  const std::string seen_version = version[0].as_string().value_or("");
  const bool reread =
      !policy_loaded_ || layout == core::keys::KeyLayout::Reference || seen_version != policy_source_version_;
  // Kicks named the reference way, read first so that the script can declare their keys.
  std::string kicks_req;
  core::RespWriter(kicks_req).command({"SMEMBERS", keys::live(layout, keys::kSensorsToKick)});
  error_code kicks_ec;
  auto kicks = co_await w0.stream().async_exec(std::move(kicks_req), 1, false,
                                               asio::redirect_error(asio::use_awaitable, kicks_ec));
  if (kicks_ec || kicks.size() != 1 || kicks[0].is_error()) co_return false;
  std::vector<std::string> stream_keys = {keys::live(layout, keys::kSensorsToKick),
                                          keys::live(layout, keys::kKicks),
                                          keys::live(layout, keys::kIncorrectTypeSessions)};
  std::vector<std::string> stream_args = {"30", "60000"};
  for (const auto& member : kicks[0].as_strings()) {
    stream_keys.push_back(
        keys::live(layout, keys::temp_blocklist_uuid(scripts::key_sets::normalized_uuid(member))));
    stream_args.push_back(member);
  }
  std::string stream_req = scripts::eval(scripts::kPolicyStreamScript, stream_keys, stream_args);
  error_code ec2;
  auto stream = co_await w0.stream().async_exec(std::move(stream_req), 1, false,
                                                asio::redirect_error(asio::use_awaitable, ec2));
  if (ec2 || stream.size() != 1) co_return false;
  if (stream[0].is_error()) {
    spdlog::warn("policy refresh: {}", stream[0].str);
    co_return false;
  }
  if (!reread) {
    // Same policy sets: only the stream state (kicks, sessions of the wrong type) is new.
    auto p = std::make_shared<Policy>(*policy_);
    apply_stream_state(*p, stream[0]);
    publish_policy(std::move(p));
    co_return true;
  }
  std::string meta_req;
  core::RespWriter mw(meta_req);
  mw.command({"GET", keys::kDefaultHmacKey})
      .command({"SMEMBERS", keys::kAcceptedTypes})
      .command({"SMEMBERS", keys::kAcceptedExtendedTypes})
      .command({"SMEMBERS", keys::kBlocklistIp})
      .command({"SMEMBERS", keys::kBlocklistUuid})
      .command({"SMEMBERS", keys::kBlocklistIpByUuid});
  std::uint32_t n = 6;
  bool registration = runtime_->mode == core::ServerMode::Registration;
  if (registration) {
    mw.command({"SMEMBERS", keys::kRegisteredUuids});
    ++n;
  }
  error_code ec1;
  auto meta = co_await w0.meta().async_exec(std::move(meta_req), n, false,
                                            asio::redirect_error(asio::use_awaitable, ec1));
  if (ec1 || meta.size() != n) co_return false;
  for (const auto& r : meta)
    if (r.is_error()) {
      spdlog::warn("policy refresh: {}", r.str);
      co_return false;
    }
  std::vector<std::string> warnings;
  auto p = build_policy(runtime_->mode, meta, stream[0], &warnings);
  if (p->default_key.empty()) p->default_key = runtime_->default_hmac_key;
  if (warnings != last_policy_warnings_) {
    for (const auto& w : warnings) spdlog::warn("policy: {}", w);
    last_policy_warnings_ = warnings;
  }
  policy_source_version_ = seen_version;
  ++policy_source_reads_;
  publish_policy(std::move(p));
  co_return true;
}

void Server::publish_policy(std::shared_ptr<Policy> p) {
  p->version = ++policy_version_;
  std::shared_ptr<const Policy> snapshot = std::move(p);
  policy_ = snapshot;
  for (auto& w : workers_) w->post_policy(snapshot);
  policy_loaded_ = true;
  policy_loaded_at_ms_ = clock::unix_millis();
  policy_version_pub_ = policy_version_;
}

asio::awaitable<void> Server::policy_loop() {
  bool failing = false;
  while (!stopping_) {
    co_await sleep_for(config_.policy_refresh);
    if (stopping_) break;
    bool ok = co_await refresh_policy();
    if (!ok && !failing) spdlog::warn("policy refresh failed (Redis unavailable?); keeping the last policy");
    if (ok && failing) spdlog::info("policy refresh works again");
    failing = !ok;
  }
}

asio::awaitable<void> Server::heartbeat_loop() {
  Worker& w0 = *workers_.front();
  const auto layout = config_.common.redis.layout;
  std::string ttl =
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(config_.instance_ttl).count());
  while (!stopping_) {
    co_await sleep_for(config_.heartbeat_interval);
    if (stopping_) break;
    error_code ec;
    std::string beat =
        scripts::eval(scripts::kHeartbeatScript, scripts::key_sets::heartbeat(layout, instance_),
                      {instance_, ttl, instance_info_});
    auto r = co_await w0.stream().async_exec(std::move(beat), 1, false,
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec || r.empty() || r[0].is_error()) continue;
    if (r[0].integer == 0 && heartbeat_known_) {
      // Our live-session records are gone: another instance reaped us after missed heartbeats, or
      // the stream Redis lost its data. Sessions restart cleanly rather than write into state
      // nobody tracks.
      spdlog::warn(
          "this instance's state was removed from the stream Redis; closing its sessions so sensors "
          "reconnect");
      for (auto& w : workers_) w->post_close_all(Reject::session_lost, "server state lost in Redis");
    }
    heartbeat_known_ = true;
    // Reap instances whose heartbeat expired: end their sessions and release their slots.
    std::string smembers;
    core::RespWriter(smembers).command({"SMEMBERS", keys::live(layout, keys::kServerInstances)});
    auto members = co_await w0.stream().async_exec(std::move(smembers), 1, false,
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec || members.empty()) continue;
    for (const auto& id : members[0].as_strings()) {
      if (id == instance_) continue;
      std::string exists;
      core::RespWriter(exists).command({"EXISTS", keys::live(layout, keys::server_instance(id))});
      auto alive = co_await w0.stream().async_exec(std::move(exists), 1, false,
                                                   asio::redirect_error(asio::use_awaitable, ec));
      if (ec || alive.empty() || alive[0].integer != 0) continue;
      auto reaped = co_await reap_instance(id);
      if (reaped >= 0)
        spdlog::warn("instance {} stopped sending heartbeats: ended its {} sessions and released their slots",
                     id, reaped);
    }
  }
}

// Ends the sessions of a dead instance one by one (each script declares the keys of its session),
// relaying first, in the cluster layout, the batches they stored whose bookkeeping the instance
// did not confirm (their outbox), then forgets the instance. Every step is idempotent: a reaper
// interrupted is followed by the next round, or by another instance. -1: not done (alive again,
// Redis unavailable).
asio::awaitable<long long> Server::reap_instance(const std::string& id) {
  Worker& w0 = *workers_.front();
  const auto layout = config_.common.redis.layout;
  const std::string sessions_key = keys::live(layout, keys::server_instance_sessions(id));
  const std::string heartbeat_key = keys::live(layout, keys::server_instance(id));
  error_code ec;
  std::string read;
  core::RespWriter(read).command({"HGETALL", sessions_key});
  auto h = co_await w0.stream().async_exec(std::move(read), 1, false,
                                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec || h.size() != 1 || h[0].is_error()) co_return -1;
  long long ended = 0;
  const auto fields = h[0].as_strings();
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& session = fields[i];
    // "<uuid> <type> <worker type>" (scripts.hpp).
    const std::string& value = fields[i + 1];
    const auto first = value.find(' '), second = value.find(' ', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string uuid = value.substr(0, first), type = value.substr(first + 1, second - first - 1),
                worker_type = value.substr(second + 1);
    if (layout == core::keys::KeyLayout::Cluster) {
      auto relayed = co_await relay_outbox(session);
      if (!relayed) co_return -1;
      if (*relayed != "-") worker_type = *relayed;
    }
    auto close_keys = scripts::key_sets::close(layout, session, uuid, type, worker_type, id);
    close_keys.push_back(heartbeat_key);
    std::string req =
        scripts::eval(scripts::reap_session_script(), close_keys, {session, uuid, type, worker_type, id});
    if (layout == core::keys::KeyLayout::Cluster)
      core::RespWriter(req).command({"HDEL", keys::live(layout, keys::kRelayedBatches), session});
    const std::uint32_t n = layout == core::keys::KeyLayout::Cluster ? 2 : 1;
    auto r = co_await w0.stream().async_exec(std::move(req), n, false,
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec || r.size() != n || r[0].is_error() || r[0].integer < 0) co_return -1;
    ++ended;
  }
  std::string finish =
      scripts::eval(scripts::kReapFinishScript,
                    {heartbeat_key, sessions_key, keys::live(layout, keys::kServerInstances)}, {id});
  auto r = co_await w0.stream().async_exec(std::move(finish), 1, false,
                                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec || r.size() != 1 || r[0].integer != 0) co_return -1;
  co_return ended;
}

// Cluster layout: applies the outbox items of a session of a dead instance to the live slot (the
// relay script applies each batch once whoever sends it), then deletes the outbox. Returns the
// worker type the items name ("-" when the outbox was empty), nullopt if Redis failed.
asio::awaitable<std::optional<std::string>> Server::relay_outbox(const std::string& session) {
  Worker& w0 = *workers_.front();
  const auto layout = config_.common.redis.layout;
  const std::string outbox = keys::session_outbox(session);
  error_code ec;
  std::string read;
  core::RespWriter(read).command({"HGETALL", outbox});
  auto h = co_await w0.stream().async_exec(std::move(read), 1, false,
                                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec || h.size() != 1 || h[0].is_error()) co_return std::nullopt;
  const auto fields = h[0].as_strings();
  std::vector<std::pair<unsigned long long, std::string>> items;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    unsigned long long n = 0;
    auto [p, e] = std::from_chars(fields[i].data(), fields[i].data() + fields[i].size(), n);
    if (e == std::errc() && p == fields[i].data() + fields[i].size()) items.emplace_back(n, fields[i + 1]);
  }
  std::sort(items.begin(), items.end());
  std::string worker_type = "-";
  for (const auto& [n, item] : items) {
    auto parsed = parse_outbox_item(item);
    if (!parsed) continue;
    worker_type = parsed->worker_type;
    std::string req = scripts::eval(
        scripts::kRelayScript, scripts::key_sets::relay(layout, parsed->uuid, parsed->worker_type, "-"),
        {session, std::to_string(n), std::to_string(parsed->bytes), parsed->uuid, ""});
    auto r = co_await w0.stream().async_exec(std::move(req), 1, false,
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec || r.size() != 1 || r[0].is_error()) co_return std::nullopt;
  }
  std::string del;
  core::RespWriter(del).command({"DEL", outbox});
  auto r = co_await w0.stream().async_exec(std::move(del), 1, false,
                                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec || r.size() != 1 || r[0].is_error()) co_return std::nullopt;
  co_return worker_type;
}

asio::awaitable<void> Server::memory_budget_loop() {
  while (!stopping_) {
    co_await poll_memory();
    co_await sleep_for(config_.memory_poll);
  }
}

asio::awaitable<void> Server::poll_memory() {
  // The stream Redis's memory and the number of sensors holding a backlog give the global budget
  // and each sensor's fair share (admission.hpp); every session reads them from the gate.
  // On a Redis Cluster INFO goes to every master, each with its own budget (admission.hpp).
  Worker& w0 = *workers_.front();
  std::string info_req;
  core::RespWriter(info_req).command({"INFO", "memory"});
  std::uint64_t stored_at_request = memory_gate_.stored_since_poll();
  error_code ec;
  auto per_master = co_await w0.stream().async_exec_every_master(
      std::move(info_req), 1, asio::redirect_error(asio::use_awaitable, ec));
  if (ec || per_master.empty()) co_return;  // unknown: keep the last state
  std::vector<RedisMemoryInfo> infos;
  for (const auto& replies : per_master) {
    if (replies.size() != 1 || replies[0].is_error()) co_return;
    auto info = parse_info_memory(replies[0].str);
    if (!info) co_return;
    infos.push_back(*info);
  }
  std::string hlen_req;
  core::RespWriter(hlen_req).command(
      {"HLEN", keys::live(config_.common.redis.layout, keys::kBacklogBytesBySensor)});
  auto r = co_await w0.stream().async_exec(std::move(hlen_req), 1, false,
                                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec || r.size() != 1 || r[0].is_error()) co_return;
  auto sensors = static_cast<std::uint64_t>(std::max(0LL, r[0].as_integer().value_or(0)));
  auto before = memory_gate_.current();
  auto budget = compute_memory_budget(infos, sensors, *runtime_);
  if (budget.full() != before.full() || (budget.fair_share() == 0) != (before.fair_share() == 0))
    spdlog::warn("stream Redis memory {} of a {} budget: {}", budget.used, budget.budget,
                 budget.full() ? std::string("every session waits")
                 : budget.fair_share() != 0
                     ? "sensors share it, " + std::to_string(budget.fair_share()) + " bytes each (" +
                           std::to_string(sensors) + " with a backlog)"
                     : std::string("no longer restricted"));
  if (memory_gate_.publish(budget, stored_at_request))
    for (auto& w : workers_) w->post_wake_held();
}

asio::awaitable<void> Server::accept_loop(std::shared_ptr<tcp::acceptor> acceptor, bool tls) {
  Worker& w0 = *workers_.front();
  auto last_error_log = std::chrono::steady_clock::time_point{};
  while (!stopping_) {
    Worker& target = pick_worker();
    error_code ec;
    tcp::socket socket =
        co_await acceptor->async_accept(target.ioc(), asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      auto now = std::chrono::steady_clock::now();
      if (now - last_error_log > std::chrono::seconds(5)) {
        spdlog::error("accept: {}", ec.message());
        last_error_log = now;
      }
      // Out of descriptors: give connections time to close instead of spinning.
      co_await sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    auto remote = socket.remote_endpoint(ec);
    if (ec) continue;
    Peer peer;
    auto a = remote.address();
    peer.address = a.is_v4() ? core::IpAddress::from_v4(a.to_v4().to_uint())
                             : core::IpAddress::from_v6(a.to_v6().to_bytes());
    peer.ip = peer.address.to_string();
    peer.port = remote.port();
    peer.tls = tls;
    if (auto m = policy_->blocked_ips.match(peer.address)) {
      record_peer_reject(w0, Reject::blocked_ip, peer, peer.ip + " matches blacklist_ip entry " + *m);
      continue;  // the socket closes here
    }
    // A load balancer's connections count for the sensor address its PROXY header names, not
    // against its own (session_proxy.cpp).
    peer.expects_proxy_header = runtime_->proxy_protocol_from.contains(peer.address);
    const std::size_t per_ip = peer.expects_proxy_header ? 0 : runtime_->max_connections_per_ip;
    if (auto r = limiter_.try_acquire(peer.ip, runtime_->max_connections, per_ip)) {
      record_peer_reject(w0, *r, peer, connection_limit_detail(*r, runtime_->max_connections, per_ip));
      continue;
    }
    set_keepalive(socket, config_);
    target.post_session(std::move(socket), tls ? current_tls() : nullptr, std::move(peer));
  }
}

void Server::reload() {
  if (config_.config_file.empty()) {
    spdlog::info("SIGHUP: no configuration file to reload");
    return;
  }
  ServerConfig fresh;
  try {
    fresh = load_server_config(config_.config_file);
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: configuration not reloaded: {}", e.what());
    return;
  }
  spdlog::set_level(spdlog::level::from_str(fresh.common.log.level));
  if (!config_.listen.empty()) {
    try {
      auto ctx = make_tls_context({fresh.tls_cert, fresh.tls_key, fresh.tls_client_ca,
                                   fresh.tls_require_client_cert, fresh.tls_min_version, fresh.tls_ciphers});
      std::lock_guard lock(tls_mutex_);
      tls_ = std::move(ctx);
    } catch (const std::exception& e) {
      spdlog::error("SIGHUP: keeping the current TLS certificate: {}", e.what());
    }
  }
  auto rt = std::make_shared<const RuntimeOptions>(fresh.runtime);
  bool key_or_mode_changed = rt->default_hmac_key != runtime_->default_hmac_key || rt->mode != runtime_->mode;
  runtime_ = rt;
  for (auto& w : workers_) w->post_runtime(rt);
  if (key_or_mode_changed) {
    asio::co_spawn(workers_.front()->ioc(), write_startup_state(), [](std::exception_ptr e) {
      if (e) spdlog::error("SIGHUP: could not write the default key/mode to Redis");
    });
  }
  auto listeners = [](const ServerConfig& c) {
    std::string s;
    for (const auto& a : c.listen) s += a.to_string() + ",";
    for (const auto& a : c.plain_listen) s += a.to_string() + ";";
    return s + c.metrics_listen;
  };
  if (listeners(fresh) != listeners(config_) || fresh.threads != config_.threads ||
      !(fresh.common.redis.stream == config_.common.redis.stream) ||
      !(fresh.common.redis.meta == config_.common.redis.meta))
    spdlog::warn("SIGHUP: listeners, threads and Redis endpoints only change on restart");
  spdlog::info("SIGHUP: configuration reloaded (mode {})", core::to_string(rt->mode));
}

void Server::begin_shutdown(int exit_code) {
  if (stopping_.exchange(true)) return;
  asio::co_spawn(
      workers_.front()->ioc(),
      [this, exit_code]() -> asio::awaitable<void> {
        co_await shutdown_sequence();
        finish(exit_code);
      },
      asio::detached);
}

asio::awaitable<void> Server::shutdown_sequence() {
  listening_ = false;
  for (auto& a : acceptors_) {
    error_code ec;
    a->close(ec);
  }
  for (auto& w : workers_) w->post_shutdown();
  // Wait until every session stored what it accepted and ended, and statistics are flushed.
  auto deadline = std::chrono::steady_clock::now() + config_.shutdown_timeout;
  for (;;) {
    bool all = true;
    for (auto& w : workers_) all = all && w->drained();
    if (all || std::chrono::steady_clock::now() > deadline) break;
    co_await sleep_for(std::chrono::milliseconds(20));
  }
  bool clean = true;
  for (auto& w : workers_) clean = clean && w->drained();
  Worker& w0 = *workers_.front();
  if (w0.stream().connected()) {
    error_code ec;
    std::string req;
    const auto layout = config_.common.redis.layout;
    core::RespWriter(req)
        .command({"DEL", keys::live(layout, keys::server_instance(instance_))})
        .command({"SREM", keys::live(layout, keys::kServerInstances), instance_});
    // Sessions still recorded (forced shutdown) are ended by the reaper of another instance, or
    // by the next start of any instance.
    if (clean)
      core::RespWriter(req).command({"DEL", keys::live(layout, keys::server_instance_sessions(instance_))});
    co_await w0.stream().async_exec(std::move(req), clean ? 3 : 2, false,
                                    asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!clean) {
    std::int64_t pending = 0;
    for (auto& w : workers_) pending += w->metrics().pending_bytes.load();
    spdlog::error(
        "shutdown timeout ({} s): {} accepted payload bytes not confirmed stored (Redis unavailable?)",
        config_.shutdown_timeout.count(), pending);
  } else {
    spdlog::info("shutdown complete: every accepted packet is stored");
  }
}

void Server::start_metrics() {
  if (config_.metrics_listen.empty()) return;
  auto a = parse_listen_address(config_.metrics_listen);
  core::http::Router router;
  router.get("/metrics", [this](core::http::Request&) {
    return core::http::Response::text(200, metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  router.get("/health", [this](core::http::Request&) {
    bool healthy = false;
    std::string body = health_json(healthy);
    core::http::Response r;
    r.status = healthy ? 200 : 503;
    r.content_type = "application/json";
    r.body = std::move(body);
    return r;
  });
  core::http::ServerOptions o;
  o.address = a.host;
  o.port = a.port;
  o.io_threads = 1;
  o.handler_threads = 1;
  o.max_connections = 64;
  o.server_header = "d4-server";
  http_ = std::make_unique<core::http::Server>(std::move(router), o);
  http_->start();
  core::log_listening("metrics and health, HTTP", a.host, http_->port());
}

std::string Server::metrics_text() {
  std::vector<const WorkerMetrics*> ms;
  std::vector<RedisGauge> redis;
  for (auto& w : workers_) {
    ms.push_back(&w->metrics());
    auto g = w->redis_gauges();
    redis.insert(redis.end(), g.begin(), g.end());
  }
  ServerGauges s;
  s.instance = instance_;
  s.policy_loaded = policy_loaded_;
  s.policy_version = policy_version_pub_;
  s.policy_set_reads = policy_source_reads_;
  s.policy_age_seconds =
      policy_loaded_ ? static_cast<double>(clock::unix_millis() - policy_loaded_at_ms_) / 1000.0 : 0;
  s.listening = listening_;
  s.unauthenticated_bytes = unauth_budget_.total();
  s.unauthenticated_peers = unauth_budget_.peers();
  s.memory = memory_gate_.current();
  s.memory_trims = trimmer_.trims();
  s.uptime_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_at_)
          .count();
  return render_prometheus(ms, redis, s);
}

std::string Server::health_json(bool& healthy) {
  nlohmann::json j;
  bool stream_up = true, meta_up = true;
  long long connections = 0;
  for (auto& w : workers_) {
    for (const auto& g : w->redis_gauges()) (g.name == "stream" ? stream_up : meta_up) &= g.connected;
    connections += w->metrics().connections_open.load();
  }
  double age =
      policy_loaded_ ? static_cast<double>(clock::unix_millis() - policy_loaded_at_ms_) / 1000.0 : -1;
  bool policy_fresh =
      policy_loaded_ && age < 10 * std::chrono::duration<double>(config_.policy_refresh).count() + 5;
  healthy = listening_ && stream_up && meta_up && policy_fresh;
  j["status"] = healthy ? "ok" : "degraded";
  j["instance"] = instance_;
  j["listening"] = listening_.load();
  j["redis"] = {{"stream", stream_up}, {"meta", meta_up}};
  j["policy_age_seconds"] = age;
  j["connections"] = connections;
  return j.dump();
}

}  // namespace d4::server
