#include "server/worker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include "core/keys.hpp"
#include "protocol/clock.hpp"
#include "server/server.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace d4::server {

namespace keys = core::keys;

namespace {

core::AsyncRedis::Options redis_options(const char* role, unsigned index, const ServerConfig& config) {
  return core::AsyncRedis::Options{std::string(role) + "[" + std::to_string(index) + "]",
                                   std::chrono::milliseconds(2000),
                                   config.redis_reply_timeout,
                                   std::chrono::milliseconds(50),
                                   std::chrono::milliseconds(2000),
                                   1 << 20};
}

}  // namespace

Worker::Worker(Server& server, unsigned index)
    : server_(server),
      index_(index),
      stream_(ioc_, server.config().common.redis.stream,
              redis_options("stream-redis", index, server.config())),
      meta_(ioc_, server.config().common.redis.meta, redis_options("meta-redis", index, server.config())),
      policy_(std::make_shared<Policy>()),
      runtime_(std::make_shared<RuntimeOptions>(server.config().runtime)),
      sweep_timer_(ioc_),
      flush_timer_(ioc_) {
  update_clock();
  meta_batch_.set_layout(server.config().common.redis.layout);
  apply_meta_limits();
}

Worker::~Worker() = default;

const ServerConfig& Worker::config() const {
  return server_.config();
}
const std::string& Worker::instance() const {
  return server_.instance();
}
ConnectionLimiter& Worker::limiter() {
  return server_.limiter();
}
UnauthenticatedBudget& Worker::unauthenticated_budget() {
  return server_.unauthenticated_budget();
}
MemoryGate& Worker::memory_gate() const {
  return server_.memory_gate();
}

void Worker::post_wake_held() {
  asio::post(ioc_, [this] {
    for (auto* s : sessions_) s->wake();
  });
}

void Worker::start() {
  stream_.on_state_change([this](bool up) {
    stream_up_ = up;
    if (up) ever_connected_ = true;
    stream_down_since_ = SteadyClock::now();
    if (up)
      for (auto* s : sessions_) s->wake();
  });
  meta_.on_state_change([this](bool up) { meta_up_ = up; });
  stream_.start();
  meta_.start();
  sweep();
  flush_timer_.expires_after(config().flush_interval);
  flush_timer_.async_wait([this](error_code ec) {
    if (!ec) flush_meta();
  });
}

void Worker::run() {
  auto guard = asio::make_work_guard(ioc_);
  for (;;) {
    try {
      ioc_.run();
      break;
    } catch (const std::exception& e) {
      spdlog::critical("worker {}: unhandled error: {}", index_, e.what());
    }
  }
}

void Worker::stop_loop() {
  ioc_.stop();
}

void Worker::post_session(asio::ip::tcp::socket socket, TlsContext tls, Peer peer) {
  session_count_.fetch_add(1, std::memory_order_relaxed);
  drained_ = false;
  asio::post(ioc_, [this, s = std::move(socket), tls = std::move(tls), peer = std::move(peer)]() mutable {
    auto session = std::make_shared<Session>(*this, std::move(s), std::move(tls), std::move(peer));
    if (shutting_down_) session->shutdown();
    asio::co_spawn(ioc_, Session::run(session), asio::detached);
  });
}

void Worker::remove_session(std::list<Session*>::iterator entry) {
  sessions_.erase(entry);
  session_count_.fetch_sub(1, std::memory_order_relaxed);
  update_drained();
}

void Worker::post_policy(std::shared_ptr<const Policy> policy) {
  asio::post(ioc_, [this, p = std::move(policy)] {
    policy_ = p;
    for (auto* s : sessions_) s->apply_policy(*policy_);
  });
}

void Worker::post_runtime(std::shared_ptr<const RuntimeOptions> runtime) {
  asio::post(ioc_, [this, r = std::move(runtime)] {
    runtime_ = r;
    apply_meta_limits();
  });
}

void Worker::apply_meta_limits() {
  MetaBatch::Limits limits;
  limits.reject_sources_kept = runtime_->reject_sources_max;
  meta_batch_.set_limits(limits);
}

void Worker::post_shutdown() {
  asio::post(ioc_, [this] {
    shutting_down_ = true;
    for (auto* s : sessions_) s->shutdown();
    flush_meta();
    update_drained();
  });
}

void Worker::post_close_all(Reject reason, std::string detail) {
  asio::post(ioc_, [this, reason, d = std::move(detail)] {
    for (auto* s : sessions_) s->abort(reason, d);
  });
}

void Worker::update_clock() {
  long long now = clock::unix_seconds();
  if (now / 60 != clock_second_ / 60 || today_.empty()) today_ = local_date(now);
  clock_second_ = now;
}

void Worker::update_drained() {
  bool d = sessions_.empty() && session_count_.load() == 0 && meta_batch_.empty() &&
           stream_.pending_requests() == 0 && meta_.pending_requests() == 0;
  drained_ = d;
}

void Worker::sweep() {
  update_clock();
  auto now = SteadyClock::now();
  // A long stream-Redis outage ends every session (paused or waiting for data): sensors reconnect
  // and resend; what was accepted stays queued here and is stored once Redis is back.
  auto outage_limit = runtime().redis_outage_close_after;
  bool outage =
      !stream_up_ && ever_connected_ && outage_limit.count() > 0 && now - stream_down_since_ > outage_limit;
  for (auto* s : sessions_) {
    if (outage)
      s->abort(Reject::redis_unavailable,
               "Redis unavailable for more than " + std::to_string(outage_limit.count()) + " s");
    s->check_timeouts(now);
    s->poll_backlog();
  }
  stream_pending_ = stream_.pending_requests();
  meta_pending_ = meta_.pending_requests();
  update_drained();
  sweep_timer_.expires_after(config().sweep_interval);
  sweep_timer_.async_wait([this](error_code ec) {
    if (!ec) sweep();
  });
}

void Worker::flush_meta_soon() {
  if (flush_soon_) return;
  flush_soon_ = true;
  asio::post(ioc_, [this] {
    flush_soon_ = false;
    flush_meta();
  });
}

// One flush in flight at a time: while the meta Redis is slow or down, events keep being
// aggregated (bounded) in the batch instead of queueing a request per interval.
void Worker::flush_meta() {
  if (flush_calls_in_flight_ == 0 && !meta_batch_.empty()) {
    auto requests = meta_batch_.take_requests(keys::flush_marker(instance(), std::to_string(index_)),
                                              flush_seq_, today_, clock::unix_seconds());
    metrics_.flushes.fetch_add(1, std::memory_order_relaxed);
    flush_calls_in_flight_ = requests.size();
    for (auto& req : requests)
      meta_.submit(std::move(req), 1, /*retry_on_reconnect=*/true,
                   [this](error_code ec, core::RedisReplies&& rs) { on_flush_reply(ec, rs); });
  }
  flush_timer_.expires_after(config().flush_interval);
  flush_timer_.async_wait([this](error_code ec) {
    if (!ec) flush_meta();
  });
}

void Worker::on_flush_reply(error_code ec, const core::RedisReplies& rs) {
  if (flush_calls_in_flight_ && --flush_calls_in_flight_ == 0)
    metrics_.flushes_completed.fetch_add(1, std::memory_order_relaxed);
  if (ec || (!rs.empty() && rs[0].is_error())) metrics_.flush_errors.fetch_add(1, std::memory_order_relaxed);
  if (ec)
    spdlog::error("worker {}: statistics flush lost: {}", index_, ec.message());
  else if (!rs.empty() && rs[0].is_error())
    spdlog::error("worker {}: statistics flush refused: {}", index_, rs[0].str);
  else if (!rs.empty() && rs[0].elements.size() == 2)
    if (auto refused = rs[0].elements[1].as_integer(); refused && *refused > 0)
      metrics_.auto_blocks_refused.fetch_add(static_cast<std::uint64_t>(*refused), std::memory_order_relaxed);
  update_drained();
}

std::vector<RedisGauge> Worker::redis_gauges() const {
  std::vector<RedisGauge> out(2);
  out[0].name = "stream";
  out[0].worker = index_;
  out[0].connected = stream_up_;
  out[0].pending = stream_pending_;
  out[0].latency = stream_.latency().snapshot();
  out[1].name = "meta";
  out[1].worker = index_;
  out[1].connected = meta_up_;
  out[1].pending = meta_pending_;
  out[1].latency = meta_.latency().snapshot();
  return out;
}

}  // namespace d4::server
