#pragma once
// Read model of the analyzer queues (/queues, /queues/{id}, /api/v1/queues...).
#include <optional>
#include <string>
#include <vector>

#include "core/redis_client.hpp"
#include "queues/queue_store.hpp"
#include "web/auth/scope.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"

namespace d4::web::models {

struct QueueView {
  queues::QueueInfo info;
  long long effective_max_size = 0;  // max_size or the configured default
  queues::QueueStats stats;
  // A queue another organisation granted the viewer's: that organisation (uuid, name); the view
  // then carries no sensor of it (docs/web.md#queue-grants).
  std::string granted_by, granted_by_name;
};

void to_json(json& j, const QueueView& q);

struct QueueList {
  std::vector<QueueView> items;
  long long default_max_size = 0;
};
D4_VIEW_TO_JSON(QueueList, items, default_max_size)

struct QueuePreviewItem {
  std::string value;
  bool truncated = false;
};
D4_VIEW_TO_JSON(QueuePreviewItem, value, truncated)

struct QueuePreview {
  std::string id;
  std::vector<QueuePreviewItem> newest_first;
};
D4_VIEW_TO_JSON(QueuePreview, id, newest_first)

class Queues {
 public:
  // `analyzer`: the database of the lists the analyzers pop.
  Queues(queues::QueueStore& store, core::RedisClient& analyzer) : store_(store), analyzer_(analyzer) {}
  explicit Queues(Db& db) : Queues(db.queue_store, db.analyzer) { meta_ = &db.meta; }

  // Whether `scope` may see the queue: an unrestricted scope every queue; a restricted one the
  // group queues fed only by its own sensors (a queue of a type receives every organisation's)
  // and the queues other organisations granted its organisation.
  static bool visible(const queues::QueueInfo& q, const Scope& scope);
  QueueList list(const Scope& scope);
  QueueView view(const queues::QueueInfo& q);
  // The view `scope` may see: a granted queue without the granting organisation's sensors.
  QueueView view(const queues::QueueInfo& q, const Scope& scope);
  // The queue if it exists and `scope` may see it (else nothing, like an unknown queue).
  std::optional<QueueView> find(const std::string& id, const Scope& scope);
  // The newest `count` elements (1..100), each cut to `max_line_len` (10..100000) characters.
  QueuePreview preview(const queues::QueueInfo& q, long long count, long long max_line_len);

 private:
  queues::QueueStore& store_;
  core::RedisClient& analyzer_;
  core::RedisClient* meta_ = nullptr;  // organisations' names (granted queues)
};

}  // namespace d4::web::models
