#include "analyzers/pdns/store.hpp"

#include <boost/asio/io_context.hpp>

#include <algorithm>

#include "analyzers/pdns/dns_message.hpp"
#include "core/digest.hpp"
#include "core/redis_async.hpp"

namespace d4::analyzers::pdns {
namespace {

// One call writes a slice of distinct records: 5 keys (r, v, s, l, o) and 6 arguments (rdata,
// rrname, first, last, count, ttl) per record. First/last seen are min/max-updated atomically.
// Redis >= 7 lets SET report the previous value while setting (NX + GET), so the common cases (new
// record, or times moving forward) cost one call per key.
constexpr std::string_view kWriteScript = R"lua(
local a = 1
for k = 1, #KEYS, 5 do
  redis.call('SADD', KEYS[k], ARGV[a])
  redis.call('SADD', KEYS[k + 1], ARGV[a + 1])
  local first, last = ARGV[a + 2], ARGV[a + 3]
  local s = redis.call('SET', KEYS[k + 2], first, 'NX', 'GET')
  if s and (tonumber(s) or math.huge) > tonumber(first) then redis.call('SET', KEYS[k + 2], first, 'KEEPTTL') end
  local l = redis.call('SET', KEYS[k + 3], last, 'GET', 'KEEPTTL')
  if l and tonumber(l) and tonumber(l) > tonumber(last) then redis.call('SET', KEYS[k + 3], l, 'KEEPTTL') end
  redis.call('INCRBY', KEYS[k + 4], ARGV[a + 4])
  local ttl = tonumber(ARGV[a + 5])
  if ttl > 0 then
    for j = 0, 4 do redis.call('EXPIRE', KEYS[k + j], ttl) end
  end
  a = a + 6
end
return #KEYS / 5
)lua";

// The same without SET ... GET, for servers that lack it (Redis < 7, some Redis-protocol stores).
constexpr std::string_view kWriteScriptCompat = R"lua(
local a = 1
for k = 1, #KEYS, 5 do
  redis.call('SADD', KEYS[k], ARGV[a])
  redis.call('SADD', KEYS[k + 1], ARGV[a + 1])
  local s = tonumber(redis.call('GET', KEYS[k + 2]) or '')
  if not s or s > tonumber(ARGV[a + 2]) then redis.call('SET', KEYS[k + 2], ARGV[a + 2]) end
  local l = tonumber(redis.call('GET', KEYS[k + 3]) or '')
  if not l or l < tonumber(ARGV[a + 3]) then redis.call('SET', KEYS[k + 3], ARGV[a + 3]) end
  redis.call('INCRBY', KEYS[k + 4], ARGV[a + 4])
  local ttl = tonumber(ARGV[a + 5])
  if ttl > 0 then
    for j = 0, 4 do redis.call('EXPIRE', KEYS[k + j], ttl) end
  end
  a = a + 6
end
return #KEYS / 5
)lua";

// Corrections after a pipelined write, for the rare observations that arrive out of order: keep
// the smaller (ARGV[1] "min": first seen) or the larger ("max": last seen) of the stored value
// and ARGV[2]. One key per call: the first and last seen keys of a record lie in different slots
// of a Redis Cluster.
constexpr std::string_view kFixScript = R"lua(
local c = tonumber(redis.call('GET', KEYS[1]) or '')
local v = tonumber(ARGV[2])
if not c or (ARGV[1] == 'min' and c > v) or (ARGV[1] == 'max' and c < v) then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
return 1
)lua";

std::optional<std::int64_t> reply_int(const core::RedisReply& r) {
  return r.is_nil() ? std::nullopt : r.as_integer();
}

constexpr std::size_t kRecordsPerCall = 400;

std::string triple(char prefix, std::string_view q, std::string_view v, std::uint16_t t) {
  std::string k;
  k.reserve(q.size() + v.size() + 12);
  k += prefix;
  k += ':';
  k.append(q);
  k += ':';
  k.append(v);
  k += ':';
  k += std::to_string(t);
  return k;
}

}  // namespace

namespace keys {
std::string forward(std::string_view q, std::uint16_t t) {
  return "r:" + std::string(q) + ":" + std::to_string(t);
}
std::string reverse(std::string_view v, std::uint16_t t) {
  return "v:" + std::string(v) + ":" + std::to_string(t);
}
std::string first_seen(std::string_view q, std::string_view v, std::uint16_t t) {
  return triple('s', q, v, t);
}
std::string last_seen(std::string_view q, std::string_view v, std::uint16_t t) {
  return triple('l', q, v, t);
}
std::string occurrences(std::string_view q, std::string_view v, std::uint16_t t) {
  return triple('o', q, v, t);
}
std::string sensors_of(std::string_view q, std::string_view v, std::uint16_t t) {
  return "sid:" + std::string(q) + ":" + std::string(v) + ":" + std::to_string(t);
}
}  // namespace keys

std::size_t PdnsStore::KeyHash::operator()(const std::pair<std::string, std::string>& k) const noexcept {
  std::hash<std::string> h;
  return h(k.first) * 31 + h(k.second);
}

// The batch connection and the io_context that drives it. Only run from the store's thread.
class PdnsStore::Writer {
 public:
  Writer(const core::RedisEndpoint& endpoint, std::chrono::milliseconds reply_timeout)
      : redis_(ioc_, endpoint, options(reply_timeout)) {
    redis_.start();
  }
  ~Writer() { redis_.stop(); }
  core::AsyncRedis& redis() { return redis_; }
  bool connected() const { return redis_.connected(); }
  void poll() {
    if (ioc_.stopped()) ioc_.restart();
    ioc_.poll();
  }
  // Runs handlers until `done()` or the timeout; returns done().
  template <typename Pred>
  bool run_until(Pred done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      if (ioc_.stopped()) ioc_.restart();
      ioc_.run_one_for(deadline - now);
    }
    return true;
  }

 private:
  static core::AsyncRedis::Options options(std::chrono::milliseconds reply_timeout) {
    core::AsyncRedis::Options o;
    o.name = "pdns storage";
    o.reply_timeout = reply_timeout;
    o.backoff_min = std::chrono::milliseconds(20);
    o.backoff_max = std::chrono::milliseconds(1000);
    o.max_write_bytes = 4 << 20;
    return o;
  }
  boost::asio::io_context ioc_;
  core::AsyncRedis redis_;
};

namespace {
constexpr std::chrono::milliseconds kConnectWait{2000};
// add() polls the connection every this many calls: often enough to keep Redis fed (a slice of
// records is a few hundred microseconds of Redis work), rarely enough to cost nothing.
constexpr unsigned kPollEvery = 32;
}  // namespace

PdnsStore::PdnsStore(core::RedisClient& redis, StoreOptions options)
    : redis_(redis), options_(std::move(options)) {
  if (options_.batch_records == 0) options_.batch_records = 1;
  if (options_.inflight_batches == 0) options_.inflight_batches = 1;
}

PdnsStore::~PdnsStore() {
  if (!writer_) return;
  try {
    // Replies of batches already sent are read (and corrections applied) before closing.
    writer_->run_until([&] { return inflight_ == 0; }, options_.reply_timeout);
  } catch (...) {
  }
}

bool PdnsStore::excluded(std::string_view rrname) const {
  for (const auto& sub : options_.exclude_substrings)
    if (!sub.empty() && rrname.find(sub) != std::string_view::npos) return true;
  return false;
}

void PdnsStore::poll() {
  if (writer_ && inflight_ > 0) writer_->poll();
}

bool PdnsStore::add(const PdnsRecord& r) {
  // Everything that can throw happens before the record is counted, so that a Redis error
  // thrown here leaves the record for the caller to add again, exactly once.
  if (++polls_skipped_ >= kPollEvery) {
    polls_skipped_ = 0;
    poll();
  }
  if (!failed_.empty()) resend_failed();
  if (distinct_pending_ >= options_.batch_records) {
    send(build_batch());
    wait_inflight(options_.inflight_batches - 1);
  }
  if (excluded(r.rrname)) {
    ++stats_.excluded;
    ++excluded_pending_;
    return false;
  }
  auto& slot = by_type_[r.rrtype];
  auto [it, inserted] = slot.try_emplace({r.rrname, r.rdata});
  Aggregate& a = it->second;
  if (inserted) {
    a.first = r.time_first;
    a.last = r.time_last;
    ++distinct_pending_;
  } else {
    a.first = std::min(a.first, r.time_first);
    a.last = std::max(a.last, r.time_last);
  }
  a.count += r.count == 0 ? 1 : r.count;
  if (!r.sensor_id.empty()) {
    if (std::find(a.sensors.begin(), a.sensors.end(), r.sensor_id) == a.sensors.end())
      a.sensors.push_back(r.sensor_id);
    ++sensors_[r.sensor_id];
  }
  if (r.ttl >= 0) ++dist_ttl_[std::to_string(r.ttl)];
  if (!r.klass.empty()) ++dist_class_[r.klass];
  ++dist_type_[std::to_string(r.rrtype)];
  ++processed_;
  ++stats_.records;
  return true;
}

void PdnsStore::reject(std::string_view reason, std::string_view input, std::string_view sensor_id) {
  ++stats_.rejected;
  auto it = stats_.rejected_by_reason.find(reason);
  if (it == stats_.rejected_by_reason.end())
    it = stats_.rejected_by_reason.emplace(std::string(reason), 0).first;
  ++it->second;
  // Samples are truncated so a pathological input cannot bloat Redis.
  rejects_.push_back(Reject{std::string(reason), std::string(input.substr(0, 1024)), std::string(sensor_id)});
}

void PdnsStore::clear_pending() {
  by_type_.clear();
  distinct_pending_ = 0;
  dist_ttl_.clear();
  dist_class_.clear();
  dist_type_.clear();
  sensors_.clear();
  processed_ = 0;
  excluded_pending_ = 0;
  rejects_.clear();
}

std::size_t PdnsStore::pending() const {
  return static_cast<std::size_t>(processed_) + rejects_.size() + excluded_pending_ + failed_observations_ +
         inflight_observations_;
}

void PdnsStore::discard() {
  // Past reply_timeout the connection's watchdog has failed whatever is left, so nothing still in
  // flight can be written after the caller delivers the same input again.
  if (writer_) writer_->run_until([&] { return inflight_ == 0; }, options_.reply_timeout * 2);
  failed_.clear();
  failed_observations_ = 0;
  clear_pending();
}

void PdnsStore::flush() {
  if (!failed_.empty()) resend_failed();
  if (processed_ != 0 || !rejects_.empty() || excluded_pending_ != 0) send(build_batch());
  wait_inflight(0);
  throw_if_failed();
}

void PdnsStore::throw_if_failed() {
  if (!failed_.empty()) throw core::RedisError("pdns storage: " + last_error_);
}

void PdnsStore::wait_inflight(std::size_t at_most) {
  if (!writer_ || inflight_ <= at_most) return;
  // The connection's watchdog fails requests that get no reply within reply_timeout; this bound
  // only guards against a bug leaving a batch without completion.
  if (!writer_->run_until([&] { return inflight_ <= at_most; }, options_.reply_timeout * 3))
    throw core::RedisError("pdns storage: no reply from " + redis_.endpoint().to_string());
}

void PdnsStore::resend_failed() {
  if (!writer_ || !writer_->run_until([&] { return writer_->connected(); }, kConnectWait))
    throw core::RedisError("pdns storage: " + (last_error_.empty() ? "not connected" : last_error_));
  auto batches = std::move(failed_);
  failed_.clear();
  failed_observations_ = 0;
  for (auto& b : batches) send(std::move(b));
}

void PdnsStore::send(std::shared_ptr<Batch> batch) {
  if (!writer_) writer_ = std::make_unique<Writer>(redis_.endpoint(), options_.reply_timeout);
  if (!writer_->run_until([&] { return writer_->connected(); }, kConnectWait)) {
    last_error_ = "cannot connect to " + redis_.endpoint().to_string();
    failed_observations_ += batch->observations;
    failed_.push_back(std::move(batch));
    throw core::RedisError("pdns storage: " + last_error_);
  }
  submit(std::move(batch));
  writer_->poll();  // starts writing now
}

void PdnsStore::submit(std::shared_ptr<Batch> batch) {
  ++inflight_;
  if (options_.inflight_gauge) options_.inflight_gauge->store(static_cast<std::int64_t>(inflight_));
  inflight_observations_ += batch->observations;
  std::string resp = std::move(batch->resp);
  auto commands = batch->commands;
  writer_->redis().submit_returning_request(
      std::move(resp), commands, false,
      [this, batch](boost::system::error_code ec, core::RedisReplies&& replies,
                    std::string&& request) mutable {
        batch->resp = std::move(request);  // kept to be sent again if this write failed
        on_reply(batch, ec ? ec.message() : std::string(), replies);
      });
}

void PdnsStore::on_reply(const std::shared_ptr<Batch>& batch, const std::string& error,
                         std::vector<core::RedisReply>& replies) {
  --inflight_;
  if (options_.inflight_gauge) options_.inflight_gauge->store(static_cast<std::int64_t>(inflight_));
  inflight_observations_ -= batch->observations;
  auto fail = [&](std::string why) {
    last_error_ = std::move(why);
    failed_observations_ += batch->observations;
    failed_.push_back(batch);
  };
  if (!error.empty()) return fail("write failed: " + error);
  for (const auto& r : replies)
    if (r.is_error()) return fail("write rejected: " + r.str);
  if (!batch->corrections) {
    // Observations older than the stored first seen, or a last seen we overwrote with an older
    // one: put the extreme back (min/max, so the order of corrections does not matter).
    std::string fixes;
    core::RespWriter w(fixes);
    std::uint32_t n = 0;
    for (const auto& c : batch->checks) {
      auto old_first = reply_int(replies[c.first_reply]);
      auto old_last = reply_int(replies[c.first_reply + 1]);
      bool fix_first = old_first && *old_first > c.first;
      bool fix_last = old_last && *old_last > c.last;
      if (fix_first) {
        w.begin(6).arg("EVAL").arg(kFixScript).arg("1").arg(keys::first_seen(*c.rrname, *c.rdata, c.type));
        w.arg("min").arg_int(c.first);
        ++n;
      }
      if (fix_last) {
        w.begin(6).arg("EVAL").arg(kFixScript).arg("1").arg(keys::last_seen(*c.rrname, *c.rdata, c.type));
        w.arg("max").arg_int(*old_last);
        ++n;
      }
    }
    if (n > 0) {
      batch->corrections = true;
      batch->resp = std::move(fixes);
      batch->commands = n;
      batch->checks.clear();
      // Queued from inside a completion handler: nothing waits here.
      if (writer_->connected()) return submit(batch);
      return fail("connection lost before the first/last seen corrections");
    }
  }
  ++stats_.writes;
  stats_.distinct_written += batch->distinct;
  batch->records.clear();
}

void PdnsStore::choose_write_mode() {
  if (mode_ != WriteMode::Unknown) return;
  // SET with both NX and GET needs Redis 7; older servers and other Redis-protocol stores get the
  // script that reads before writing.
  auto probe = redis_.command({"SET", "d4:pdns:probe", "1", "NX", "GET"});
  redis_.command({"DEL", "d4:pdns:probe"});
  if (redis_.endpoint().uses_cluster() && (probe.is_error() || options_.write_mode == "script"))
    // A script call writes the five keys of each record (r:, v:, s:, l:, o:), which lie in
    // different slots of a cluster; the pipelined writes touch one key per command.
    throw core::RedisError(
        "pdns storage " + redis_.endpoint().to_string() +
        ": on a Redis Cluster d4-pdns writes with pipelined commands (write_mode = \"pipeline\"), which "
        "need SET ... NX GET (Redis >= 7)" +
        (probe.is_error() ? "; the cluster answered: " + probe.str : std::string()));
  if (probe.is_error()) {
    mode_ = WriteMode::Script;
    script_ = kWriteScriptCompat;
  } else {
    mode_ = options_.write_mode == "script" ? WriteMode::Script : WriteMode::Pipeline;
    script_ = kWriteScript;
  }
  script_sha_ = core::sha1_hex(script_);
}

std::shared_ptr<PdnsStore::Batch> PdnsStore::build_batch() {
  choose_write_mode();  // may throw: nothing pending is touched before
  auto batch = std::make_shared<Batch>();
  Batch& b = *batch;
  b.distinct = distinct_pending_;
  b.observations = processed_ + rejects_.size() + excluded_pending_;
  b.records = std::move(by_type_);
  by_type_ = RecordsByType{};
  b.resp.reserve(distinct_pending_ * 480 + 4096);
  core::RespWriter w(b.resp);
  std::uint32_t& n = b.commands;
  auto compose = [&](std::string_view prefix, std::string_view a, std::string_view c, std::string_view t) {
    key_.assign(prefix);
    key_.append(a);
    key_ += ':';
    if (!c.empty()) {
      key_.append(c);
      key_ += ':';
    }
    key_.append(t);
    return std::string_view(key_);
  };
  auto expire = [&](std::string_view key, std::string_view ttl) {
    w.begin(3).arg("EXPIRE").arg(key).arg(ttl);
    ++n;
  };
  if (mode_ == WriteMode::Pipeline) {
    // Pipelined plain commands: Redis executes them faster than the same calls inside a script.
    for (auto& [type, records] : b.records) {
      auto ttl_it = options_.expiry_seconds.find(type);
      std::string ttl = ttl_it == options_.expiry_seconds.end() ? "" : std::to_string(ttl_it->second);
      std::string t = std::to_string(type);
      b.checks.reserve(b.checks.size() + records.size());
      for (auto& [qv, a] : records) {
        const std::string& q = qv.first;
        const std::string& v = qv.second;
        w.begin(3).arg("SADD").arg(compose("r:", q, {}, t)).arg(v);
        w.begin(3).arg("SADD").arg(compose("v:", v, {}, t)).arg(q);
        std::size_t first_reply = n + 2;
        w.begin(5).arg("SET").arg(compose("s:", q, v, t)).arg_int(a.first).arg("NX").arg("GET");
        w.begin(5).arg("SET").arg(compose("l:", q, v, t)).arg_int(a.last).arg("GET").arg("KEEPTTL");
        w.begin(3).arg("INCRBY").arg(compose("o:", q, v, t)).arg(static_cast<std::uint64_t>(a.count));
        n += 5;
        if (!ttl.empty()) {
          expire(compose("r:", q, {}, t), ttl);
          expire(compose("v:", v, {}, t), ttl);
          for (std::string_view prefix : {"s:", "l:", "o:"}) expire(compose(prefix, q, v, t), ttl);
        }
        if (!a.sensors.empty()) {
          w.begin(2 + a.sensors.size()).arg("SADD").arg(compose("sid:", q, v, t));
          for (const auto& sensor : a.sensors) w.arg(sensor);
          ++n;
          if (!ttl.empty()) expire(key_, ttl);
        }
        b.checks.push_back(Check{first_reply, type, &q, &v, a.first, a.last});
      }
    }
  } else {
    w.command({"SCRIPT", "LOAD", script_});
    ++n;
    // One call per slice of records: KEYS (5 per record) then ARGV (6 per record).
    for (auto& [type, records] : b.records) {
      auto ttl_it = options_.expiry_seconds.find(type);
      std::string ttl = ttl_it == options_.expiry_seconds.end() ? "0" : std::to_string(ttl_it->second);
      std::string t = std::to_string(type);
      std::vector<const std::pair<const std::pair<std::string, std::string>, Aggregate>*> all;
      all.reserve(records.size());
      for (const auto& e : records) all.push_back(&e);
      for (std::size_t start = 0; start < all.size(); start += kRecordsPerCall) {
        std::size_t end = std::min(all.size(), start + kRecordsPerCall);
        std::size_t count = end - start;
        w.begin(3 + count * 11).arg("EVALSHA").arg(script_sha_).arg(static_cast<std::uint64_t>(count * 5));
        for (std::size_t i = start; i < end; ++i) {
          const auto& [q, v] = all[i]->first;
          w.arg(compose("r:", q, {}, t));
          w.arg(compose("v:", v, {}, t));
          w.arg(compose("s:", q, v, t));
          w.arg(compose("l:", q, v, t));
          w.arg(compose("o:", q, v, t));
        }
        for (std::size_t i = start; i < end; ++i) {
          const auto& [qv, a] = *all[i];
          w.arg(qv.second).arg(qv.first).arg_int(a.first).arg_int(a.last);
          w.arg(static_cast<std::uint64_t>(a.count)).arg(ttl);
        }
        ++n;
        for (std::size_t i = start; i < end; ++i) {
          const auto& [qv, a] = *all[i];
          if (a.sensors.empty()) continue;
          w.begin(2 + a.sensors.size()).arg("SADD").arg(compose("sid:", qv.first, qv.second, t));
          for (const auto& sensor : a.sensors) w.arg(sensor);
          ++n;
          if (ttl != "0") expire(key_, ttl);
        }
      }
    }
  }
  // Statistics once per batch.
  auto hincr = [&](std::string_view key, std::string_view field, std::uint64_t by) {
    w.begin(4).arg("HINCRBY").arg(key).arg(field).arg(by);
    ++n;
  };
  for (auto& [k, c] : dist_ttl_) hincr(keys::kDistTtl, k, c);
  for (auto& [k, c] : dist_class_) hincr(keys::kDistClass, k, c);
  for (auto& [k, c] : dist_type_) hincr(keys::kDistType, k, c);
  for (auto& [k, c] : sensors_) {
    w.begin(4).arg("ZINCRBY").arg(keys::kSensors).arg(c).arg(k);
    w.begin(3).arg("SADD").arg(keys::kSensorsSeen).arg(k);
    n += 2;
  }
  if (processed_) {
    w.begin(3).arg("INCRBY").arg(keys::kProcessed).arg(processed_);
    ++n;
  }
  if (excluded_pending_) {
    w.begin(3).arg("INCRBY").arg(keys::kExcluded).arg(excluded_pending_);
    ++n;
  }
  if (!rejects_.empty()) {
    std::map<std::string, std::uint64_t> by_reason;
    std::map<std::pair<std::string, std::string>, std::uint64_t> by_sensor;
    for (const auto& r : rejects_) {
      ++by_reason[r.reason];
      if (!r.sensor.empty()) ++by_sensor[{r.sensor, r.reason}];
    }
    for (auto& [reason, c] : by_reason) hincr(keys::kRejected, reason, c);
    for (auto& [sr, c] : by_sensor) hincr(keys::rejected_by_sensor(sr.first), sr.second, c);
    w.begin(2 + rejects_.size()).arg("LPUSH").arg(keys::kRejectedSamples);
    for (const auto& r : rejects_) {
      key_.assign(r.reason);
      key_ += ' ';
      key_.append(r.input);
      w.arg(key_);
    }
    w.begin(4).arg("LTRIM").arg(keys::kRejectedSamples).arg("0");
    w.arg(static_cast<std::uint64_t>(options_.rejected_samples == 0 ? 0 : options_.rejected_samples - 1));
    n += 2;
  }
  clear_pending();
  return batch;
}

}  // namespace d4::analyzers::pdns
