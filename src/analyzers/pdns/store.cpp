#include "analyzers/pdns/store.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <future>

#include "analyzers/pdns/dns_message.hpp"

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
// the smaller (KEYS[1] first seen, ARGV[1]) or the larger (KEYS[2] last seen, ARGV[2]) value.
constexpr std::string_view kFixScript = R"lua(
if KEYS[1] ~= '' then
  local c = tonumber(redis.call('GET', KEYS[1]) or '')
  if not c or c > tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') end
end
if KEYS[2] ~= '' then
  local c = tonumber(redis.call('GET', KEYS[2]) or '')
  if not c or c < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2], 'KEEPTTL') end
end
return 1
)lua";

std::optional<std::int64_t> reply_int(const core::RedisReply& r) {
  return r.is_nil() ? std::nullopt : r.as_integer();
}

constexpr std::size_t kRecordsPerCall = 400;

std::string sha1_hex(std::string_view s) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  std::string out;
  dns::append_hex(out, {d, sizeof d});
  return out;
}

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

PdnsStore::PdnsStore(core::RedisClient& redis, StoreOptions options)
    : redis_(redis), options_(std::move(options)) {
  if (options_.batch_records == 0) options_.batch_records = 1;
}

bool PdnsStore::excluded(std::string_view rrname) const {
  for (const auto& sub : options_.exclude_substrings)
    if (!sub.empty() && rrname.find(sub) != std::string_view::npos) return true;
  return false;
}

bool PdnsStore::add(const PdnsRecord& r) {
  // A full batch goes to the background writer before this record is counted, so that a Redis
  // error thrown here leaves the record for the caller to add again, exactly once.
  if (distinct_pending_ >= options_.batch_records) {
    if (options_.async_writes)
      submit();
    else
      flush();
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

void PdnsStore::wait_inflight() {
  if (!inflight_.valid()) return;
  try {
    inflight_.get();
  } catch (...) {
    failed_ = std::move(inflight_batch_);  // written again by the next flush()
    inflight_batch_.reset();
    throw;
  }
  account(*inflight_batch_);
  inflight_batch_.reset();
}

void PdnsStore::account(const Batch& b) {
  ++stats_.writes;
  stats_.distinct_written += b.distinct;
}

void PdnsStore::discard() {
  try {
    wait_inflight();
  } catch (const core::RedisError&) {
  }
  failed_.reset();
  clear_pending();
}

PdnsStore::~PdnsStore() {
  try {
    wait_inflight();
  } catch (...) {
  }
}

std::size_t PdnsStore::pending() const {
  return static_cast<std::size_t>(processed_) + rejects_.size() + excluded_pending_ +
         (failed_ ? failed_->observations : 0) + (inflight_batch_ ? inflight_batch_->observations : 0);
}

void PdnsStore::submit() {
  wait_inflight();  // at most one batch in flight; throws with the pending records untouched
  auto batch = std::make_shared<Batch>(build_batch());
  if (!writer_) writer_ = std::make_unique<core::RedisClient>(redis_.endpoint());
  inflight_batch_ = batch;
  inflight_ = std::async(std::launch::async, [this, batch] { write_batch(*writer_, *batch); });
}

void PdnsStore::flush() {
  wait_inflight();
  if (failed_) {
    write_batch(redis_, *failed_);
    account(*failed_);
    failed_.reset();
  }
  if (processed_ == 0 && rejects_.empty() && excluded_pending_ == 0) return;
  Batch b = build_batch();
  try {
    write_batch(redis_, b);
  } catch (...) {
    failed_ = std::make_shared<Batch>(std::move(b));
    throw;
  }
  account(b);
}

PdnsStore::Batch PdnsStore::build_batch() {
  Batch batch;
  batch.distinct = distinct_pending_;
  batch.observations = processed_ + rejects_.size() + excluded_pending_;
  auto& cmds = batch.cmds;
  auto& checks = batch.checks;
  if (mode_ == WriteMode::Unknown) {
    // SET with both NX and GET needs Redis 7; older servers and other Redis-protocol stores get the
    // script that reads before writing.
    auto probe = redis_.command({"SET", "d4:pdns:probe", "1", "NX", "GET"});
    redis_.command({"DEL", "d4:pdns:probe"});
    if (probe.is_error()) {
      mode_ = WriteMode::Script;
      script_ = kWriteScriptCompat;
    } else {
      mode_ = options_.write_mode == "script" ? WriteMode::Script : WriteMode::Pipeline;
      script_ = kWriteScript;
    }
    script_sha_ = sha1_hex(script_);
  }
  // Pipelined plain commands: Redis executes them faster than the same calls inside a script.
  if (mode_ == WriteMode::Pipeline) {
    for (auto& [type, records] : by_type_) {
      auto ttl_it = options_.expiry_seconds.find(type);
      std::string ttl = ttl_it == options_.expiry_seconds.end() ? "" : std::to_string(ttl_it->second);
      for (auto& [qv, a] : records) {
        const std::string& q = qv.first;
        const std::string& v = qv.second;
        std::string r = keys::forward(q, type), rv = keys::reverse(v, type), f = keys::first_seen(q, v, type),
                    l = keys::last_seen(q, v, type), o = keys::occurrences(q, v, type);
        cmds.push_back({"SADD", r, v});
        cmds.push_back({"SADD", rv, q});
        Check c{cmds.size(), cmds.size() + 1, f, l, a.first, a.last};
        cmds.push_back({"SET", f, std::to_string(a.first), "NX", "GET"});
        cmds.push_back({"SET", l, std::to_string(a.last), "GET", "KEEPTTL"});
        cmds.push_back({"INCRBY", o, std::to_string(a.count)});
        if (!ttl.empty())
          for (const std::string* k : {&r, &rv, &f, &l, &o}) cmds.push_back({"EXPIRE", *k, ttl});
        if (!a.sensors.empty()) {
          std::vector<std::string> sadd{"SADD", keys::sensors_of(q, v, type)};
          sadd.insert(sadd.end(), a.sensors.begin(), a.sensors.end());
          std::string key = sadd[1];
          cmds.push_back(std::move(sadd));
          if (!ttl.empty()) cmds.push_back({"EXPIRE", key, ttl});
        }
        checks.push_back(std::move(c));
      }
    }
  } else {
    cmds.push_back({"SCRIPT", "LOAD", std::string(script_)});
  }
  std::vector<std::string> call;
  std::size_t in_call = 0;
  auto start_call = [&] {
    call = {"EVALSHA", script_sha_, "0"};
    in_call = 0;
  };
  auto end_call = [&] {
    if (in_call == 0) return;
    call[2] = std::to_string(in_call * 5);
    cmds.push_back(std::move(call));
  };
  std::vector<std::string> args;
  for (auto& [type, records] : by_type_) {
    if (mode_ != WriteMode::Script) break;
    auto ttl_it = options_.expiry_seconds.find(type);
    std::string ttl = ttl_it == options_.expiry_seconds.end() ? "0" : std::to_string(ttl_it->second);
    std::string type_text = std::to_string(type);
    for (auto& [qv, a] : records) {
      const std::string& q = qv.first;
      const std::string& v = qv.second;
      if (in_call == 0) {
        start_call();
        args.clear();
      }
      call.push_back(keys::forward(q, type));
      call.push_back(keys::reverse(v, type));
      call.push_back(keys::first_seen(q, v, type));
      call.push_back(keys::last_seen(q, v, type));
      call.push_back(keys::occurrences(q, v, type));
      args.push_back(v);
      args.push_back(q);
      args.push_back(std::to_string(a.first));
      args.push_back(std::to_string(a.last));
      args.push_back(std::to_string(a.count));
      args.push_back(ttl);
      ++in_call;
      if (!a.sensors.empty()) {
        std::vector<std::string> sadd{"SADD", keys::sensors_of(q, v, type)};
        sadd.insert(sadd.end(), a.sensors.begin(), a.sensors.end());
        std::string key = sadd[1];
        cmds.push_back(std::move(sadd));
        if (ttl != "0") cmds.push_back({"EXPIRE", key, ttl});
      }
      if (in_call == kRecordsPerCall) {
        call.insert(call.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
        end_call();
        in_call = 0;
      }
    }
  }
  if (in_call > 0) {
    call.insert(call.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
    end_call();
  }
  for (auto& [k, n] : dist_ttl_)
    cmds.push_back({"HINCRBY", std::string(keys::kDistTtl), k, std::to_string(n)});
  for (auto& [k, n] : dist_class_)
    cmds.push_back({"HINCRBY", std::string(keys::kDistClass), k, std::to_string(n)});
  for (auto& [k, n] : dist_type_)
    cmds.push_back({"HINCRBY", std::string(keys::kDistType), k, std::to_string(n)});
  for (auto& [k, n] : sensors_) {
    cmds.push_back({"ZINCRBY", std::string(keys::kSensors), std::to_string(n), k});
    cmds.push_back({"SADD", std::string(keys::kSensorsSeen), k});
  }
  if (processed_) cmds.push_back({"INCRBY", std::string(keys::kProcessed), std::to_string(processed_)});
  if (excluded_pending_)
    cmds.push_back({"INCRBY", std::string(keys::kExcluded), std::to_string(excluded_pending_)});
  if (!rejects_.empty()) {
    std::map<std::string, std::uint64_t> by_reason;
    std::map<std::pair<std::string, std::string>, std::uint64_t> by_sensor;
    std::vector<std::string> push{"LPUSH", std::string(keys::kRejectedSamples)};
    for (const auto& r : rejects_) {
      ++by_reason[r.reason];
      if (!r.sensor.empty()) ++by_sensor[{r.sensor, r.reason}];
      push.push_back(r.reason + " " + r.input);
    }
    for (auto& [reason, n] : by_reason)
      cmds.push_back({"HINCRBY", std::string(keys::kRejected), reason, std::to_string(n)});
    for (auto& [sr, n] : by_sensor)
      cmds.push_back({"HINCRBY", keys::rejected_by_sensor(sr.first), sr.second, std::to_string(n)});
    cmds.push_back(std::move(push));
    cmds.push_back({"LTRIM", std::string(keys::kRejectedSamples), "0",
                    std::to_string(options_.rejected_samples == 0 ? 0 : options_.rejected_samples - 1)});
  }
  clear_pending();
  return batch;
}

void PdnsStore::write_batch(core::RedisClient& client, const Batch& batch) {
  const auto& cmds = batch.cmds;
  auto replies = client.pipeline(cmds);
  for (std::size_t i = 0; i < replies.size(); ++i)
    if (replies[i].is_error()) throw core::RedisError("pdns write (" + cmds[i][0] + "): " + replies[i].str);
  std::vector<std::vector<std::string>> fixes;
  for (const auto& c : batch.checks) {
    auto old_first = reply_int(replies[c.first_reply]);
    auto old_last = reply_int(replies[c.last_reply]);
    bool fix_first = old_first && *old_first > c.first;
    bool fix_last = old_last && *old_last > c.last;  // we overwrote a later last seen: put it back
    if (!fix_first && !fix_last) continue;
    fixes.push_back({"EVAL", std::string(kFixScript), "2", fix_first ? c.first_key : "",
                     fix_last ? c.last_key : "", std::to_string(c.first),
                     std::to_string(fix_last ? *old_last : c.last)});
  }
  if (!fixes.empty()) {
    auto fr = client.pipeline(fixes);
    for (const auto& r : fr)
      if (r.is_error()) throw core::RedisError("pdns write (first/last seen correction): " + r.str);
  }
}

}  // namespace d4::analyzers::pdns
