#pragma once
// The Redis databases of a request handler thread, and the stores that the handlers act through.
//
// Handlers run on the HTTP server's pool ([web] threads) and block on Redis, so each thread has
// its own blocking clients (a thread_local Db, made on the thread's first request). The web tier
// reads six databases — meta, stream, users, analyzer, cache, and d4-pibs's results — but they
// live on few servers: users, analyzer and cache are databases 1-3 of the meta server unless
// configured otherwise, and the backscatter results are database 4 of it by default. So a Db
// holds one connection per distinct Redis server (host, port or socket, password), and the
// client of each database shares the connection of its server: a command goes with a SELECT, in
// the same round trip, when the socket last served another database
// (core::RedisClient::sharing_connection). With the default layout a thread holds at most two
// sockets (the meta and the stream server), one when both are the same server, instead of one
// per database; a socket opens on the first command that needs it.
#include <vector>

#include "core/redis_client.hpp"
#include "core/sensors.hpp"
#include "queues/queue_store.hpp"
#include "web/auth/users.hpp"
#include "web/web_config.hpp"

namespace d4::web {

// Clients of Redis databases such that the databases of one server share one connection.
class ServerConnections {
 public:
  core::RedisClient client(const core::RedisEndpoint& database);

 private:
  std::vector<core::RedisClient> servers_;  // one client per server, owning its connection
};

struct Db {
 private:
  ServerConnections connections_;  // first: the clients below are made from it

 public:
  core::RedisClient meta;         // sensors, statistics, queue definitions
  core::RedisClient stream;       // connections, worker sessions
  core::RedisClient users;        // users and API tokens
  core::RedisClient analyzer;     // the analyzer queues' lists
  core::RedisClient cache;        // sessions and login throttling
  core::RedisClient backscatter;  // d4-pibs results ([web] backscatter_redis)
  // [redis] key_layout: the stream Redis's key names, and the users and cache databases as key
  // prefixes in the cluster layout (core/keys.hpp).
  core::keys::KeyLayout layout;
  core::SensorPolicy policy;
  UserStore user_store;
  queues::QueueStore queue_store;
  explicit Db(const WebConfig& c);
};

// Hands each thread its Db.
class Connections {
 public:
  explicit Connections(const WebConfig& config) : cfg_(config) {}
  Db& this_thread();

 private:
  const WebConfig& cfg_;
};

}  // namespace d4::web
