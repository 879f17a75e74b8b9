#include "core/redis_async.hpp"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cmath>
#include <deque>

#include <spdlog/spdlog.h>

#include "core/redis_async_cluster.hpp"
#include "core/redis_client.hpp"  // Backoff
#include "core/redis_handshake.hpp"
#include "protocol/tls_client.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace d4::core {

// ---------------------------------------------------------------------------------------------
namespace {

// boost::system::error_category has a protected non-virtual destructor by design (categories
// are never deleted through a base pointer); the warning does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class AsyncCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "d4.redis_async"; }
  std::string message(int ev) const override {
    switch (static_cast<RedisAsyncError>(ev)) {
      case RedisAsyncError::not_connected:
        return "not connected to Redis";
      case RedisAsyncError::connection_lost:
        return "connection to Redis lost before the reply";
      case RedisAsyncError::stopped:
        return "Redis client stopped";
    }
    return "unknown Redis client error";
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& redis_async_category() {
  static const AsyncCategory c;
  return c;
}

// ---------------------------------------------------------------------------------------------
struct AsyncReaderFree {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};

// One connection to one node: a plain socket, or a TLS stream over it (rediss://), and its reply
// parser. Operations pending on it share it, so a link replaced by a reconnect outlives them.
struct RedisLink {
  using Socket = asio::generic::stream_protocol::socket;
  explicit RedisLink(asio::io_context& io) : plain(io) {}
  Socket plain;  // moved into `tls` for rediss://
  std::unique_ptr<asio::ssl::context> context;
  std::unique_ptr<asio::ssl::stream<Socket>> tls;
  RedisTls tls_settings;
  std::unique_ptr<redisReader, AsyncReaderFree> reader;
  bool timed_out = false;

  // Runs fn on the stream in use; one test per operation keeps the plain path as it was.
  template <typename Fn>
  auto visit(Fn&& fn) {
    return tls ? fn(*tls) : fn(plain);
  }
  void close() {
    error_code ignored;
    (tls ? tls->next_layer() : plain).close(ignored);
  }
};

// ---------------------------------------------------------------------------------------------
struct AsyncRedis::Impl : std::enable_shared_from_this<Impl> {
  using Socket = asio::generic::stream_protocol::socket;
  enum class State { Idle, Connecting, Connected, Backoff, Stopped };

  struct Request {
    std::string resp;
    std::uint32_t commands = 1;
    bool retry = false;
    Callback callback;
    ReturningCallback returning_callback;
    RedisReplies replies;

    void complete(error_code ec, RedisReplies&& rs) {
      if (callback)
        callback(ec, std::move(rs));
      else if (returning_callback)
        returning_callback(ec, std::move(rs), std::move(resp));
    }
    std::chrono::steady_clock::time_point sent{};
  };

  Impl(asio::io_context& io, RedisEndpoint ep, Options o)
      : ioc(io),
        endpoint(std::move(ep)),
        options(std::move(o)),
        backoff_timer(io),
        watchdog(io),
        backoff(options.backoff_min, options.backoff_max),
        read_buffer(64 * 1024) {}

  asio::io_context& ioc;
  RedisEndpoint endpoint;
  Options options;
  std::shared_ptr<RedisLink> link;  // the connection in use (null before the first)
  asio::steady_timer backoff_timer;
  asio::steady_timer watchdog;
  Backoff backoff;
  State state = State::Idle;
  std::uint64_t generation = 0;  // bumped whenever a connection ends, invalidating its handlers
  std::deque<Request> queue;     // the first `in_flight` requests were written, the rest wait
  std::size_t in_flight = 0;
  std::size_t queued_bytes = 0;
  bool writing = false;
  bool write_scheduled = false;
  std::vector<asio::const_buffer> write_buffers;
  std::string last_error;  // why the last connection attempt failed
  std::vector<char> read_buffer;
  std::uint64_t connections = 0;
  LatencyHistogram latency;
  std::function<void(bool)> state_callback;
  bool logged_down = false;

  void start() {
    if (state != State::Idle) return;
    state = State::Connecting;
    asio::co_spawn(ioc, connect_loop(shared_from_this()), asio::detached);
    arm_watchdog();
  }

  void arm_watchdog() {
    watchdog.expires_after(std::chrono::seconds(1));
    watchdog.async_wait([w = weak_from_this()](error_code ec) {
      auto self = w.lock();
      if (!self || ec || self->state == State::Stopped) return;
      if (self->state == State::Connected && self->in_flight > 0 &&
          std::chrono::steady_clock::now() - self->queue.front().sent > self->options.reply_timeout) {
        spdlog::warn("{}: no reply from {} for {} ms, reconnecting", self->options.name,
                     self->endpoint.to_string(), self->options.reply_timeout.count());
        self->fail_connection(asio::error::timed_out);
      }
      self->arm_watchdog();
    });
  }

  static asio::awaitable<void> connect_loop(std::shared_ptr<Impl> self) {
    while (self->state != State::Stopped) {
      self->state = State::Connecting;
      error_code ec;
      std::string detail;
      co_await self->try_connect(ec, detail);
      if (self->state == State::Stopped) co_return;
      if (!ec) {
        self->on_connected();
        co_return;
      }
      self->last_error = detail.empty() ? ec.message() : detail;
      if (!self->logged_down) {
        spdlog::warn("{}: cannot connect to {}: {}", self->options.name, self->endpoint.to_string(),
                     self->last_error);
        self->logged_down = true;
      }
      self->state = State::Backoff;
      self->backoff_timer.expires_after(self->backoff.next());
      error_code wait_ec;
      co_await self->backoff_timer.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
    }
  }

  // Connects to the endpoint (through Sentinel: to the master the sentinels name, asked in turn),
  // authenticates, selects the db and checks that Redis serves commands (not LOADING).
  asio::awaitable<void> try_connect(error_code& ec, std::string& detail) {
    if (!endpoint.uses_sentinel()) {
      co_await connect_node(endpoint, false, ec, detail);
      co_return;
    }
    std::string errors;
    for (const auto& sentinel : endpoint.sentinels) {
      RedisEndpoint at = endpoint.at_node(sentinel);
      std::string where = "Sentinel " + at.to_string();
      auto to_sentinel = std::make_shared<RedisLink>(ioc);
      auto deadline = arm_deadline(to_sentinel);
      RedisHandshake q = sentinel_query(endpoint);
      RedisReplies replies;
      co_await open_link(*to_sentinel, at, ec, detail);
      if (!ec) co_await exchange(*to_sentinel, q, replies, ec, detail);
      deadline.finish();
      to_sentinel->close();
      std::optional<RedisNode> master;
      if (!ec) master = master_from_sentinel(q, replies, endpoint.sentinel_master, &detail);
      if (master) {
        where += " -> master " + endpoint.at_node(*master).to_string();
        co_await connect_node(endpoint.at_node(*master), true, ec, detail);
        if (!ec) co_return;
      }
      errors += (errors.empty() ? "" : "; ") + where + ": " + (detail.empty() ? ec.message() : detail);
      detail.clear();
    }
    ec = asio::error::connection_refused;
    detail = "no Sentinel gave a reachable master \"" + endpoint.sentinel_master + "\": " + errors;
  }

  // A connect or handshake that hangs is cut by closing the link, unless finish() came first (a
  // timer whose handler was already queued then leaves the link alone).
  struct Deadline {
    std::shared_ptr<asio::steady_timer> timer;
    std::shared_ptr<bool> done;
    void finish() {
      *done = true;
      timer->cancel();
    }
  };
  Deadline arm_deadline(const std::shared_ptr<RedisLink>& l) {
    Deadline d{std::make_shared<asio::steady_timer>(ioc, options.connect_timeout),
               std::make_shared<bool>(false)};
    d.timer->async_wait([l, done = d.done](error_code e) {
      if (!e && !*done) {
        l->timed_out = true;
        l->close();
      }
    });
    return d;
  }

  // One node: connect, [TLS], [AUTH] [SELECT] [ROLE] PING; on success it becomes the connection.
  asio::awaitable<void> connect_node(const RedisEndpoint& node, bool check_role, error_code& ec,
                                     std::string& detail) {
    auto fresh = std::make_shared<RedisLink>(ioc);
    auto deadline = arm_deadline(fresh);
    co_await open_link(*fresh, node, ec, detail);
    RedisHandshake h = node_handshake(node, true, check_role);
    RedisReplies replies;
    if (!ec) co_await exchange(*fresh, h, replies, ec, detail);
    deadline.finish();
    if (!ec) {
      if (auto bad = check_node_handshake(h, replies)) {
        detail = "handshake: " + *bad;  // wrong password, missing ACL right, bad db, LOADING, replica
        ec = asio::error::connection_refused;
      }
    }
    if (ec) {
      fresh->close();
      co_return;
    }
    link = std::move(fresh);
  }

  // Socket (unix or TCP, every resolved address in turn) and, for rediss://, the TLS handshake.
  asio::awaitable<void> open_link(RedisLink& l, const RedisEndpoint& node, error_code& ec,
                                  std::string& detail) {
    bool is_tcp = node.unix_socket.empty();
    if (!is_tcp) {
      asio::local::stream_protocol::endpoint ep(node.unix_socket);
      co_await l.plain.async_connect(asio::generic::stream_protocol::endpoint(ep),
                                     asio::redirect_error(asio::use_awaitable, ec));
    } else {
      asio::ip::tcp::resolver resolver(ioc);
      auto results = co_await resolver.async_resolve(node.host, std::to_string(node.port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        ec = asio::error::host_not_found;
        for (const auto& r : results) {
          error_code e2;
          if (l.plain.is_open()) l.plain.close(e2);
          co_await l.plain.async_connect(asio::generic::stream_protocol::endpoint(r.endpoint()),
                                         asio::redirect_error(asio::use_awaitable, ec));
          if (!ec || l.timed_out) break;
        }
      }
    }
    if (l.timed_out) ec = asio::error::timed_out;
    if (ec) co_return;
    if (is_tcp) {
      int one = 1;
      ::setsockopt(l.plain.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (!node.tls.enabled) co_return;
    try {
      l.context = std::make_unique<asio::ssl::context>(protocol::new_tls_client_context(node.tls));
    } catch (const std::runtime_error& e) {
      detail = e.what();  // a CA, certificate or key file that cannot be loaded
      ec = asio::error::invalid_argument;
      co_return;
    }
    l.tls = std::make_unique<asio::ssl::stream<Socket>>(std::move(l.plain), *l.context);
    l.tls_settings = node.tls;
    protocol::prepare_tls_client(l.tls->native_handle(), node.tls, node.host);
    co_await l.tls->async_handshake(asio::ssl::stream_base::client,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (l.timed_out) ec = asio::error::timed_out;
    if (ec) detail = protocol::tls_client_failure(l.tls->native_handle(), node.tls, ec.message(), true);
  }

  // Writes the handshake's commands at once and reads one reply each (a new parser per link).
  asio::awaitable<void> exchange(RedisLink& l, const RedisHandshake& h, RedisReplies& replies, error_code& ec,
                                 std::string& detail) {
    l.reader.reset(redisReaderCreate());
    co_await l.visit([&](auto& stream) {
      return asio::async_write(stream, asio::buffer(h.resp), asio::redirect_error(asio::use_awaitable, ec));
    });
    while (!ec && replies.size() < h.commands()) {
      std::size_t len = co_await l.visit([&](auto& stream) {
        return stream.async_read_some(asio::buffer(read_buffer),
                                      asio::redirect_error(asio::use_awaitable, ec));
      });
      if (ec) break;
      redisReaderFeed(l.reader.get(), read_buffer.data(), len);
      void* raw = nullptr;
      while (replies.size() < h.commands() && redisReaderGetReply(l.reader.get(), &raw) == REDIS_OK && raw) {
        replies.push_back(from_hiredis(static_cast<redisReply*>(raw)));
        freeReplyObject(raw);
        raw = nullptr;
      }
      if (l.reader->err) {
        detail = "handshake: protocol error";
        ec = asio::error::connection_refused;
      }
    }
    if (l.timed_out) ec = asio::error::timed_out;
    if (ec && detail.empty() && l.tls)
      detail = protocol::tls_client_failure(l.tls->native_handle(), l.tls_settings, ec.message(), true);
  }

  void on_connected() {
    state = State::Connected;
    backoff.reset();
    ++connections;
    if (logged_down || connections > 1)
      spdlog::info("{}: connected to {} ({} requests to send)", options.name, endpoint.to_string(),
                   queue.size());
    logged_down = false;
    asio::co_spawn(ioc, read_loop(shared_from_this(), generation), asio::detached);
    if (state_callback) state_callback(true);
    schedule_write();
  }

  static asio::awaitable<void> read_loop(std::shared_ptr<Impl> self, std::uint64_t gen) {
    std::shared_ptr<RedisLink> link = self->link;
    redisReader* reader = link->reader.get();
    for (;;) {
      error_code ec;
      std::size_t n = co_await link->visit([&](auto& stream) {
        return stream.async_read_some(asio::buffer(self->read_buffer),
                                      asio::redirect_error(asio::use_awaitable, ec));
      });
      if (gen != self->generation) co_return;
      if (ec) {
        self->fail_connection(ec);
        co_return;
      }
      redisReaderFeed(reader, self->read_buffer.data(), n);
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
          spdlog::error("{}: protocol error from {}", self->options.name, self->endpoint.to_string());
          self->fail_connection(asio::error::invalid_argument);
          co_return;
        }
        if (!raw) break;
        RedisReply rep = from_hiredis(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        if (self->in_flight == 0) {
          spdlog::error("{}: unexpected reply from {}: {}", self->options.name, self->endpoint.to_string(),
                        rep.describe());
          self->fail_connection(asio::error::invalid_argument);
          co_return;
        }
        // A master demoted by a Sentinel failover refuses writes: reconnect (rediscover) once
        // this reply is delivered.
        bool demoted = rep.is_error() && self->endpoint.uses_sentinel() && rep.str.starts_with("READONLY");
        Request& front = self->queue.front();
        front.replies.push_back(std::move(rep));
        if (front.replies.size() < front.commands) continue;
        self->latency.observe(std::chrono::steady_clock::now() - front.sent);
        // Popping is safe during a write: a reply implies its request's bytes were already handed
        // to the kernel, and the write only touches buffers it has not consumed yet.
        Request done = std::move(front);
        self->queue.pop_front();
        --self->in_flight;
        self->queued_bytes -= done.resp.size();
        done.complete(error_code{}, std::move(done.replies));
        if (gen != self->generation) co_return;  // the callback stopped or reset the client
        if (demoted) {
          self->fail_connection(asio::error::connection_refused);
          co_return;
        }
      }
    }
  }

  void schedule_write() {
    if (state != State::Connected || writing || write_scheduled || in_flight == queue.size()) return;
    // Deferred to the end of the current handler so that every request submitted in this event
    // loop tick goes out in one writev.
    write_scheduled = true;
    asio::post(ioc, [self = shared_from_this()] {
      self->write_scheduled = false;
      self->do_write();
    });
  }

  void do_write() {
    if (state != State::Connected || writing || in_flight == queue.size()) return;
    write_buffers.clear();
    std::size_t bytes = 0;
    auto now = std::chrono::steady_clock::now();
    while (in_flight < queue.size() && write_buffers.size() < 512 && bytes < options.max_write_bytes) {
      Request& r = queue[in_flight];
      write_buffers.push_back(asio::buffer(r.resp));
      bytes += r.resp.size();
      r.sent = now;
      ++in_flight;
    }
    writing = true;
    link->visit([&](auto& stream) {
      asio::async_write(stream, write_buffers,
                        [self = shared_from_this(), l = link, gen = generation](error_code ec, std::size_t) {
                          if (gen != self->generation || !l) return;  // l: the stream outlives the write
                          self->writing = false;
                          if (ec) {
                            self->fail_connection(ec);
                            return;
                          }
                          self->do_write();
                        });
    });
  }

  void fail_connection(error_code ec) {
    if (state != State::Connected) return;
    ++generation;
    link->close();
    writing = false;
    spdlog::warn("{}: connection to {} lost ({}); {} requests pending", options.name, endpoint.to_string(),
                 ec.message(), queue.size());
    logged_down = true;
    std::vector<Request> failed;
    std::deque<Request> kept;
    for (auto& r : queue) {
      if (r.retry) {
        r.replies.clear();
        kept.push_back(std::move(r));
      } else {
        queued_bytes -= r.resp.size();
        failed.push_back(std::move(r));
      }
    }
    queue = std::move(kept);
    in_flight = 0;
    state = State::Backoff;
    asio::co_spawn(ioc, reconnect_after_backoff(shared_from_this()), asio::detached);
    if (state_callback) state_callback(false);
    for (auto& r : failed) r.complete(make_error_code(RedisAsyncError::connection_lost), {});
  }

  static asio::awaitable<void> reconnect_after_backoff(std::shared_ptr<Impl> self) {
    self->backoff_timer.expires_after(self->backoff.next());
    error_code ec;
    co_await self->backoff_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (self->state != State::Backoff) co_return;
    co_await connect_loop(self);
  }

  void submit(Request r) {
    auto fail_later = [&](RedisAsyncError e) {
      asio::post(ioc, [req = std::make_shared<Request>(std::move(r)), e]() mutable {
        req->complete(make_error_code(e), {});
      });
    };
    if (state == State::Stopped) return fail_later(RedisAsyncError::stopped);
    if (!r.retry && state != State::Connected) return fail_later(RedisAsyncError::not_connected);
    if (r.commands == 0) r.commands = 1;
    queued_bytes += r.resp.size();
    queue.push_back(std::move(r));
    schedule_write();
  }

  void stop(bool invoke) {
    if (state == State::Stopped) return;
    bool was_connected = state == State::Connected;
    state = State::Stopped;
    ++generation;
    if (link) link->close();
    backoff_timer.cancel();
    watchdog.cancel();
    writing = false;
    std::deque<Request> all = std::move(queue);
    queue.clear();
    in_flight = 0;
    queued_bytes = 0;
    if (!invoke) return;
    if (was_connected && state_callback) state_callback(false);
    for (auto& r : all) r.complete(make_error_code(RedisAsyncError::stopped), {});
  }
};

// ---------------------------------------------------------------------------------------------
AsyncRedis::AsyncRedis(asio::io_context& ioc, RedisEndpoint endpoint, Options options)
    : impl_(std::make_shared<Impl>(ioc, endpoint, options)) {
  if (endpoint.uses_cluster()) cluster_ = std::make_shared<AsyncRedisCluster>(ioc, endpoint, options);
}

AsyncRedis::~AsyncRedis() {
  if (cluster_) cluster_->stop(false);
  if (impl_) impl_->stop(false);
}

void AsyncRedis::start() {
  if (cluster_) return cluster_->start();
  impl_->start();
}
void AsyncRedis::stop() {
  if (cluster_) cluster_->stop(true);
  impl_->stop(true);
}

void AsyncRedis::submit(std::string resp, std::uint32_t commands, bool retry_on_reconnect,
                        Callback callback) {
  if (cluster_)
    return cluster_->submit(std::move(resp), commands, retry_on_reconnect, std::move(callback), {});
  Impl::Request r;
  r.resp = std::move(resp);
  r.commands = commands;
  r.retry = retry_on_reconnect;
  r.callback = std::move(callback);
  impl_->submit(std::move(r));
}

void AsyncRedis::submit_returning_request(std::string resp, std::uint32_t commands, bool retry_on_reconnect,
                                          ReturningCallback callback) {
  if (cluster_)
    return cluster_->submit(std::move(resp), commands, retry_on_reconnect, {}, std::move(callback));
  Impl::Request r;
  r.resp = std::move(resp);
  r.commands = commands;
  r.retry = retry_on_reconnect;
  r.returning_callback = std::move(callback);
  impl_->submit(std::move(r));
}

void AsyncRedis::submit_to_every_master(std::string resp, std::uint32_t commands,
                                        EveryMasterCallback callback) {
  if (cluster_) return cluster_->submit_to_every_master(std::move(resp), commands, std::move(callback));
  submit(std::move(resp), commands, false,
         [cb = std::move(callback)](boost::system::error_code ec, RedisReplies&& replies) mutable {
           std::vector<RedisReplies> each;
           if (!ec) each.push_back(std::move(replies));
           cb(ec, std::move(each));
         });
}

asio::awaitable<RedisReply> AsyncRedis::command(std::vector<std::string> args, bool retry_on_reconnect) {
  std::string resp;
  RespWriter w(resp);
  w.begin(args.size());
  for (const auto& a : args) w.arg(a);
  error_code ec;
  RedisReplies replies = co_await async_exec(std::move(resp), 1, retry_on_reconnect,
                                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) throw boost::system::system_error(ec);
  co_return std::move(replies.at(0));
}

asio::awaitable<RedisReplies> AsyncRedis::pipeline(const std::vector<std::vector<std::string>>& commands,
                                                   bool retry_on_reconnect) {
  std::string resp;
  RespWriter w(resp);
  for (const auto& c : commands) {
    w.begin(c.size());
    for (const auto& a : c) w.arg(a);
  }
  error_code ec;
  RedisReplies replies =
      co_await async_exec(std::move(resp), static_cast<std::uint32_t>(commands.size()), retry_on_reconnect,
                          asio::redirect_error(asio::use_awaitable, ec));
  if (ec) throw boost::system::system_error(ec);
  co_return replies;
}

asio::awaitable<bool> AsyncRedis::wait_connected(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer t(impl_->ioc);
  while (!connected() && std::chrono::steady_clock::now() < deadline) {
    t.expires_after(std::chrono::milliseconds(10));
    error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return connected();
}

asio::io_context::executor_type AsyncRedis::executor() const {
  return impl_->ioc.get_executor();
}
const RedisEndpoint& AsyncRedis::endpoint() const {
  if (cluster_) return cluster_->endpoint();
  return impl_->endpoint;
}
bool AsyncRedis::connected() const {
  if (cluster_) return cluster_->connected();
  return impl_->state == Impl::State::Connected;
}
std::size_t AsyncRedis::pending_requests() const {
  if (cluster_) return cluster_->pending_requests();
  return impl_->queue.size();
}
std::size_t AsyncRedis::pending_bytes() const {
  if (cluster_) return cluster_->pending_bytes();
  return impl_->queued_bytes;
}
std::uint64_t AsyncRedis::reconnects() const {
  if (cluster_) return cluster_->reconnects();
  return impl_->connections > 0 ? impl_->connections - 1 : 0;
}
const std::string& AsyncRedis::last_error() const {
  if (cluster_) return cluster_->last_error();
  return impl_->last_error;
}
const LatencyHistogram& AsyncRedis::latency() const {
  if (cluster_) return cluster_->latency();
  return impl_->latency;
}
void AsyncRedis::on_state_change(std::function<void(bool)> fn) {
  if (cluster_) return cluster_->on_state_change(std::move(fn));
  impl_->state_callback = std::move(fn);
}

}  // namespace d4::core
