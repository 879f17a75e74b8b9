#include "web/db.hpp"

namespace d4::web {

Db::Db(const WebConfig& c)
    : meta(c.common.redis.meta),
      stream(c.common.redis.stream),
      users(c.common.redis.users),
      analyzer(c.common.redis.analyzer),
      cache(c.common.redis.cache),
      backscatter(c.backscatter_redis),
      policy(meta, stream),
      user_store(users),
      queue_store(meta, analyzer, c.queue_default_max_size) {}

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
