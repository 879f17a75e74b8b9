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
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cmath>
#include <deque>

#include <spdlog/spdlog.h>

#include "core/redis_client.hpp"  // Backoff

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

  struct ReaderDeleter {
    void operator()(redisReader* r) const { redisReaderFree(r); }
  };

  Impl(asio::io_context& io, RedisEndpoint ep, Options o)
      : ioc(io),
        endpoint(std::move(ep)),
        options(std::move(o)),
        socket(io),
        backoff_timer(io),
        watchdog(io),
        backoff(options.backoff_min, options.backoff_max),
        read_buffer(64 * 1024) {}

  asio::io_context& ioc;
  RedisEndpoint endpoint;
  Options options;
  Socket socket;
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
  std::unique_ptr<redisReader, ReaderDeleter> reader;
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
      if (!self->logged_down) {
        spdlog::warn("{}: cannot connect to {}: {}", self->options.name, self->endpoint.to_string(),
                     detail.empty() ? ec.message() : detail);
        self->logged_down = true;
      }
      self->state = State::Backoff;
      self->backoff_timer.expires_after(self->backoff.next());
      error_code wait_ec;
      co_await self->backoff_timer.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
    }
  }

  // Connects, authenticates, selects the db and checks that Redis serves commands (not LOADING).
  asio::awaitable<void> try_connect(error_code& ec, std::string& detail) {
    auto s = std::make_shared<Socket>(ioc);
    // A connect or handshake that hangs is cut by closing the socket. The handler owns the socket
    // pointer, so a timer that fires late only closes a socket that was given up or moved from.
    auto deadline = std::make_shared<asio::steady_timer>(ioc, options.connect_timeout);
    auto timed_out = std::make_shared<bool>(false);
    deadline->async_wait([s, timed_out](error_code e) {
      if (!e) {
        *timed_out = true;
        error_code ignored;
        s->close(ignored);
      }
    });
    bool is_tcp = endpoint.unix_socket.empty();
    if (!is_tcp) {
      asio::local::stream_protocol::endpoint ep(endpoint.unix_socket);
      co_await s->async_connect(asio::generic::stream_protocol::endpoint(ep),
                                asio::redirect_error(asio::use_awaitable, ec));
    } else {
      asio::ip::tcp::resolver resolver(ioc);
      auto results = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        ec = asio::error::host_not_found;
        for (const auto& r : results) {
          error_code e2;
          if (s->is_open()) s->close(e2);
          co_await s->async_connect(asio::generic::stream_protocol::endpoint(r.endpoint()),
                                    asio::redirect_error(asio::use_awaitable, ec));
          if (!ec || *timed_out) break;
        }
      }
    }
    if (*timed_out) ec = asio::error::timed_out;
    if (ec) {
      deadline->cancel();
      co_return;
    }
    if (is_tcp) {
      int one = 1;
      ::setsockopt(s->native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    // Handshake: [AUTH] [SELECT] PING, written at once, replies checked in order.
    std::string hs;
    RespWriter w(hs);
    if (!endpoint.password.empty()) {
      if (endpoint.username.empty())
        w.command({"AUTH", endpoint.password});
      else
        w.command({"AUTH", endpoint.username, endpoint.password});
    }
    if (endpoint.db != 0) w.begin(2).arg("SELECT").arg(static_cast<std::uint64_t>(endpoint.db));
    w.command({"PING"});
    const std::uint32_t n = w.commands();
    co_await asio::async_write(*s, asio::buffer(hs), asio::redirect_error(asio::use_awaitable, ec));
    std::unique_ptr<redisReader, ReaderDeleter> r(redisReaderCreate());
    std::uint32_t got = 0;
    while (!ec && got < n) {
      std::size_t len = co_await s->async_read_some(asio::buffer(read_buffer),
                                                    asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      redisReaderFeed(r.get(), read_buffer.data(), len);
      void* raw = nullptr;
      while (got < n && redisReaderGetReply(r.get(), &raw) == REDIS_OK && raw) {
        RedisReply rep = from_hiredis(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        raw = nullptr;
        ++got;
        if (rep.is_error()) {
          detail = "handshake: " + rep.str;  // wrong password, bad db, LOADING...
          ec = asio::error::connection_refused;
          break;
        }
      }
      if (r->err) {
        detail = "handshake: protocol error";
        ec = asio::error::connection_refused;
      }
    }
    if (*timed_out) ec = asio::error::timed_out;
    deadline->cancel();
    if (ec) co_return;
    socket = std::move(*s);
    reader = std::move(r);
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
    for (;;) {
      error_code ec;
      std::size_t n = co_await self->socket.async_read_some(asio::buffer(self->read_buffer),
                                                            asio::redirect_error(asio::use_awaitable, ec));
      if (gen != self->generation) co_return;
      if (ec) {
        self->fail_connection(ec);
        co_return;
      }
      redisReaderFeed(self->reader.get(), self->read_buffer.data(), n);
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(self->reader.get(), &raw) != REDIS_OK) {
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
    asio::async_write(socket, write_buffers,
                      [self = shared_from_this(), gen = generation](error_code ec, std::size_t) {
                        if (gen != self->generation) return;
                        self->writing = false;
                        if (ec) {
                          self->fail_connection(ec);
                          return;
                        }
                        self->do_write();
                      });
  }

  void fail_connection(error_code ec) {
    if (state != State::Connected) return;
    ++generation;
    error_code ignored;
    socket.close(ignored);
    reader.reset();
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
    error_code ignored;
    socket.close(ignored);
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
    : impl_(std::make_shared<Impl>(ioc, std::move(endpoint), std::move(options))) {}

AsyncRedis::~AsyncRedis() {
  if (impl_) impl_->stop(false);
}

void AsyncRedis::start() {
  impl_->start();
}
void AsyncRedis::stop() {
  impl_->stop(true);
}

void AsyncRedis::submit(std::string resp, std::uint32_t commands, bool retry_on_reconnect,
                        Callback callback) {
  Impl::Request r;
  r.resp = std::move(resp);
  r.commands = commands;
  r.retry = retry_on_reconnect;
  r.callback = std::move(callback);
  impl_->submit(std::move(r));
}

void AsyncRedis::submit_returning_request(std::string resp, std::uint32_t commands, bool retry_on_reconnect,
                                          ReturningCallback callback) {
  Impl::Request r;
  r.resp = std::move(resp);
  r.commands = commands;
  r.retry = retry_on_reconnect;
  r.returning_callback = std::move(callback);
  impl_->submit(std::move(r));
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
  return impl_->endpoint;
}
bool AsyncRedis::connected() const {
  return impl_->state == Impl::State::Connected;
}
std::size_t AsyncRedis::pending_requests() const {
  return impl_->queue.size();
}
std::size_t AsyncRedis::pending_bytes() const {
  return impl_->queued_bytes;
}
std::uint64_t AsyncRedis::reconnects() const {
  return impl_->connections > 0 ? impl_->connections - 1 : 0;
}
const LatencyHistogram& AsyncRedis::latency() const {
  return impl_->latency;
}
void AsyncRedis::on_state_change(std::function<void(bool)> fn) {
  impl_->state_callback = std::move(fn);
}

}  // namespace d4::core
