#pragma once
// Where a Redis database lives, in one syntax for every component (docs/configuration.md, "Redis
// endpoints"):
//   host:port/db, [v6]:port/db, unix:/path.sock/db
//   redis://[[user]:password@]host:port/db[?password_file=/path]
//   rediss://[[user]:password@]host:port/db[?ca=..&cert=..&key=..&sni=..&password_file=..]   (TLS)
//   redis-sentinel://[[user]:password@]s1:26379,s2:26379/master-name[/db][?sentinel_user=..&
//       sentinel_password=..|sentinel_password_file=..]   (rediss-sentinel://: TLS to all of them)
//   redis-cluster://[[user]:password@]seed1:6379,seed2:6379[?password_file=..]   (Redis Cluster;
//       rediss-cluster://: TLS to every node, with the rediss:// settings; db 0 only)
// The credentials in the URL are the data node's (an ACL user sends AUTH user password); a Sentinel
// endpoint's sentinels may have their own. Files named by the query (password files, and the
// certificates when a client connects) are read when the endpoint is parsed or used, never printed.
// Passwords never appear in to_string() nor in error messages (redact()).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/redact.hpp"
#include "protocol/tls_client.hpp"

namespace d4::core {

// TLS to Redis (rediss://): the server is verified against ca_file (empty: the system's trust
// store) and must be named server_name (empty: the endpoint's host) in its certificate
// (protocol/tls_client.hpp).
struct RedisTls : protocol::TlsClientSettings {
  bool enabled = false;
  friend bool operator==(const RedisTls&, const RedisTls&) = default;
};

struct RedisNode {
  std::string host;
  int port = 0;
  friend bool operator==(const RedisNode&, const RedisNode&) = default;
};

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_socket;  // when set, host/port are ignored
  int db = 0;
  std::string password;
  std::string username = {};  // Redis 6 ACL user (AUTH user password); empty: AUTH password
  RedisTls tls = {};
  // Sentinel: when sentinel_master is set, host/port are not used: the clients ask `sentinels` in
  // turn for the master's address on every (re)connection and check its ROLE.
  std::string sentinel_master = {};
  std::vector<RedisNode> sentinels = {};
  std::string sentinel_username = {};
  std::string sentinel_password = {};
  // Cluster: when cluster_seeds is set, host/port are not used: the clients read the slot map
  // from any reachable seed (CLUSTER SLOTS) and route each command to the node owning its keys
  // (core/redis_cluster.hpp). A cluster has database 0 only.
  std::vector<RedisNode> cluster_seeds = {};

  // nullopt and `error` (safe to print: the password is masked) when `text` is not an endpoint.
  static std::optional<RedisEndpoint> parse(std::string_view text, std::string* error = nullptr);
  std::string to_string() const;  // without the credentials
  bool uses_sentinel() const { return !sentinel_master.empty(); }
  bool uses_cluster() const { return !cluster_seeds.empty(); }
  // The same endpoint pointing at one node (a master found through Sentinel, a cluster node).
  RedisEndpoint at_node(const RedisNode& node) const;
  RedisEndpoint with_db(int other_db) const {
    RedisEndpoint e = *this;
    e.db = other_db;
    return e;
  }
  friend bool operator==(const RedisEndpoint&, const RedisEndpoint&) = default;
};

// Reads a one-line secret file (a final line break dropped); nullopt with *error (naming the file,
// never its content) when it cannot be read or is empty.
std::optional<std::string> read_password_file(const std::string& path, std::string* error);

}  // namespace d4::core
