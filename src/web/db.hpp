#pragma once
// The Redis connections of a request handler thread, and the stores that the handlers act
// through.
//
// Handlers run on the HTTP server's pool ([web] threads) and block on Redis, so each thread has
// its own blocking connections (a thread_local Db, opened on first use). Connections open
// lazily: a thread holds connections only to what its requests used.
#include <memory>

#include "core/redis_client.hpp"
#include "core/sensors.hpp"
#include "queues/queue_store.hpp"
#include "web/auth/users.hpp"
#include "web/web_config.hpp"

namespace d4::web {

struct Db {
  core::RedisClient meta;         // sensors, statistics, queue definitions
  core::RedisClient stream;       // connections, worker sessions
  core::RedisClient users;        // users and API tokens
  core::RedisClient analyzer;     // the analyzer queues' lists
  core::RedisClient cache;        // sessions and login throttling
  core::RedisClient backscatter;  // d4-pibs results ([web] backscatter_redis)
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
