#pragma once
// Asynchronous, pipelined Redis client on Boost.Asio for the server's hot paths.
//
// * One connection; requests (one or more RESP-encoded commands each) are written as soon as the
//   connection is free, many per write (writev), and answered in FIFO order.
// * Replies are parsed with hiredis's redisReader and handed over as d4::core::RedisReply values.
// * rediss:// runs over Asio's ssl::stream (OpenSSL; protocol/tls_client.hpp); a plain connection's
//   path is unchanged (one test per I/O operation). The connection handshake is shared with the
//   blocking client (core/redis_handshake.hpp): AUTH [user] password, SELECT, [ROLE], PING.
// * A Sentinel endpoint is resolved on every connection: the sentinels are asked in turn and the
//   master they name must answer ROLE as master. After a failover the demoted master closes its
//   clients (or answers READONLY, which closes the connection once that reply is delivered), and
//   the reconnect finds the new master; the retry rules below are the same as for any lost
//   connection.
// * Reconnects with exponential backoff. On a lost connection each in-flight request is either
//   re-sent after the reconnect, in its original order and before anything newer (requests marked
//   retry_on_reconnect: the caller guarantees they are idempotent), or failed to its caller.
// * A request that gets no reply within reply_timeout makes the client treat the connection as
//   dead (the same recovery), so no caller waits forever on a hung server.
//
// * A Cluster endpoint (redis-cluster://) routes each request's commands to the masters of their
//   slots, one connection and pipeline per master, with the same retry rules per node; see
//   core/redis_async_cluster.hpp for redirections, failover and what is refused.
//
// Thread safety: none. A client belongs to one io_context run by one thread; call it only from
// that thread (post to it from elsewhere).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include "core/latency_histogram.hpp"
#include "core/redis_endpoint.hpp"
#include "core/redis_reply.hpp"
#include "protocol/resp_writer.hpp"

namespace d4::core {

// ---- error codes reported to callers (boost::system, so use_awaitable throws them) ----
enum class RedisAsyncError {
  not_connected = 1,    // a fail-fast request was submitted while the connection is down
  connection_lost = 2,  // the connection broke before the reply of a fail-fast request arrived
  stopped = 3,          // the client was stopped with the request still pending
};
const boost::system::error_category& redis_async_category();
inline boost::system::error_code make_error_code(RedisAsyncError e) {
  return {static_cast<int>(e), redis_async_category()};
}

}  // namespace d4::core

template <>
struct boost::system::is_error_code_enum<d4::core::RedisAsyncError> : std::true_type {};

namespace d4::core {

// ---- a small move-only callable (std::move_only_function is C++23) ----
template <typename Signature>
class UniqueFunction;
template <typename R, typename... Args>
class UniqueFunction<R(Args...)> {
 public:
  UniqueFunction() = default;
  template <typename F>
  UniqueFunction(F f) : impl_(std::make_unique<Impl<F>>(std::move(f))) {}  // NOLINT: implicit by design
  explicit operator bool() const { return impl_ != nullptr; }
  R operator()(Args... args) { return impl_->call(std::forward<Args>(args)...); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual R call(Args... args) = 0;
  };
  template <typename F>
  struct Impl final : Base {
    explicit Impl(F f) : fn(std::move(f)) {}
    R call(Args... args) override { return fn(std::forward<Args>(args)...); }
    F fn;
  };
  std::unique_ptr<Base> impl_;
};

// RESP requests (protocol/resp_writer.hpp): the writer counts the commands it wrote.
using RespWriter = protocol::RespWriter;

using RedisReplies = std::vector<RedisReply>;

class AsyncRedisCluster;

class AsyncRedis {
 public:
  struct Options {
    std::string name = "redis";  // for logs
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds reply_timeout{30000};
    std::chrono::milliseconds backoff_min{50};
    std::chrono::milliseconds backoff_max{2000};
    std::size_t max_write_bytes = 1 << 20;  // per writev
  };
  using Callback = UniqueFunction<void(boost::system::error_code, RedisReplies&&)>;
  // Also receives the request's bytes back (to re-send them later, or to reuse the buffer).
  using ReturningCallback = UniqueFunction<void(boost::system::error_code, RedisReplies&&, std::string&&)>;
  // One list of replies per master (one list for a single server).
  using EveryMasterCallback = UniqueFunction<void(boost::system::error_code, std::vector<RedisReplies>&&)>;

  AsyncRedis(boost::asio::io_context& ioc, RedisEndpoint endpoint, Options options);
  AsyncRedis(boost::asio::io_context& ioc, RedisEndpoint endpoint)
      : AsyncRedis(ioc, std::move(endpoint), Options{}) {}
  ~AsyncRedis();  // stops: pending callbacks are not invoked after destruction
  AsyncRedis(const AsyncRedis&) = delete;
  AsyncRedis& operator=(const AsyncRedis&) = delete;

  void start();  // begins connecting (idempotent)
  // Closes the connection and fails every pending request with `stopped`.
  void stop();

  // Queues `resp` (`commands` encoded commands). The callback receives exactly `commands`
  // replies, or an error code. Redis error replies are replies, not errors.
  // retry_on_reconnect=false: fails with not_connected if the connection is down now, and with
  // connection_lost if it breaks before the reply. true: kept (queued or re-sent) until answered
  // or stop(). The callback runs on the io_context thread, possibly inside submit's caller's
  // stack only through post (never synchronously from submit).
  void submit(std::string resp, std::uint32_t commands, bool retry_on_reconnect, Callback callback);
  void submit_returning_request(std::string resp, std::uint32_t commands, bool retry_on_reconnect,
                                ReturningCallback callback);

  template <typename Token>
  auto async_exec(std::string resp, std::uint32_t commands, bool retry_on_reconnect, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, RedisReplies)>(
        [this](auto handler, std::string r, std::uint32_t n, bool retry) {
          auto ex = boost::asio::get_associated_executor(handler, executor());
          submit(std::move(r), n, retry,
                 [h = std::move(handler), ex](boost::system::error_code ec, RedisReplies&& replies) mutable {
                   boost::asio::post(ex, [h = std::move(h), ec, rs = std::move(replies)]() mutable {
                     std::move(h)(ec, std::move(rs));
                   });
                 });
        },
        token, std::move(resp), commands, retry_on_reconnect);
  }

  // Commands without keys (INFO...) sent to every master of a Cluster endpoint, or to the one
  // server otherwise, so that what describes the whole data set (its memory) is read from all of
  // it. Fail-fast, like a request without retry_on_reconnect; the callback gets each master's
  // replies.
  void submit_to_every_master(std::string resp, std::uint32_t commands, EveryMasterCallback callback);
  template <typename Token>
  auto async_exec_every_master(std::string resp, std::uint32_t commands, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::vector<RedisReplies>)>(
        [this](auto handler, std::string r, std::uint32_t n) {
          auto ex = boost::asio::get_associated_executor(handler, executor());
          submit_to_every_master(std::move(r), n,
                                 [h = std::move(handler), ex](boost::system::error_code ec,
                                                              std::vector<RedisReplies>&& replies) mutable {
                                   boost::asio::post(
                                       ex, [h = std::move(h), ec, rs = std::move(replies)]() mutable {
                                         std::move(h)(ec, std::move(rs));
                                       });
                                 });
        },
        token, std::move(resp), commands);
  }

  // Coroutine helpers (throw boost::system::system_error on connection errors).
  boost::asio::awaitable<RedisReply> command(std::vector<std::string> args, bool retry_on_reconnect = false);
  boost::asio::awaitable<RedisReplies> pipeline(const std::vector<std::vector<std::string>>& commands,
                                                bool retry_on_reconnect = false);
  // Waits until connected or the timeout passes; returns connected().
  boost::asio::awaitable<bool> wait_connected(std::chrono::milliseconds timeout);

  boost::asio::io_context::executor_type executor() const;
  const RedisEndpoint& endpoint() const;
  bool connected() const;
  std::size_t pending_requests() const;  // queued + in flight
  std::size_t pending_bytes() const;
  std::uint64_t reconnects() const;  // successful connections after the first
  const LatencyHistogram& latency() const;
  // Why the last connection attempt failed (TLS, AUTH, missing ACL right, Sentinel...); "" before.
  const std::string& last_error() const;
  // Called (on the io_context thread) whenever the connection goes up (true) or down (false).
  void on_state_change(std::function<void(bool)> fn);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::shared_ptr<AsyncRedisCluster>
      cluster_;  // a Cluster endpoint: the routing layer, in place of impl_'s connection
};

}  // namespace d4::core
