#pragma once
// Blocking Redis client for workers, analyzers, tools and the web tier.
// Connects lazily, reconnects on the next command after a failure, selects the endpoint's db and
// authenticates (AUTH user password for an ACL user). Connection failures throw RedisError; Redis
// error replies are returned as values (RedisReply::Type::Error) unless command_ok() is used.
// Clients of several databases of one server may share a connection (sharing_connection()).
// Transport: the project's own socket connect (TCP or Unix socket), OpenSSL for rediss:// (Debian's
// hiredis 0.14 has no TLS) and hiredis's reply parser. A Sentinel endpoint is resolved on every
// (re)connection: the sentinels are asked in turn, and the address they give must answer ROLE as
// master; after a failover the old master drops its clients, so the next command finds the new one.
// A Cluster endpoint (redis-cluster://) keeps one connection per master and the slot map read from
// a seed: each command or transaction goes to the master of its keys' slot (a pipeline is split
// per node, keeping its order per node), keys of several slots are refused before sending, MOVED
// updates the map and ASK is followed once; a node that cannot be reached, or CLUSTERDOWN, makes the
// client read the map again from any known node (bounded attempts with back-off, so a failover's
// promoted replica is found). A command whose connection broke after it was sent is not re-sent
// (it may have run): RedisError, as for a single node.
#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/redis_endpoint.hpp"
#include "core/redis_reply.hpp"

namespace d4::core {

class RedisClient {
 public:
  struct Options {
    std::chrono::milliseconds connect_timeout{2000};
    // Socket timeout for replies; must exceed the BLOCK/timeout of any blocking command used.
    std::chrono::milliseconds command_timeout{10000};
  };

  explicit RedisClient(RedisEndpoint endpoint);
  RedisClient(RedisEndpoint endpoint, Options options);
  RedisClient(RedisClient&&) noexcept;
  RedisClient& operator=(RedisClient&&) noexcept;
  ~RedisClient();

  // A client of database `db` of the same server that shares this client's connection: one
  // socket serves several databases, and a command goes with a SELECT (in the same round trip)
  // when the connection last served another database. The clients sharing a connection must be
  // used from one thread; a failure closes the connection for all of them (the next command of
  // any of them reconnects).
  RedisClient sharing_connection(int db);

  const RedisEndpoint& endpoint() const { return endpoint_; }
  bool connected() const;
  void connect();  // throws RedisError
  void disconnect();

  RedisReply command(std::initializer_list<std::string_view> args);
  RedisReply command(const std::vector<std::string>& args);
  RedisReply command(const std::vector<std::string_view>& args);
  // As command(), but an error reply throws RedisError too.
  RedisReply command_ok(std::initializer_list<std::string_view> args);
  // Sends all commands in one round trip and returns their replies in order.
  std::vector<RedisReply> pipeline(const std::vector<std::vector<std::string>>& commands);
  bool ping() noexcept;

 private:
  // Writes `n` RESP-encoded commands in one go (after a SELECT when the shared connection is on
  // another database) and reads their replies.
  std::vector<RedisReply> round_trip(std::string_view requests, std::size_t n);
  [[noreturn]] void fail_connection(const std::string& what);
  void open_connection();  // transport, TLS, AUTH (a Sentinel endpoint: discovery first)

  struct Connection;    // the socket and the database it last selected
  struct ClusterState;  // the slot map and one connection per node
  std::vector<RedisReply> cluster_exchange(const std::vector<std::vector<std::string_view>>& commands);
  Connection& cluster_link(const RedisNode& node);  // connected and authenticated
  void cluster_discover();                          // the slot map from any known node
  void cluster_check_db() const;

  RedisEndpoint endpoint_;
  Options options_;
  std::shared_ptr<Connection> conn_;
  std::shared_ptr<ClusterState> cluster_;
};

// A pool of blocking clients for request handlers running on several threads: each call borrows
// one connection (opening a new one when all are busy) and gives it back afterwards. A client whose
// call threw RedisError is disconnected before it returns to the pool, so the next borrower
// reconnects instead of reading a half-finished reply.
class RedisClientPool {
 public:
  explicit RedisClientPool(RedisEndpoint endpoint) : endpoint_(std::move(endpoint)) {}

  template <typename Fn>
  auto with_client(Fn&& fn) -> decltype(fn(std::declval<RedisClient&>())) {
    auto client = acquire();
    try {
      if constexpr (std::is_void_v<decltype(fn(*client))>) {
        fn(*client);
        release(std::move(client));
      } else {
        auto result = fn(*client);
        release(std::move(client));
        return result;
      }
    } catch (const RedisError&) {
      client->disconnect();
      release(std::move(client));
      throw;
    }
  }

 private:
  std::unique_ptr<RedisClient> acquire();
  void release(std::unique_ptr<RedisClient> client);

  RedisEndpoint endpoint_;
  std::mutex mu_;
  std::vector<std::unique_ptr<RedisClient>> free_;
};

// Exponential backoff with full jitter, for reconnect loops everywhere.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds min = std::chrono::milliseconds(100),
          std::chrono::milliseconds max = std::chrono::milliseconds(10000))
      : min_(min), max_(max) {}
  std::chrono::milliseconds next();  // the delay to wait before the next attempt
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  std::chrono::milliseconds min_, max_;
  int attempt_ = 0;
};

}  // namespace d4::core
