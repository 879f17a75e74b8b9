#pragma once
// A real Redis Cluster for tests: `masters` cluster-enabled redis-servers (support/redis_server.hpp,
// each with a reserved client port and a reserved cluster bus port), the 16384 slots split in equal
// ranges as redis-cli --cluster create does, and `replicas_per_master` replicas each. Built with
// CLUSTER SET-CONFIG-EPOCH / ADDSLOTSRANGE / MEET / REPLICATE, then waited for on observable state
// (every node: cluster_state:ok, every node known, every replica's link up), never on sleeps.
// Nodes are numbered masters first (0..masters-1), then the replicas of master 0, of master 1...
// Slot migration is offered step by step so that a test can act in the middle of one (ASK).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/redis_server.hpp"

namespace d4::test {

struct RedisClusterOptions {
  int masters = 3;
  int replicas_per_master = 0;
  // How long a node may be silent before it is taken for failed: short enough for a failover test
  // to take seconds, long enough that a loaded machine does not fail a healthy node.
  int node_timeout_ms = 3000;
  RedisServerOptions node = {};  // every node's options (TLS, ACL users...); cluster options are added
};

class RedisCluster {
 public:
  explicit RedisCluster(RedisClusterOptions options = {});

  std::size_t size() const { return nodes_.size(); }
  RedisServer& node(std::size_t i) { return *nodes_.at(i); }
  std::size_t replica_of(std::size_t master, int k = 0) const;  // node index of master's k-th replica
  // "127.0.0.1:p1,127.0.0.1:p2,..." of the masters (their TLS ports with `tls`).
  std::string seeds(bool tls = false) const;
  std::string node_id(std::size_t i);  // CLUSTER MYID
  // The running node that claims `slot` in its own CLUSTER NODES line (-1: none).
  int owner_of(int slot);

  // Waits until every running node says cluster_state:ok, knows every running node and, when
  // `replicas`, every running replica's master link is up. False after `timeout`.
  bool wait_ok(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Moving a slot's keys, in the steps of Redis's resharding: begin (IMPORTING on `to`,
  // MIGRATING on `from`), move keys (MIGRATE, at most `max_keys`), finish (SETSLOT NODE on every
  // master, so that every node knows the new owner).
  void begin_migration(int slot, std::size_t from, std::size_t to);
  int migrate_keys(int slot, std::size_t from, std::size_t to, int max_keys = 1000);
  void finish_migration(int slot, std::size_t to);

 private:
  RedisClusterOptions options_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::string> ids_;
};

}  // namespace d4::test
