#include "support/redis_cluster.hpp"

#include <sstream>
#include <stdexcept>

#include "support/ports.hpp"
#include "support/process.hpp"

namespace d4::test {
namespace {

std::string cluster_trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

void cluster_expect_ok(RedisServer& node, const std::vector<std::string>& args) {
  std::string out = node.cli(args);
  if (out != "OK\n") {
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    throw std::runtime_error("redis-cli " + cmd + "on port " + std::to_string(node.port()) + ": " + out);
  }
}

// Does this CLUSTER NODES line's slot list ("0-5460 7000 [123->-id]") contain `slot`?
bool cluster_line_has_slot(const std::string& line, int slot) {
  std::istringstream in(line);
  std::string field;
  for (int i = 0; in >> field; ++i) {
    if (i < 8 || field.starts_with('[')) continue;  // id addr flags master ping pong epoch state
    auto dash = field.find('-');
    int lo = std::stoi(field.substr(0, dash));
    int hi = dash == std::string::npos ? lo : std::stoi(field.substr(dash + 1));
    if (slot >= lo && slot <= hi) return true;
  }
  return false;
}

}  // namespace

RedisCluster::RedisCluster(RedisClusterOptions options) : options_(std::move(options)) {
  const int m = options_.masters, total = m * (1 + options_.replicas_per_master);
  std::vector<int> bus_ports;
  for (int i = 0; i < total; ++i) {
    RedisServerOptions o = options_.node;
    // The bus port is reserved too (its default, port + 10000, could be anyone's).
    bus_ports.push_back(free_port());
    o.extra_args.insert(o.extra_args.end(),
                        {"--cluster-enabled", "yes", "--cluster-port", std::to_string(bus_ports.back()),
                         "--cluster-node-timeout", std::to_string(options_.node_timeout_ms),
                         "--cluster-replica-validity-factor", "0", "--appendonly", "no"});
    nodes_.push_back(std::make_unique<RedisServer>(o));
  }
  for (int i = 0; i < total; ++i) ids_.push_back(cluster_trim(node(i).cli({"CLUSTER", "MYID"})));
  for (int i = 0; i < m; ++i) {
    cluster_expect_ok(node(i), {"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(i + 1)});
    int lo = i * 16384 / m, hi = (i + 1) * 16384 / m - 1;
    cluster_expect_ok(node(i), {"CLUSTER", "ADDSLOTSRANGE", std::to_string(lo), std::to_string(hi)});
  }
  for (int i = 1; i < total; ++i)
    cluster_expect_ok(node(0), {"CLUSTER", "MEET", "127.0.0.1", std::to_string(node(i).port()),
                                std::to_string(bus_ports[static_cast<std::size_t>(i)])});
  // Replicas can follow a master once they know it.
  for (int i = 0; i < m; ++i)
    for (int k = 0; k < options_.replicas_per_master; ++k) {
      RedisServer& r = node(replica_of(static_cast<std::size_t>(i), k));
      bool known = eventually(
          [&] {
            return r.cli({"CLUSTER", "NODES"}).find(ids_[i]) != std::string::npos;
          },
          std::chrono::seconds(30));
      if (!known) throw std::runtime_error("a replica never learnt its master");
      cluster_expect_ok(r, {"CLUSTER", "REPLICATE", ids_[i]});
    }
  if (!wait_ok()) throw std::runtime_error("the test cluster did not reach cluster_state:ok");
}

std::size_t RedisCluster::replica_of(std::size_t master, int k) const {
  return static_cast<std::size_t>(options_.masters) +
         master * static_cast<std::size_t>(options_.replicas_per_master) + static_cast<std::size_t>(k);
}

std::string RedisCluster::seeds(bool tls) const {
  std::string out;
  for (int i = 0; i < options_.masters; ++i)
    out +=
        (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(tls ? nodes_[i]->tls_port() : nodes_[i]->port());
  return out;
}

std::string RedisCluster::node_id(std::size_t i) {
  return ids_.at(i);
}

int RedisCluster::owner_of(int slot) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!node(i).running()) continue;
    std::istringstream lines(node(i).cli({"CLUSTER", "NODES"}));
    for (std::string line; std::getline(lines, line);)
      if (line.find("myself") != std::string::npos && line.find("master") != std::string::npos &&
          cluster_line_has_slot(line, slot))
        return static_cast<int>(i);
  }
  return -1;
}

bool RedisCluster::wait_ok(std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        std::size_t running = 0;
        for (auto& n : nodes_) running += n->running() ? 1 : 0;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          if (!node(i).running()) continue;
          std::string info = node(i).cli({"CLUSTER", "INFO"});
          if (info.find("cluster_state:ok") == std::string::npos) return false;
          // Every running node is known and no running node is flagged failed.
          std::string nodes = node(i).cli({"CLUSTER", "NODES"});
          std::size_t known = 0;
          for (std::size_t j = 0; j < nodes_.size(); ++j)
            if (node(j).running() && nodes.find(ids_[j]) != std::string::npos) ++known;
          if (known != running) return false;
          std::string role = node(i).cli({"ROLE"});
          if (role.starts_with("slave") && role.find("connected") == std::string::npos) return false;
        }
        return true;
      },
      timeout, std::chrono::milliseconds(50));
}

void RedisCluster::begin_migration(int slot, std::size_t from, std::size_t to) {
  cluster_expect_ok(node(to), {"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", ids_.at(from)});
  cluster_expect_ok(node(from), {"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", ids_.at(to)});
}

int RedisCluster::migrate_keys(int slot, std::size_t from, std::size_t to, int max_keys) {
  std::istringstream keys(
      node(from).cli({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(max_keys)}));
  std::vector<std::string> args = {"MIGRATE", "127.0.0.1", std::to_string(node(to).port()), "", "0",
                                   "10000",   "KEYS"};
  int n = 0;
  for (std::string key; std::getline(keys, key);)
    if (!key.empty()) {
      args.push_back(key);
      ++n;
    }
  if (n > 0) cluster_expect_ok(node(from), args);
  return n;
}

void RedisCluster::finish_migration(int slot, std::size_t to) {
  for (int i = 0; i < options_.masters; ++i)
    if (node(i).running())
      cluster_expect_ok(node(i), {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", ids_.at(to)});
}

}  // namespace d4::test
