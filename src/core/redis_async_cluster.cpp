#include "core/redis_async_cluster.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <spdlog/spdlog.h>

namespace asio = boost::asio;
using boost::system::error_code;

namespace d4::core {

// One request of the caller: its bytes, where each command's bytes are, its routing groups and
// the replies gathered so far (in request order, whichever node answered).
struct AsyncRedisCluster::Op {
  std::string resp;
  std::size_t size = 0;  // resp.size() at submit (resp is lent to a node while it is sent whole)
  std::uint32_t commands = 0;
  bool retry = false;
  AsyncRedis::Callback callback;
  AsyncRedis::ReturningCallback returning;
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // offset, length of each command
  std::vector<ClusterGroup> groups;
  // Groups sent to every master (SCRIPT LOAD/FLUSH): their copies still without a reply, and
  // whether a copy answered (its reply kept unless a later copy's is an error).
  std::vector<char> to_every_master;
  std::vector<std::size_t> copies_pending;
  std::vector<char> copy_answered;
  RedisReplies replies;
  std::size_t outstanding = 0;  // groups still without their final replies
  int redirects = 0;
  bool done = false;
  std::chrono::steady_clock::time_point started;
};

AsyncRedisCluster::AsyncRedisCluster(asio::io_context& ioc, RedisEndpoint endpoint,
                                     AsyncRedis::Options options)
    : ioc_(ioc),
      endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      discovery_timer_(ioc),
      backoff_(options_.backoff_min, options_.backoff_max) {}

void AsyncRedisCluster::start() {
  if (started_ || stopped_) return;
  started_ = true;
  if (endpoint_.db != 0) {
    last_error_ =
        "Redis Cluster has only database 0, and this client uses database " + std::to_string(endpoint_.db);
    spdlog::error("{}: {}: {}", options_.name, endpoint_.to_string(), last_error_);
    return;  // never connected: fail-fast requests fail, others wait
  }
  for (const auto& seed : endpoint_.cluster_seeds) node(seed);
  want_discovery();
}

AsyncRedisCluster::Node& AsyncRedisCluster::node(const RedisNode& where) {
  std::string name = cluster_node_name(where);
  auto it = nodes_.find(name);
  if (it != nodes_.end()) return it->second;
  AsyncRedis::Options o = options_;
  o.name = options_.name + " " + name;
  Node& n = nodes_[name];
  n.client = std::make_unique<AsyncRedis>(ioc_, endpoint_.at_node(where), o);
  n.client->on_state_change([w = weak_from_this(), name](bool up) {
    auto self = w.lock();
    if (!self) return;
    auto found = self->nodes_.find(name);
    if (found == self->nodes_.end()) return;  // dropped from the map
    found->second.up = up;
    if (!up) {
      self->last_error_ = name + ": " + found->second.client->last_error();
      self->want_discovery();
    }
    self->update_state();
  });
  n.client->start();
  return n;
}

bool AsyncRedisCluster::connected() const {
  if (!map_ || stopped_) return false;
  return std::all_of(map_->masters().begin(), map_->masters().end(), [&](const RedisNode& m) {
    auto it = nodes_.find(cluster_node_name(m));
    return it != nodes_.end() && it->second.up;
  });
}

void AsyncRedisCluster::update_state() {
  bool up = connected();
  if (up == reported_up_) return;
  reported_up_ = up;
  if (up) ++ups_;
  if (state_callback_) state_callback_(up);
}

void AsyncRedisCluster::submit(std::string resp, std::uint32_t commands, bool retry,
                               AsyncRedis::Callback callback, AsyncRedis::ReturningCallback returning) {
  auto op = std::make_shared<Op>();
  op->size = resp.size();
  op->resp = std::move(resp);
  op->commands = commands == 0 ? 1 : commands;
  op->retry = retry;
  op->callback = std::move(callback);
  op->returning = std::move(returning);
  op->started = std::chrono::steady_clock::now();
  ++pending_ops_;
  pending_bytes_ += op->size;
  if (stopped_) return fail_later(op, make_error_code(RedisAsyncError::stopped));
  std::string error;
  std::optional<std::vector<ClusterGroup>> groups;
  if (auto parsed = parse_resp_commands(op->resp); !parsed || parsed->size() != op->commands) {
    error = "ERR the request is not " + std::to_string(op->commands) + " RESP commands";
  } else {
    std::vector<std::vector<std::string_view>> args;
    for (auto& c : *parsed) {
      op->spans.emplace_back(c.offset, c.length);
      args.push_back(std::move(c.args));
    }
    groups = cluster_groups(args, &error);
    if (groups)
      for (const auto& g : *groups)
        op->to_every_master.push_back(g.count == 1 && cluster_command_to_every_master(args[g.first]));
  }
  if (!groups) {  // refused before sending: an error reply for each command, as Redis would
    RedisReply refusal;
    refusal.type = RedisReply::Type::Error;
    refusal.str = error;
    op->replies.assign(op->commands, refusal);
    asio::post(ioc_, [self = shared_from_this(), op] { self->finish(op, {}); });
    return;
  }
  op->groups = std::move(*groups);
  op->copies_pending.assign(op->groups.size(), 0);
  op->copy_answered.assign(op->groups.size(), 0);
  op->replies.resize(op->commands);
  op->outstanding = op->groups.size();
  std::vector<Target> targets;
  for (std::size_t g = 0; g < op->groups.size(); ++g) targets.push_back({g, std::nullopt, std::nullopt});
  dispatch(op, std::move(targets));
}

void AsyncRedisCluster::dispatch(const std::shared_ptr<Op>& op, std::vector<Target> targets) {
  if (op->done) return;
  if (!map_) {
    if (op->retry)
      parked_.emplace_back(op, std::move(targets));  // sent, in order, once the map is known
    else
      fail_later(op, make_error_code(RedisAsyncError::not_connected));
    return;
  }
  std::vector<std::pair<RedisNode, std::vector<Target>>> batches;
  std::vector<Target> unserved;
  auto batch_of = [&](const RedisNode& node) -> std::vector<Target>& {
    auto it = std::find_if(batches.begin(), batches.end(), [&](const auto& b) { return b.first == node; });
    if (it == batches.end()) it = batches.insert(batches.end(), {node, {}});
    return it->second;
  };
  for (auto& t : targets) {
    if (op->to_every_master[t.group] && !t.master) {
      for (const auto& m : map_->masters()) {
        ++op->copies_pending[t.group];
        batch_of(m).push_back({t.group, std::nullopt, m});
      }
      continue;
    }
    int slot = op->groups[t.group].slot;
    const RedisNode* owner = t.master   ? &*t.master
                             : t.ask    ? &*t.ask
                             : slot < 0 ? &map_->masters().front()
                                        : map_->owner(slot);
    if (!owner) {
      unserved.push_back(std::move(t));
      continue;
    }
    batch_of(*owner).push_back(std::move(t));
  }
  for (auto& [where, batch] : batches) send(op, where, std::move(batch));
  if (unserved.empty()) return;
  want_discovery();  // a slot without a master: CLUSTERDOWN until the map says otherwise
  if (op->retry)
    redispatch_later(op, std::move(unserved));
  else
    fail_later(op, make_error_code(RedisAsyncError::not_connected));
}

void AsyncRedisCluster::send(const std::shared_ptr<Op>& op, const RedisNode& where,
                             std::vector<Target> targets) {
  // The whole request to one node, nothing to ask first: its bytes go as they are (lent, returned
  // with the replies).
  bool whole = targets.size() == op->groups.size();
  for (std::size_t i = 0; whole && i < targets.size(); ++i)
    whole = targets[i].group == i && !targets[i].ask && !targets[i].master;
  std::string bytes;
  std::uint32_t n = 0;
  if (whole) {
    bytes = std::move(op->resp);
    n = op->commands;
  } else {
    for (const auto& t : targets) {
      if (t.ask) {
        protocol::RespWriter(bytes).command({"ASKING"});
        ++n;
      }
      const ClusterGroup& g = op->groups[t.group];
      for (std::size_t c = g.first; c < g.first + g.count; ++c)
        bytes.append(op->resp, op->spans[c].first, op->spans[c].second);
      n += static_cast<std::uint32_t>(g.count);
    }
  }
  node(where).client->submit_returning_request(
      std::move(bytes), n, op->retry,
      [self = shared_from_this(), op, targets = std::move(targets), whole](
          error_code ec, RedisReplies&& replies, std::string&& sent) mutable {
        self->on_replies(op, std::move(targets), whole, ec, std::move(replies), std::move(sent));
      });
}

void AsyncRedisCluster::on_replies(const std::shared_ptr<Op>& op, std::vector<Target> targets, bool whole,
                                   error_code ec, RedisReplies&& replies, std::string&& bytes) {
  if (whole) op->resp = std::move(bytes);
  if (op->done) return;
  if (ec) {
    if (ec == RedisAsyncError::stopped && !stopped_) {
      // The node left the map (a failover): a retry request goes to the new owner, in order.
      if (!op->retry) return finish(op, make_error_code(RedisAsyncError::connection_lost));
      std::vector<Target> again;
      for (auto& t : targets) {
        t.ask.reset();
        if (t.master) {
          // A copy for every master: sent again to every master of the new map, once.
          --op->copies_pending[t.group];
          if (std::any_of(again.begin(), again.end(), [&](const Target& a) { return a.group == t.group; }))
            continue;
          t.master.reset();
        }
        again.push_back(std::move(t));
      }
      return dispatch(op, std::move(again));
    }
    if (!stopped_) want_discovery();
    return finish(op, ec);
  }
  std::vector<Target> again, later;
  std::size_t at = 0;
  for (const auto& t : targets) {
    if (t.ask) ++at;  // ASKING's +OK
    const ClusterGroup& g = op->groups[t.group];
    if (at + g.count > replies.size()) return finish(op, make_error_code(RedisAsyncError::connection_lost));
    if (t.master) {
      RedisReply& mine = replies[at++];
      RedisReply& kept = op->replies[g.first];
      if (!op->copy_answered[t.group] || (mine.is_error() && !kept.is_error())) kept = std::move(mine);
      op->copy_answered[t.group] = 1;
      if (--op->copies_pending[t.group] == 0) --op->outstanding;
      continue;
    }
    std::move(replies.begin() + static_cast<long>(at), replies.begin() + static_cast<long>(at + g.count),
              op->replies.begin() + static_cast<long>(g.first));
    at += g.count;
    const RedisReply* bad = cluster_first_unexecuted(&op->replies[g.first], g.count);
    if (!bad || op->redirects >= kMaxRedirects) {
      --op->outstanding;
      continue;
    }
    ++op->redirects;
    auto redirect = cluster_redirect(*bad);
    if (redirect && !redirect->ask) {
      map_->move_slot(redirect->slot, redirect->node);
      want_discovery();  // a moved slot seldom moves alone
    }
    if (!redirect && bad->str.starts_with("CLUSTERDOWN")) want_discovery();
    (redirect ? again : later)
        .push_back({t.group, redirect && redirect->ask ? std::optional(redirect->node) : std::nullopt,
                    std::nullopt});
  }
  if (!again.empty()) dispatch(op, std::move(again));
  if (!later.empty()) redispatch_later(op, std::move(later));
  if (op->outstanding == 0) finish(op, {});
}

void AsyncRedisCluster::submit_to_every_master(std::string resp, std::uint32_t commands,
                                               AsyncRedis::EveryMasterCallback callback) {
  struct Gather {
    AsyncRedis::EveryMasterCallback callback;
    std::vector<RedisReplies> replies;
    std::size_t pending = 0;
    boost::system::error_code ec;
  };
  auto gather = std::make_shared<Gather>();
  gather->callback = std::move(callback);
  if (stopped_ || !map_) {
    auto ec = make_error_code(stopped_ ? RedisAsyncError::stopped : RedisAsyncError::not_connected);
    asio::post(ioc_, [gather, ec] { gather->callback(ec, {}); });
    return;
  }
  const auto masters = map_->masters();
  gather->replies.resize(masters.size());
  gather->pending = masters.size();
  for (std::size_t i = 0; i < masters.size(); ++i)
    node(masters[i])
        .client->submit(resp, commands, false,
                        [gather, i](boost::system::error_code ec, RedisReplies&& replies) {
                          if (ec && !gather->ec) gather->ec = ec;
                          gather->replies[i] = std::move(replies);
                          if (--gather->pending > 0) return;
                          if (gather->ec)
                            gather->callback(gather->ec, {});
                          else
                            gather->callback({}, std::move(gather->replies));
                        });
}

void AsyncRedisCluster::redispatch_later(const std::shared_ptr<Op>& op, std::vector<Target> targets) {
  auto timer = std::make_shared<asio::steady_timer>(ioc_);
  auto delay = std::min(options_.backoff_max, options_.backoff_min * (1 << std::min(op->redirects, 6)));
  timer->expires_after(delay);
  timer->async_wait([self = shared_from_this(), op, timer, targets = std::move(targets)](error_code) mutable {
    if (self->stopped_) return self->finish(op, make_error_code(RedisAsyncError::stopped));
    self->dispatch(op, std::move(targets));
  });
}

void AsyncRedisCluster::fail_later(const std::shared_ptr<Op>& op, error_code ec) {
  asio::post(ioc_, [self = shared_from_this(), op, ec] { self->finish(op, ec); });
}

void AsyncRedisCluster::finish(const std::shared_ptr<Op>& op, error_code ec) {
  if (op->done) return;
  op->done = true;
  --pending_ops_;
  pending_bytes_ -= op->size;
  if (stopped_ && silent_) return;  // destroyed: no callback any more
  if (!ec) latency_.observe(std::chrono::steady_clock::now() - op->started);
  RedisReplies replies = ec ? RedisReplies{} : std::move(op->replies);
  if (op->callback)
    op->callback(ec, std::move(replies));
  else if (op->returning)
    op->returning(ec, std::move(replies), std::move(op->resp));
}

void AsyncRedisCluster::want_discovery() {
  discovery_wanted_ = true;
  if (discovering_ || stopped_ || !started_) return;
  discovering_ = true;
  discovery_round();
}

// One round: the masters known so far first (after a failover any of them knows the new one),
// then the seeds, each asked CLUSTER SLOTS in turn while connected. (Callbacks rather than a
// coroutine: GCC 12 warns about the frame of such a coroutine at -O2, mismatched-new-delete.)
void AsyncRedisCluster::discovery_round() {
  discovery_wanted_ = false;
  std::vector<RedisNode> candidates;
  if (map_) candidates = map_->masters();
  for (const auto& seed : endpoint_.cluster_seeds)
    if (std::find(candidates.begin(), candidates.end(), seed) == candidates.end()) candidates.push_back(seed);
  discovery_ask(std::move(candidates), 0);
}

void AsyncRedisCluster::discovery_ask(std::vector<RedisNode> candidates, std::size_t index) {
  while (index < candidates.size() && !node(candidates[index]).up) ++index;  // connecting: a later round
  if (index == candidates.size()) return discovery_done(false);
  std::string request;
  protocol::RespWriter(request).command({"CLUSTER", "SLOTS"});
  node(candidates[index])
      .client->submit(std::move(request), 1, false,
                      [self = shared_from_this(), candidates = std::move(candidates), index](
                          error_code ec, RedisReplies&& replies) mutable {
                        if (self->stopped_) return;
                        const RedisNode& where = candidates[index];
                        std::string why = ec ? ec.message() : "";
                        if (!ec)
                          if (auto map = ClusterSlotMap::from_cluster_slots(replies.at(0), where, &why)) {
                            self->apply_map(std::move(*map));
                            return self->discovery_done(true);
                          }
                        self->last_error_ = cluster_node_name(where) + ": " + why;
                        self->discovery_ask(std::move(candidates), index + 1);
                      });
}

void AsyncRedisCluster::discovery_done(bool found) {
  if (stopped_) return;
  if (found && connected()) {
    backoff_.reset();
    if (discovery_wanted_) return discovery_round();  // asked again meanwhile (MOVED...)
    discovering_ = false;
    return;
  }
  // No map yet, or a master not connected (down, or failing over): ask again after a back-off.
  discovery_timer_.expires_after(backoff_.next());
  discovery_timer_.async_wait([self = shared_from_this()](error_code) {
    if (!self->stopped_) self->discovery_round();
  });
}

void AsyncRedisCluster::apply_map(ClusterSlotMap map) {
  bool first = !map_;
  map_ = std::move(map);
  if (first)
    spdlog::debug("{}: slot map of {} read ({} masters)", options_.name, endpoint_.to_string(),
                  map_->masters().size());
  // A node that is no longer a master (failed over, or a seed that is a replica) is dropped; its
  // retry requests come back `stopped` and are sent again, in order, to the new owners.
  std::vector<std::unique_ptr<AsyncRedis>> gone;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    bool master = std::any_of(map_->masters().begin(), map_->masters().end(),
                              [&](const RedisNode& m) { return cluster_node_name(m) == it->first; });
    if (master) {
      ++it;
    } else {
      gone.push_back(std::move(it->second.client));
      it = nodes_.erase(it);
    }
  }
  for (const auto& m : map_->masters()) node(m);
  auto parked = std::move(parked_);
  parked_.clear();
  for (auto& [op, targets] : parked) dispatch(op, std::move(targets));
  for (auto& client : gone) client->stop();
  update_state();
}

void AsyncRedisCluster::stop(bool invoke) {
  if (stopped_) return;
  stopped_ = true;
  silent_ = !invoke;
  discovery_timer_.cancel();
  std::vector<std::unique_ptr<AsyncRedis>> clients;
  for (auto& [name, n] : nodes_) clients.push_back(std::move(n.client));
  nodes_.clear();
  for (auto& c : clients)
    if (invoke) c->stop();  // its requests' callbacks finish them with `stopped`
  clients.clear();          // without `invoke`: destroyed, no callback
  auto parked = std::move(parked_);
  parked_.clear();
  for (auto& [op, targets] : parked) finish(op, make_error_code(RedisAsyncError::stopped));
  if (invoke && reported_up_ && state_callback_) state_callback_(false);
  reported_up_ = false;
}

}  // namespace d4::core
