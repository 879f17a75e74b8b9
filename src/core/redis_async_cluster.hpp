#pragma once
// AsyncRedis on a Redis Cluster (redis-cluster://), used through AsyncRedis only: one AsyncRedis
// per master (its own connection, pipeline, reconnects and retry rules), a slot map read with
// CLUSTER SLOTS, and each request split into routing groups (core/redis_cluster.hpp) sent to the
// masters of their slots. A request whose groups all go to one node is forwarded as it is.
//
// * Keys of several slots in one command or transaction: every command of the request gets a
//   CROSSSLOT error reply, and nothing is sent.
// * MOVED: the map takes the slot's new owner, the group is sent there, and the whole map is read
//   again. ASK: ASKING + the group on the named node, once, map unchanged. TRYAGAIN and
//   CLUSTERDOWN: the group is sent again after a back-off. None of these ran the command, so they
//   are followed whatever the request's retry flag (at most kMaxRedirects per request; then the
//   error reply is delivered).
// * retry_on_reconnect keeps its meaning: a node's client re-sends such requests after its own
//   reconnect, in order. When the map no longer names a node as a master (a failover promoted its
//   replica), that node's client is stopped and its requests are sent again, in order, to the new
//   owners. A fail-fast request fails with not_connected / connection_lost as on one node.
// * The map is read again, from any known node (masters first, then the seeds), whenever a master's
//   connection goes down, after MOVED and CLUSTERDOWN, and until every master is connected.
// * SCRIPT LOAD and SCRIPT FLUSH (cluster_command_to_every_master) go to every master, since each
//   node has its own script cache: an EVALSHA then finds its script on whichever master its keys
//   live. The command's reply is the first master's, or the first error; after a failover a retry
//   request sends it again to every master of the new map.
// * submit_to_every_master() sends commands without keys (INFO) to every master and hands back
//   each master's replies: what describes the whole cluster (its memory) is read from all of it.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/redis_async.hpp"
#include "core/redis_client.hpp"  // Backoff
#include "core/redis_cluster.hpp"

namespace d4::core {

class AsyncRedisCluster : public std::enable_shared_from_this<AsyncRedisCluster> {
 public:
  static constexpr int kMaxRedirects = 16;

  AsyncRedisCluster(boost::asio::io_context& ioc, RedisEndpoint endpoint, AsyncRedis::Options options);
  void start();
  void stop(bool invoke);
  void submit(std::string resp, std::uint32_t commands, bool retry, AsyncRedis::Callback callback,
              AsyncRedis::ReturningCallback returning);
  // Fail-fast (as a request without retry): not_connected without a slot map or with a master
  // down, connection_lost when a master's connection breaks before its replies.
  void submit_to_every_master(std::string resp, std::uint32_t commands,
                              AsyncRedis::EveryMasterCallback callback);

  const RedisEndpoint& endpoint() const { return endpoint_; }
  bool connected() const;
  std::size_t pending_requests() const { return pending_ops_; }
  std::size_t pending_bytes() const { return pending_bytes_; }
  std::uint64_t reconnects() const { return ups_ > 0 ? ups_ - 1 : 0; }
  const LatencyHistogram& latency() const { return latency_; }
  const std::string& last_error() const { return last_error_; }
  void on_state_change(std::function<void(bool)> fn) { state_callback_ = std::move(fn); }

 private:
  struct Op;
  struct Target {
    std::size_t group = 0;
    std::optional<RedisNode> ask;
    std::optional<RedisNode> master;  // a group sent to every master: this one's copy
  };
  struct Node {
    std::unique_ptr<AsyncRedis> client;
    bool up = false;
  };

  Node& node(const RedisNode& where);  // created and started on first use
  void dispatch(const std::shared_ptr<Op>& op, std::vector<Target> targets);
  void send(const std::shared_ptr<Op>& op, const RedisNode& where, std::vector<Target> targets);
  void on_replies(const std::shared_ptr<Op>& op, std::vector<Target> targets, bool whole,
                  boost::system::error_code ec, RedisReplies&& replies, std::string&& bytes);
  void redispatch_later(const std::shared_ptr<Op>& op, std::vector<Target> targets);
  void finish(const std::shared_ptr<Op>& op, boost::system::error_code ec);
  void fail_later(const std::shared_ptr<Op>& op, boost::system::error_code ec);
  void want_discovery();
  void discovery_round();
  void discovery_ask(std::vector<RedisNode> candidates, std::size_t index);
  void discovery_done(bool found);
  void apply_map(ClusterSlotMap map);
  void update_state();

  boost::asio::io_context& ioc_;
  RedisEndpoint endpoint_;
  AsyncRedis::Options options_;
  std::map<std::string, Node> nodes_;  // by cluster_node_name()
  std::optional<ClusterSlotMap> map_;
  std::deque<std::pair<std::shared_ptr<Op>, std::vector<Target>>> parked_;  // retry requests before a map
  bool stopped_ = false, started_ = false, silent_ = false;
  bool discovering_ = false, discovery_wanted_ = false;
  boost::asio::steady_timer discovery_timer_;
  Backoff backoff_;
  std::size_t pending_ops_ = 0, pending_bytes_ = 0;
  std::uint64_t ups_ = 0;
  bool reported_up_ = false;
  LatencyHistogram latency_;
  std::string last_error_;
  std::function<void(bool)> state_callback_;
};

}  // namespace d4::core
