#include "web/db.hpp"

#include <memory>

namespace d4::web {

namespace {
bool same_server(const core::RedisEndpoint& a, const core::RedisEndpoint& b) {
  return a.with_db(0) == b.with_db(0);
}
}  // namespace

core::RedisClient ServerConnections::client(const core::RedisEndpoint& database) {
  for (auto& s : servers_)
    if (same_server(s.endpoint(), database)) return s.sharing_connection(database.db);
  servers_.emplace_back(database);
  return servers_.back().sharing_connection(database.db);
}

Db::Db(const WebConfig& c)
    : meta(connections_.client(c.common.redis.meta)),
      stream(connections_.client(c.common.redis.stream)),
      users(connections_.client(c.common.redis.users)),
      analyzer(connections_.client(c.common.redis.analyzer)),
      cache(connections_.client(c.common.redis.cache)),
      backscatter(connections_.client(c.backscatter_redis)),
      layout(c.common.redis.layout),
      policy(meta, stream, layout),
      user_store(users, c.password_hash, core::keys::database_prefix(layout, core::keys::Database::Users)),
      queue_store(meta, analyzer, c.queue_default_max_size, c.common.redis.layout) {}

Db& Connections::this_thread() {
  thread_local std::unique_ptr<Db> db;
  thread_local const Connections* owner = nullptr;
  if (!db || owner != this) {
    db = std::make_unique<Db>(cfg_);
    owner = this;
  }
  return *db;
}

}  // namespace d4::web
