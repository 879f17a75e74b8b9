#include "analyzers/common/queue_consumer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <thread>

#include "core/keys.hpp"
#include "core/log_fields.hpp"
#include "core/stop_signal.hpp"

namespace d4::analyzers {
namespace {

// Moves up to ARGV[1] of the oldest elements (the tail: the server LPUSHes at the head) into the
// processing list, atomically, and returns them newest first. unpack() is bounded by Lua's C stack,
// hence the slices.
constexpr std::string_view kTakeScript = R"lua(
local items = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
local n = #items
if n == 0 then return items end
redis.call('LTRIM', KEYS[1], 0, -n - 1)
for i = 1, n, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, n)))
end
return items
)lua";

}  // namespace

std::string processing_list_key(std::string_view consumer) {
  return core::keys::analyzer_processing(consumer);
}
std::string processing_list_key(std::string_view consumer, std::string_view list_key,
                                core::keys::KeyLayout layout) {
  return core::keys::analyzer_processing(consumer, list_key, layout);
}
std::string failed_list_key(std::string_view consumer) {
  return core::keys::analyzer_failed(consumer);
}

QueueConsumer::QueueConsumer(QueueConsumerOptions options)
    : options_(std::move(options)),
      processing_key_(processing_list_key(options_.consumer_name, options_.list_key, options_.layout)),
      failed_key_(failed_list_key(options_.consumer_name)),
      heartbeat_key_(core::keys::analyzer_consumer(options_.consumer_name)),
      redis_(options_.endpoint, core::RedisClient::Options{std::chrono::milliseconds(2000),
                                                           std::chrono::milliseconds(options_.block_timeout) +
                                                               std::chrono::seconds(10)}) {
  if (options_.batch_size == 0) options_.batch_size = 1;
}

QueueConsumerStats QueueConsumer::stats() const {
  QueueConsumerStats s;
  s.elements = stats_.elements.load(std::memory_order_relaxed);
  s.batches = stats_.batches.load(std::memory_order_relaxed);
  s.redeliveries = stats_.redeliveries.load(std::memory_order_relaxed);
  s.redis_errors = stats_.redis_errors.load(std::memory_order_relaxed);
  s.failed_batches = stats_.failed_batches.load(std::memory_order_relaxed);
  return s;
}

void QueueConsumer::mark_progress() {
  last_progress_.store(static_cast<long long>(std::time(nullptr)), std::memory_order_relaxed);
}

void QueueConsumer::handle(const BatchHandler& handler, const std::vector<std::string>& batch) {
  // Counted once the handler returns (or fails), so that an element counted here has its effects
  // (the analyzer's own counters, published by the handler) already visible to a scrape.
  auto count_batch = [&] {
    stats_.elements += batch.size();
    ++stats_.batches;
  };
  try {
    handler(batch);
    count_batch();
  } catch (const core::RedisError&) {
    count_batch();
    throw;  // storage unavailable: the batch stays in the processing list and is retried
  } catch (const std::exception& e) {
    count_batch();
    // Not retryable (the handler counts per-element rejects itself; this is a whole-batch failure):
    // keep the elements in a capped dead-letter list so that nothing disappears unseen.
    ++stats_.failed_batches;
    core::log_with(core::LogFields()
                       .add(core::log_key::kQueue, options_.list_key)
                       .add("elements", batch.size())
                       .add("kept_in", failed_key_)
                       .add(core::log_key::kReason, "batch_failed")
                       .add(core::log_key::kDetail, e.what()),
                   spdlog::level::err, "queue {}: batch of {} element(s) failed, kept in {}: {}",
                   options_.list_key, batch.size(), failed_key_, e.what());
    std::vector<std::vector<std::string>> cmds;
    for (const auto& el : batch) cmds.push_back({"LPUSH", failed_key_, el});
    cmds.push_back({"LTRIM", failed_key_, "0", "9999"});
    redis_.pipeline(cmds);
  }
}

bool QueueConsumer::drain_processing_list(const BatchHandler& handler) {
  auto r = redis_.command({"LRANGE", processing_key_, "0", "-1"});
  if (r.is_error()) throw core::RedisError("LRANGE " + processing_key_ + ": " + r.str);
  auto items = r.as_strings();
  if (items.empty()) return false;
  // The processing list holds the batch newest first (see kTakeScript, BRPOPLPUSH pushes single items).
  std::reverse(items.begin(), items.end());
  stats_.redeliveries += items.size();
  core::log_with(core::LogFields()
                     .add(core::log_key::kQueue, options_.list_key)
                     .add("elements", items.size())
                     .add(core::log_key::kReason, "redelivery"),
                 spdlog::level::warn,
                 "queue {}: handling again {} element(s) left in {} by an interrupted run", options_.list_key,
                 items.size(), processing_key_);
  handle(handler, items);
  finish_batch();
  return true;
}

std::vector<std::string> QueueConsumer::take_batch() {
  auto count = std::to_string(options_.batch_size);
  auto r = redis_.command({"EVAL", kTakeScript, "2", options_.list_key, processing_key_, count});
  if (r.is_error()) throw core::RedisError("queue take script: " + r.str);
  auto items = r.as_strings();
  std::reverse(items.begin(), items.end());
  return items;
}

void QueueConsumer::finish_batch() {
  auto r = redis_.command({"DEL", processing_key_});
  if (r.is_error()) throw core::RedisError("DEL " + processing_key_ + ": " + r.str);
}

void QueueConsumer::heartbeat() {
  auto now = std::chrono::steady_clock::now();
  if (now < next_heartbeat_) return;
  next_heartbeat_ = now + std::chrono::seconds(2);
  auto wall = static_cast<long long>(std::time(nullptr));
  if (started_ == 0) started_ = wall;
  try {
    redis_.pipeline({{"HSET", heartbeat_key_, "queue", options_.list_key, "started", std::to_string(started_),
                      "updated", std::to_string(wall), "elements", std::to_string(stats_.elements.load()),
                      "batches", std::to_string(stats_.batches.load()), "failed_batches",
                      std::to_string(stats_.failed_batches.load()), "redis_errors",
                      std::to_string(stats_.redis_errors.load())},
                     {"EXPIRE", heartbeat_key_, std::to_string(core::keys::kAnalyzerConsumerTtlSeconds)},
                     {"SADD", std::string(core::keys::kAnalyzerConsumers), options_.consumer_name}});
  } catch (const core::RedisError&) {
    // Reported by the consumption itself, which uses the same connection.
  }
}

void QueueConsumer::withdraw() {
  try {
    redis_.pipeline({{"DEL", heartbeat_key_},
                     {"SREM", std::string(core::keys::kAnalyzerConsumers), options_.consumer_name}});
  } catch (const core::RedisError&) {
    // The hash expires by itself; the alert then reports the consumer down, which it is.
  }
}

std::uint64_t QueueConsumer::run(const BatchHandler& handler, const std::atomic<bool>& stop) {
  core::Backoff backoff(options_.backoff_min, options_.backoff_max);
  bool check_processing = true;  // at start and after every failure
  bool in_outage = false;
  std::uint64_t before = stats_.elements.load();
  auto timeout = std::to_string(options_.block_timeout.count());
  while (!stop.load(std::memory_order_relaxed)) {
    heartbeat();
    try {
      if (check_processing) {
        drain_processing_list(handler);
        check_processing = false;
      }
      if (in_outage) {
        spdlog::info("queue {}: Redis available again", options_.list_key);
        in_outage = false;
      }
      backoff.reset();
      auto batch = take_batch();
      mark_progress();
      if (batch.empty()) {
        if (options_.exit_when_empty) break;
        auto r = redis_.command({"BRPOPLPUSH", options_.list_key, processing_key_, timeout});
        if (r.is_error()) throw core::RedisError("BRPOPLPUSH: " + r.str);
        mark_progress();
        in_outage_.store(false, std::memory_order_relaxed);
        if (r.is_nil()) continue;
        batch.push_back(r.str);
      }
      check_processing = true;  // until finish_batch succeeds
      handle(handler, batch);
      finish_batch();
      check_processing = false;
      mark_progress();
      in_outage_.store(false, std::memory_order_relaxed);
    } catch (const core::RedisError& e) {
      ++stats_.redis_errors;
      if (!in_outage) spdlog::warn("queue {}: {}; retrying with backoff", options_.list_key, e.what());
      in_outage = true;
      in_outage_.store(true, std::memory_order_relaxed);
      redis_.disconnect();
      check_processing = true;
      if (!core::sleep_unless_stopped(backoff.next(), stop)) break;
    }
  }
  withdraw();
  return stats_.elements - before;
}

}  // namespace d4::analyzers
