#include "workers/runner.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "core/lease.hpp"
#include "core/log_fields.hpp"
#include "core/redis_cluster.hpp"
#include "core/sensors.hpp"
#include "protocol/uuid.hpp"
#include "queues/queue_outbox.hpp"
#include "workers/backlog.hpp"
#include "workers/handlers/registry.hpp"
#include "workers/quarantine.hpp"

namespace d4::workers {
namespace keys = core::keys;
using Clock = std::chrono::steady_clock;

namespace {

// The structured fields of a session's log lines (JSON logs): type, session, and the sensor once
// known.
core::LogFields runner_session_fields(std::string_view type, std::string_view session,
                                      std::string_view sensor = {}) {
  core::LogFields f;
  int number = 0;
  if (std::from_chars(type.data(), type.data() + type.size(), number).ec == std::errc())
    f.add(core::log_key::kType, number);
  else
    f.add(core::log_key::kType, type);
  f.add(core::log_key::kSession, session);
  if (!sensor.empty()) f.add(core::log_key::kSensorUuid, sensor);
  return f;
}

std::pair<std::uint64_t, std::uint64_t> parse_id(std::string_view id) {
  std::uint64_t ms = 0, seq = 0;
  auto dash = id.find('-');
  std::from_chars(id.data(), id.data() + (dash == std::string_view::npos ? id.size() : dash), ms);
  if (dash != std::string_view::npos) std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
  return {ms, seq};
}

// The smallest id after `id` (XTRIM MINID removes entries strictly below it).
std::string next_id(std::string_view id) {
  auto [ms, seq] = parse_id(id);
  if (seq == UINT64_MAX) return fmt::format("{}-0", ms + 1);
  return fmt::format("{}-{}", ms, seq + 1);
}

std::string field(const Fields& f, const std::string& k, std::string def = {}) {
  auto it = f.find(k);
  return it == f.end() ? def : it->second;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto nl = s.find('\n', pos);
    if (nl == std::string::npos) nl = s.size();
    if (nl > pos) out.push_back(s.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

queues::QueueTarget target_of(const std::string& t) {
  bool numeric = !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
  return numeric ? queues::QueueTarget::numeric(std::stoi(t)) : queues::QueueTarget::extended(t);
}

// The fields of one XRANGE/XREAD entry that the runner uses.
struct StreamEntry {
  const std::string* id = nullptr;
  const std::string* message = nullptr;
  const std::string* uuid = nullptr;
};

std::optional<StreamEntry> entry_of(const core::RedisReply& e) {
  if (e.elements.size() != 2) return std::nullopt;
  StreamEntry out;
  out.id = &e.elements[0].str;
  const auto& kv = e.elements[1].elements;
  for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
    if (kv[i].str == "message")
      out.message = &kv[i + 1].str;
    else if (kv[i].str == "uuid")
      out.uuid = &kv[i + 1].str;
  }
  return out;
}

struct LeaseLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

struct TypeRunner::Session {
  std::string id, sensor, ext;
  std::unique_ptr<SessionHandler> handler;
  std::map<int, std::string> last_id;      // stream type -> last processed entry id
  std::map<int, std::uint64_t> untrimmed;  // stream type -> payload bytes processed, not yet trimmed
  std::vector<std::string> pending;        // closed archives awaiting compression (committed)
  std::set<std::string> submitted;         // of which handed to the compressor by this runner
  bool ending = false;
  bool quarantined = false;   // its data made the handler fail too often: drained, not processed
  bool had_failures = false;  // failures counted in worker_failures, reset by the next progress
  bool got_data = false;
  std::uint64_t outbox_seq = 1;  // cluster layout: the number of the next outbox entry (committed)
  Clock::time_point last_end_check{};
  std::uint64_t discarded_bytes = 0;
};

class TypeRunner::Context : public SessionContext {
 public:
  Context(TypeRunner& r, Session& s) : r_(r), s_(s) {}
  const WorkerSettings& settings() const override { return r_.settings_; }
  const std::string& session() const override { return s_.id; }
  const std::string& sensor() const override { return s_.sensor; }
  std::time_t now() const override { return std::time(nullptr); }
  bool is_accepted_extended_type(const std::string& ext) override {
    auto now = Clock::now();
    if (now - r_.ext_cache_loaded_ > std::chrono::seconds(5)) {
      r_.accepted_ext_cache_.clear();
      r_.ext_cache_loaded_ = now;
    }
    auto it = r_.accepted_ext_cache_.find(ext);
    if (it != r_.accepted_ext_cache_.end()) return it->second;
    auto rep = r_.meta_.command({"SISMEMBER", keys::kAcceptedExtendedTypes, ext});
    bool ok = rep.integer == 1;
    r_.accepted_ext_cache_[ext] = ok;
    return ok;
  }
  void record_extended_type(const std::string& ext, const std::string& meta_header_json) override {
    s_.ext = ext;
    auto now_text = std::to_string(now());
    r_.stream_.pipeline({{"SADD", r_.live(keys::active_extended_types(s_.sensor)), ext},
                         {"HSET", r_.live(keys::kSessionExtendedType), s_.id, ext}});
    auto meta_key = keys::sensor_extended_type_metadata(s_.sensor, ext);
    r_.meta_.pipeline({{"SADD", keys::sensor_all_extended_types(s_.sensor), ext},
                       {"HSETNX", meta_key, "first_seen", now_text},
                       {"HSET", meta_key, "last_seen", now_text},
                       {"HSET", keys::sensor_meta_header(s_.sensor), ext, meta_header_json}});
  }

 private:
  TypeRunner& r_;
  Session& s_;
};

TypeRunner::TypeRunner(RunnerOptions options, WorkerSettings settings, RedisEndpoints endpoints,
                       Compressor& compressor, RunnerCounters& counters)
    : opt_(std::move(options)),
      settings_(std::move(settings)),
      type_(std::to_string(opt_.type)),
      stream_(endpoints.stream, core::RedisClient::Options{std::chrono::milliseconds(2000),
                                                           opt_.block + std::chrono::milliseconds(10000)}),
      meta_(endpoints.meta),
      analyzer_(endpoints.analyzer),
      router_(meta_, opt_.default_queue_max_size, std::chrono::milliseconds(1000), opt_.layout),
      compressor_(compressor),
      counters_(counters),
      inbox_(std::make_shared<CompressionInbox>()) {}

TypeRunner::~TypeRunner() = default;

void TypeRunner::run(const std::atomic<bool>& stop) {
  core::Backoff backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(5000));
  while (!stop.load()) {
    try {
      step();
      backoff.reset();
    } catch (const std::exception& e) {
      // Redis unreachable or a reply lost mid-commit: forget the in-memory state of every session;
      // the committed progress is the truth and the leases (our token) let us resume them.
      spdlog::error("type {} worker {}: {}; retrying", type_, opt_.consumer, e.what());
      sessions_.clear();
      auto delay = backoff.next();
      auto until = Clock::now() + delay;
      while (!stop.load() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // Leave the leases to expire? No: release them so that another worker resumes at once.
  for (auto& [id, s] : sessions_) {
    try {
      s->handler->flush();
      core::lease::release(analyzer_, lease_key(id), opt_.consumer);
    } catch (...) {
    }
  }
  sessions_.clear();
}

void TypeRunner::step() {
  auto now = Clock::now();
  if (now - last_discover_ >= opt_.discover_interval) {
    last_discover_ = now;
    discover();
  }
  if (now - last_renew_ >= opt_.lease / 3) {
    last_renew_ = now;
    renew_leases();
  }
  commit_compression_results();
  read_streams();
  check_idle_and_ended();
}

std::string TypeRunner::lease_key(const std::string& session) const {
  return keys::worker_lease(type_, session, opt_.layout);
}

std::string TypeRunner::progress_key(const std::string& session) const {
  return keys::worker_progress(type_, session, opt_.layout);
}

std::string TypeRunner::live(std::string_view reference_name) const {
  return keys::live(opt_.layout, reference_name);
}

std::string TypeRunner::stream_key(int stream_type, const std::string& session) const {
  return keys::stream(opt_.layout, std::to_string(stream_type), session);
}

void TypeRunner::relay(const std::string& session) {
  auto r = queues::relay_outbox(analyzer_, keys::worker_outbox(type_, session), type_ + ":" + session);
  if (r.skipped > 0)
    core::log_with(
        runner_session_fields(type_, session).add(core::log_key::kReason, "outbox_replayed"),
        spdlog::level::info,
        "type {} session {}: {} outbox entr(ies) of an interrupted relay were already in their queues", type_,
        session, r.skipped);
}

void TypeRunner::discover() {
  auto members = stream_.command({"SMEMBERS", live(keys::sessions_of_type(type_))});
  if (members.is_error()) throw core::RedisError("SMEMBERS: " + members.str);
  auto now = Clock::now();
  for (const auto& id : members.as_strings()) {
    if (sessions_.size() >= opt_.max_sessions) break;
    if (sessions_.count(id)) continue;
    auto cd = cooldown_.find(id);
    if (cd != cooldown_.end()) {
      if (now < cd->second) continue;
      cooldown_.erase(cd);
    }
    try_claim(id);
  }
}

void TypeRunner::try_claim(const std::string& id) {
  const std::string lease = lease_key(id);
  auto r = analyzer_.command(core::lease::acquire_command(lease, opt_.consumer, opt_.lease));
  if (r.is_nil()) {
    // Held by someone: maybe by us before a Redis error made us forget the session.
    auto holder = analyzer_.command({"GET", lease});
    if (holder.str != opt_.consumer) return;
    analyzer_.command({"PEXPIRE", lease, std::to_string(opt_.lease.count())});
  } else if (r.is_error()) {
    throw core::RedisError("SET lease: " + r.str);
  }

  auto s = std::make_unique<Session>();
  s->id = id;
  s->handler = make_session_handler(static_cast<protocol::PacketType>(opt_.type), settings_);
  // What the previous owner committed but did not relay reaches the queues before anything newer.
  if (opt_.layout == core::keys::KeyLayout::Cluster) relay(id);
  auto h = analyzer_.command({"HGETALL", progress_key(id)});
  Fields f;
  for (std::size_t i = 0; i + 1 < h.elements.size(); i += 2) f[h.elements[i].str] = h.elements[i + 1].str;
  s->sensor = field(f, "sensor");
  s->ext = field(f, "ext");
  for (int t : s->handler->streams()) {
    s->last_id[t] = field(f, "last_id:" + std::to_string(t), "0-0");
    s->untrimmed[t] = std::strtoull(field(f, "untrimmed:" + std::to_string(t), "0").c_str(), nullptr, 10);
  }
  s->pending = split_lines(field(f, "pending"));
  s->ending = field(f, "state") == "ending";
  s->quarantined = field(f, "quarantined") == "1";
  s->outbox_seq = std::max<std::uint64_t>(1, std::strtoull(field(f, "outbox_seq", "1").c_str(), nullptr, 10));
  s->had_failures = analyzer_.command({"HEXISTS", keys::worker_failures(type_), id}).integer == 1;
  if (opt_.layout == core::keys::KeyLayout::Cluster && s->had_failures && !s->quarantined &&
      finish_interrupted_quarantine(id, s->sensor))
    return;
  BatchOutput out;
  Context ctx(*this, *s);
  if (!s->quarantined) {
    try {
      s->handler->load(f, ctx, out);
      replay_kept_entries(*s, ctx, out);
    } catch (const core::RedisError&) {
      throw;
    } catch (const std::exception& e) {
      on_session_failure(id, s->sensor, e);
      return;
    }
  }
  stream_.command({"SADD", live(keys::working_sessions(type_)), id});
  // Entries processed before a crash but not yet trimmed.
  trim_processed(*s, s->last_id);
  if (!f.empty())
    core::log_with(runner_session_fields(type_, id, s->sensor), spdlog::level::info,
                   "type {} session {}: resumed (sensor {}, {} archive(s) to compress)", type_, id, s->sensor,
                   s->pending.size());
  Session& ref = *s;
  sessions_[id] = std::move(s);
  for (const auto& p : ref.pending) {
    ref.submitted.insert(p);
    compressor_.submit(id, p, inbox_);
  }
  if (!out.empty()) commit(ref, out, {});
}

void TypeRunner::replay_kept_entries(Session& s, Context& ctx, BatchOutput& out) {
  for (int t : s.handler->streams()) {
    const std::string& last = s.last_id[t];
    if (last == "0-0" || !s.handler->keeps_entries(t)) continue;
    // Bounded: a handler keeps entries only while they are small (the meta header: 100 KB).
    auto r = stream_.command({"XRANGE", stream_key(t, s.id), "-", last});
    if (r.is_error()) throw core::RedisError("XRANGE: " + r.str);
    for (const auto& raw : r.elements)
      if (auto e = entry_of(raw); e && e->message) s.handler->on_entry(t, *e->message, ctx, out);
  }
}

void TypeRunner::renew_leases() {
  if (sessions_.empty()) return;
  std::vector<std::vector<std::string>> cmds;
  std::vector<std::string> ids;
  for (auto& [id, s] : sessions_) {
    cmds.push_back(core::lease::renew_command(lease_key(id), opt_.consumer, opt_.lease));
    ids.push_back(id);
  }
  auto replies = analyzer_.pipeline(cmds);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (replies[i].integer != 1) {
      core::log_with(runner_session_fields(type_, ids[i]).add(core::log_key::kReason, "lease_lost"),
                     spdlog::level::warn, "type {} session {}: lease lost to another worker; dropping it",
                     type_, ids[i]);
      sessions_.erase(ids[i]);
    }
  }
}

void TypeRunner::read_streams() {
  std::vector<std::pair<Session*, int>> active;
  for (auto& [id, s] : sessions_) {
    s->got_data = false;
    if (!s->ending)
      for (int t : streams_to_read(*s)) active.emplace_back(s.get(), t);
  }
  if (active.empty()) {
    std::this_thread::sleep_for(opt_.block);
    return;
  }
  std::map<std::string, std::pair<std::string, int>> by_key;  // stream key -> session id, stream type
  std::vector<std::pair<std::string, std::string>> keys_and_ids;
  for (auto& [s, t] : active) {
    auto key = stream_key(t, s->id);
    by_key[key] = {s->id, t};
    keys_and_ids.emplace_back(key, s->last_id[t]);
  }
  std::vector<core::RedisReply> replies;
  for (const core::RedisReply* stream_reply : read_new_entries(keys_and_ids, replies)) {
    const core::RedisReply& stream = *stream_reply;
    if (stream.elements.size() != 2) continue;
    auto it = by_key.find(stream.elements[0].str);
    if (it == by_key.end()) continue;
    auto held = sessions_.find(it->second.first);
    if (held == sessions_.end()) continue;  // dropped while handling another stream of this reply
    Session& s = *held->second;
    s.got_data = true;
    std::string id = s.id;
    try {
      process_entries(s, it->second.second, stream.elements[1]);
    } catch (const core::RedisError&) {
      throw;
    } catch (const LeaseLost& e) {
      core::log_with(runner_session_fields(type_, id, s.sensor).add(core::log_key::kReason, "lease_lost"),
                     spdlog::level::warn, "type {} session {}: {}", type_, id, e.what());
      sessions_.erase(id);
    } catch (const std::exception& e) {
      on_session_failure(id, s.sensor, e);
    }
  }
}

std::vector<const core::RedisReply*> TypeRunner::read_new_entries(
    const std::vector<std::pair<std::string, std::string>>& keys_and_ids,
    std::vector<core::RedisReply>& replies) {
  const std::string count = std::to_string(opt_.read_count), block = std::to_string(opt_.block.count());
  // XREAD [BLOCK ms] over the streams of `group`.
  auto xread = [&](const std::vector<std::size_t>& group, bool blocking) {
    std::vector<std::string> cmd{"XREAD", "COUNT", count};
    if (blocking) cmd.insert(cmd.end(), {"BLOCK", block});
    cmd.push_back("STREAMS");
    for (std::size_t i : group) cmd.push_back(keys_and_ids[i].first);
    for (std::size_t i : group) cmd.push_back(keys_and_ids[i].second);
    return cmd;
  };
  std::vector<std::vector<std::string>> cmds;
  if (opt_.layout == core::keys::KeyLayout::Reference) {
    std::vector<std::size_t> all(keys_and_ids.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    cmds.push_back(xread(all, true));
  } else {
    // A cluster refuses one command over keys of several slots, and each session's streams have
    // their own slot: one XREAD per slot, pipelined (the client sends each node its share in one
    // round trip). BLOCK only when there is one: a blocking read would hold the others behind it.
    // With several and nothing new in any, the runner waits `block` before reading again, so data
    // arriving at an idle worker waits at most that long, as behind a BLOCK.
    std::map<int, std::vector<std::size_t>> by_slot;
    for (std::size_t i = 0; i < keys_and_ids.size(); ++i)
      by_slot[core::cluster_key_slot(keys_and_ids[i].first)].push_back(i);
    for (const auto& [slot, group] : by_slot) cmds.push_back(xread(group, by_slot.size() == 1));
  }
  replies = stream_.pipeline(cmds);
  std::vector<const core::RedisReply*> streams;
  for (const auto& reply : replies) {
    if (reply.is_error()) throw core::RedisError("XREAD: " + reply.str);
    for (const auto& stream : reply.elements) streams.push_back(&stream);
  }
  if (streams.empty() && cmds.size() > 1) std::this_thread::sleep_for(opt_.block);
  return streams;
}

void TypeRunner::process_entries(Session& s, int stream_type, const core::RedisReply& entries) {
  BatchOutput out;
  Context ctx(*this, s);
  std::string last = s.last_id[stream_type];
  std::uint64_t batch_bytes = 0;
  for (const auto& raw : entries.elements) {
    auto e = entry_of(raw);
    if (!e) continue;
    const std::string& id = *e->id;
    const std::string* message = e->message;
    const std::string* uuid = e->uuid;
    if (s.sensor.empty() && uuid && !s.quarantined) {
      // The server writes the dashless id; normalising keeps any other spelling out of paths.
      auto n = protocol::normalize_uuid(*uuid);
      if (!n) throw std::runtime_error("stream entry with an invalid sensor uuid \"" + *uuid + "\"");
      s.sensor = *n;
    }
    last = id;
    if (!message) continue;
    counters_.entries++;
    counters_.bytes += message->size();
    batch_bytes += message->size();
    if (s.quarantined || s.handler->failed()) {
      s.discarded_bytes += message->size();
      continue;
    }
    if (!opt_.fail_marker.empty() && message->find(opt_.fail_marker) != std::string::npos)
      throw std::runtime_error("injected failure (testing)");
    s.handler->on_entry(stream_type, *message, ctx, out);
  }
  s.last_id[stream_type] = last;
  s.untrimmed[stream_type] += batch_bytes;
  if (!commit(s, out, {{stream_type, last}})) throw LeaseLost("lease lost before commit; dropped the batch");
}

bool TypeRunner::lease_is_mine(Session& s) {
  auto key = lease_key(s.id);
  auto r = analyzer_.pipeline({{"WATCH", key}, {"GET", key}});
  if (r[1].str == opt_.consumer) return true;
  if (opt_.layout == core::keys::KeyLayout::Cluster)
    // UNWATCH names no key, so a cluster client may send it to another node; DISCARD also forgets
    // the connection's watched keys, and a transaction naming the lease goes to its node.
    analyzer_.pipeline({{"MULTI"}, {"EXISTS", key}, {"DISCARD"}});
  else
    analyzer_.command({"UNWATCH"});
  return false;
}

bool TypeRunner::commit(Session& s, BatchOutput& out, const std::map<int, std::string>& trim_after) {
  if (!s.quarantined) s.handler->flush();
  if (!out.rejects.empty() || out.fatal) record_rejects(s, out.rejects, out.fatal, out.fatal_text);

  std::vector<std::string> pending = s.pending;
  for (const auto& p : out.closed_files) pending.push_back(p.string());
  Fields f;
  if (!s.quarantined) s.handler->save(f);
  if (s.quarantined) f["quarantined"] = "1";
  f["sensor"] = s.sensor;
  f["ext"] = s.ext;
  for (const auto& [t, id] : s.last_id) f["last_id:" + std::to_string(t)] = id;
  for (const auto& [t, n] : s.untrimmed) f["untrimmed:" + std::to_string(t)] = std::to_string(n);
  std::string pending_text;
  for (const auto& p : pending) pending_text += p + "\n";
  f["pending"] = pending_text;
  f["state"] = s.ending ? "ending" : "active";
  f["owner"] = opt_.consumer;

  const bool cluster = opt_.layout == core::keys::KeyLayout::Cluster;
  if (!lease_is_mine(s)) return false;
  double now = queues::epoch_now();
  std::vector<std::vector<std::string>> cmds{{"MULTI"}};
  std::set<std::string> used;
  std::size_t items = 0;
  std::uint64_t outbox_seq = s.outbox_seq;
  for (const auto& [target, list] : out.items) {
    for (const auto& d : router_.destinations(target_of(target), s.sensor)) {
      if (cluster)
        queues::append_outbox_commands(cmds, keys::worker_outbox(type_, s.id), outbox_seq, d, list.begin(),
                                       list.end(), now);
      else
        queues::append_push_commands(cmds, d, list, now);
      used.insert(d.id);
      items += list.size();
    }
  }
  if (cluster) f["outbox_seq"] = std::to_string(outbox_seq);
  std::vector<std::string> hset{"HSET", progress_key(s.id)};
  for (auto& [k, v] : f) {
    hset.push_back(k);
    hset.push_back(std::move(v));
  }
  cmds.push_back(std::move(hset));
  bool progressed = !trim_after.empty() && s.had_failures;
  // failures were not consecutive (cluster layout: after the commit, the hash is in another slot)
  if (progressed && !cluster) cmds.push_back({"HDEL", keys::worker_failures(type_), s.id});
  cmds.push_back({"EXEC"});
  auto replies = analyzer_.pipeline(cmds);
  const auto& exec = replies.back();
  if (exec.is_nil()) return false;  // the lease changed hands between WATCH and EXEC
  if (exec.is_error()) throw core::RedisError("EXEC: " + exec.str);
  for (const auto& r : exec.elements)
    if (r.is_error())
      core::log_with(
          runner_session_fields(type_, s.id, s.sensor).add(core::log_key::kReason, "queue_push_failed"),
          spdlog::level::err, "type {} session {}: queue push failed: {}", type_, s.id, r.str);

  s.pending = std::move(pending);
  s.outbox_seq = outbox_seq;
  if (cluster) {
    // Testing: the delay lands between the two steps, where a kill leaves entries in the outbox.
    if (opt_.commit_delay.count() > 0) std::this_thread::sleep_for(opt_.commit_delay);
    relay(s.id);
    if (progressed) analyzer_.command({"HDEL", keys::worker_failures(type_), s.id});
  }
  if (progressed) s.had_failures = false;
  counters_.items += items;
  for (const auto& p : out.closed_files) {
    s.submitted.insert(p.string());
    compressor_.submit(s.id, p, inbox_);
  }
  trim_processed(s, trim_after);
  if (!used.empty()) {
    std::vector<std::vector<std::string>> touch;
    auto now_text = fmt::format("{:.6f}", now);
    for (const auto& q : used)
      touch.push_back({"HSET", keys::analyzer_queue_meta(q), "last_updated", now_text});
    meta_.pipeline(touch);
  }
  if (!s.ext.empty() && !trim_after.empty() && trim_after.begin()->first == 254)
    meta_.command({"HSET", keys::sensor_extended_type_metadata(s.sensor, s.ext), "last_seen",
                   std::to_string(std::time(nullptr))});
  if (opt_.commit_delay.count() > 0 && !cluster) std::this_thread::sleep_for(opt_.commit_delay);
  return true;
}

void TypeRunner::record_rejects(Session& s, const std::vector<Reject>& rejects,
                                const std::optional<Reject>& fatal, const std::string& fatal_text) {
  record_rejects(s.id, s.sensor, rejects, fatal, fatal_text);
}

void TypeRunner::record_rejects(const std::string& session, const std::string& sensor_id,
                                const std::vector<Reject>& rejects, const std::optional<Reject>& fatal,
                                const std::string& fatal_text) {
  // Reported before the commit: after a crash a reject may be counted twice, never lost.
  std::map<std::string, std::vector<const Reject*>> by_reason;
  for (const auto& r : rejects) by_reason[r.reason].push_back(&r);
  if (fatal) by_reason[fatal->reason].push_back(&*fatal);
  std::string sensor = sensor_id.empty() ? "unknown" : sensor_id;
  std::vector<std::vector<std::string>> meta_cmds;
  auto errors_key = keys::sensor_errors(sensor);
  auto now = std::time(nullptr);
  for (const auto& [reason, list] : by_reason) {
    counters_.rejects += list.size();
    meta_cmds.push_back({"HINCRBY", keys::sensor_rejects(sensor), reason, std::to_string(list.size())});
    // A flood of identical rejects keeps a few examples and the count.
    for (std::size_t i = 0; i < std::min<std::size_t>(list.size(), 3); ++i) {
      std::string detail = list[i]->detail;
      if (list.size() > 1) detail += fmt::format(" ({} such rejects in this batch)", list.size());
      // The entry format shared with d4-server, read by the web UI (core/sensors.hpp).
      std::string entry = core::format_sensor_error(now, reason, detail, "", "worker:" + type_, session);
      meta_cmds.push_back({"LPUSH", errors_key, entry});
    }
    core::log_with(runner_session_fields(type_, session, sensor)
                       .add(core::log_key::kReason, reason)
                       .add("count", list.size())
                       .add(core::log_key::kDetail, list.front()->detail),
                   spdlog::level::warn, "type {} session {} sensor {}: {} x {}: {}", type_, session, sensor,
                   list.size(), reason, list.front()->detail);
  }
  meta_cmds.push_back({"LTRIM", errors_key, "0", std::to_string(opt_.sensor_error_list_size - 1)});
  if (fatal) {
    meta_cmds.push_back({"HSET", keys::sensor_metadata(sensor), "Error", fatal_text});
    // The server closes the connection of a session listed here (reference handshake).
    stream_.command({"SADD", live(keys::kIncorrectTypeSessions), session});
  }
  meta_.pipeline(meta_cmds);
}

void TypeRunner::commit_compression_results() {
  for (auto& r : inbox_->take()) {
    auto it = sessions_.find(r.session);
    if (it == sessions_.end()) continue;  // session dropped; its next owner redoes the work
    Session& s = *it->second;
    s.submitted.erase(r.source.string());
    auto pos = std::find(s.pending.begin(), s.pending.end(), r.source.string());
    if (pos == s.pending.end()) continue;  // already committed by an earlier, duplicate job
    BatchOutput out;
    std::filesystem::path result = r.result;
    if (!r.error.empty()) {
      std::error_code ec;
      if (std::filesystem::exists(r.source, ec)) {
        out.rejects.push_back({"compression-failed", r.error + "; the file is queued uncompressed"});
        result = r.source;
      } else {
        out.rejects.push_back({"archive-lost", r.error});
        result.clear();
      }
    }
    if (auto target = s.handler->compressed_file_target(); target && !result.empty())
      out.items[*target].push_back(std::filesystem::absolute(result).string());
    counters_.files++;
    s.pending.erase(pos);
    std::string id = s.id;
    try {
      if (!commit(s, out, {})) {
        sessions_.erase(id);
        continue;
      }
    } catch (const core::RedisError&) {
      throw;
    }
  }
}

void TypeRunner::check_idle_and_ended() {
  auto now = Clock::now();
  std::vector<std::string> ids;
  for (auto& [id, s] : sessions_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) continue;
    Session& s = *it->second;
    if (s.got_data) continue;
    const std::string sensor = s.sensor;
    try {
      if (s.ending) {
        if (s.pending.empty() && s.submitted.empty()) cleanup(s);
        continue;
      }
      if (now - s.last_end_check < opt_.end_check_interval) continue;
      s.last_end_check = now;
      BatchOutput out;
      Context ctx(*this, s);
      if (!s.quarantined) s.handler->on_idle(ctx, out);
      if (!out.empty() && !commit(s, out, {})) {
        sessions_.erase(id);
        continue;
      }
      std::vector<std::vector<std::string>> cmds{{"SISMEMBER", live(keys::kEndedSessions), s.id},
                                                 {"SISMEMBER", live(keys::sessions_of_type(type_)), s.id}};
      for (int t : streams_to_read(s))
        cmds.push_back({"XRANGE", stream_key(t, s.id), "(" + s.last_id[t], "+", "COUNT", "1"});
      auto replies = stream_.pipeline(cmds);
      bool ended = replies[0].integer == 1 || replies[1].integer == 0;
      bool drained = std::all_of(replies.begin() + 2, replies.end(),
                                 [](const core::RedisReply& r) { return r.elements.empty(); });
      if (ended && drained) finish(s);
    } catch (const core::RedisError&) {
      throw;
    } catch (const std::exception& e) {
      on_session_failure(id, sensor, e);
    }
  }
}

void TypeRunner::finish(Session& s) {
  BatchOutput out;
  Context ctx(*this, s);
  if (!s.quarantined) s.handler->on_end(ctx, out);
  if (s.discarded_bytes > 0)
    out.rejects.push_back(
        {"session-data-discarded",
         fmt::format("{} bytes received after the stream error were discarded", s.discarded_bytes)});
  for (int t : s.handler->streams()) {
    if (s.quarantined || t == s.handler->current_stream() || t == 2) continue;
    auto n = stream_.command({"XLEN", stream_key(t, s.id)});
    if (n.integer > 0)
      out.rejects.push_back(
          {"session-data-discarded",
           fmt::format("{} type-{} packets discarded: no valid meta header", n.integer, t)});
  }
  s.ending = true;
  if (!commit(s, out, {})) {
    std::string id = s.id;
    sessions_.erase(id);
    return;
  }
  if (s.pending.empty() && s.submitted.empty()) cleanup(s);
}

void TypeRunner::cleanup(Session& s) {
  std::string id = s.id;
  std::vector<std::vector<std::string>> cmds{{"SREM", live(keys::sessions_of_type(type_)), id},
                                             {"SREM", live(keys::kEndedSessions), id},
                                             {"SREM", live(keys::working_sessions(type_)), id},
                                             {"SREM", live(keys::kIncorrectTypeSessions), id}};
  std::vector<std::string> streams;
  for (int t : s.handler->streams()) streams.push_back(stream_key(t, id));
  for (const auto& key : streams) cmds.push_back({"DEL", key});
  cmds.push_back(release_backlog_command(opt_.layout, id, s.sensor, streams));
  if (opt_.type == 2) {
    cmds.push_back({"SREM", live(keys::sessions_of_type("254")), id});
    cmds.push_back({"HDEL", live(keys::kSessionExtendedType), id});
    if (!s.ext.empty() && !s.sensor.empty())
      cmds.push_back({"SREM", live(keys::active_extended_types(s.sensor)), s.ext});
  }
  // Cluster layout: the outbox is empty after every commit's relay, unless a relay failed (then
  // this one throws and the session is retried).
  if (opt_.layout == core::keys::KeyLayout::Cluster) relay(id);
  stream_.pipeline(cmds);
  analyzer_.pipeline({{"DEL", progress_key(id)},
                      {"HDEL", keys::worker_failures(type_), id},
                      core::lease::release_command(lease_key(id), opt_.consumer)});
  counters_.sessions_done++;
  core::log_with(runner_session_fields(type_, id, s.sensor), spdlog::level::info,
                 "type {} session {} (sensor {}) finished", type_, id, s.sensor);
  sessions_.erase(id);
}

void TypeRunner::trim_processed(Session& s, const std::map<int, std::string>& up_to) {
  // Processed entries leave the stream, and their bytes the sensor's backlog count. The bytes
  // stay recorded (untrimmed:<t>) until the next commit: a trim repeated after a crash removes
  // nothing and so subtracts nothing (reference layout: one script does both; cluster layout: the
  // count by trim point in the live slot, then the trim in the session's slot, workers/backlog.hpp).
  const bool cluster = opt_.layout == core::keys::KeyLayout::Cluster;
  std::vector<std::vector<std::string>> cmds;
  std::vector<int> types;
  for (const auto& [t, id] : up_to) {
    if (id == "0-0" || (!s.quarantined && s.handler->keeps_entries(t))) continue;
    const std::string key = stream_key(t, s.id), min_id = next_id(id);
    if (cluster) {
      cmds.push_back(count_trimmed_command(key, min_id, s.id, s.sensor, s.untrimmed[t]));
      cmds.push_back({"XTRIM", key, "MINID", min_id});
    } else {
      cmds.push_back(trim_and_count_command(key, min_id, s.id, s.sensor, s.untrimmed[t]));
    }
    types.push_back(t);
  }
  if (cmds.empty()) return;
  auto replies = stream_.pipeline(cmds);
  const std::size_t per_stream = cluster ? 2 : 1;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].is_error()) throw core::RedisError("trim: " + replies[i].str);
    if ((i + 1) % per_stream == 0) s.untrimmed[types[i / per_stream]] = 0;
  }
}

std::vector<int> TypeRunner::streams_to_read(Session& s) const {
  // A quarantined session's handler is not loaded: every stream it owns is drained.
  if (s.quarantined) return s.handler->streams();
  return {s.handler->current_stream()};
}

void TypeRunner::on_session_failure(const std::string& id, std::string sensor, const std::exception& e) {
  // The in-memory state may be half updated: forget it; the committed progress is the truth.
  sessions_.erase(id);
  if (is_environment_error(e)) {
    // Disk full, permissions...: not the sensor's doing. Retried without limit; the sensor's
    // backlog limits make it wait meanwhile, nothing is lost.
    counters_.io_errors++;
    release(id, std::string(e.what()) + " (an error of this machine; retried until it works)");
    return;
  }
  auto n = analyzer_.command({"HINCRBY", keys::worker_failures(type_), id, "1"}).integer;
  if (n < opt_.max_session_failures) {
    release(id, fmt::format("{} (failure {} of {})", e.what(), n, opt_.max_session_failures));
    return;
  }
  if (sensor.empty()) sensor = analyzer_.command({"HGET", progress_key(id), "sensor"}).str;
  quarantine(id, sensor, e.what(), n);
}

void TypeRunner::quarantine(const std::string& id, const std::string& sensor, const std::string& what,
                            long long failures) {
  auto handler = make_session_handler(static_cast<protocol::PacketType>(opt_.type), settings_);
  auto moved = move_to_dead_letter(stream_, id, handler->streams(), type_, sensor, what, opt_.dead_letter,
                                   opt_.layout);
  std::string detail = fmt::format("session failed {} times ({}); {}; later data is discarded", failures,
                                   what, describe_dead_letter(moved, id, opt_.layout));
  // Marks the sensor (Error field, reject counted) and makes the server close the connection.
  record_rejects(
      id, sensor, {}, Reject{"session-unprocessable", detail},
      fmt::format("Error: Type={}, session could not be processed: {}", type_, what.substr(0, 200)));
  // From now on the session is only drained: its handler, which failed, is never loaded again.
  std::vector<std::string> mark{"HSET", progress_key(id), "quarantined", "1", "sensor", sensor};
  for (int t : handler->streams()) {  // those bytes left with the data
    mark.push_back("untrimmed:" + std::to_string(t));
    mark.push_back("0");
  }
  analyzer_.pipeline({mark,
                      {"HDEL", keys::worker_failures(type_), id},
                      core::lease::release_command(lease_key(id), opt_.consumer)});
  counters_.quarantined++;
  core::log_with(runner_session_fields(type_, id, sensor)
                     .add(core::log_key::kReason, "quarantined")
                     .add(core::log_key::kDetail, detail),
                 spdlog::level::err, "type {} session {} (sensor {}) quarantined: {}", type_, id, sensor,
                 detail);
}

bool TypeRunner::finish_interrupted_quarantine(const std::string& id, const std::string& sensor) {
  // Cluster layout: the streams are moved aside before the live slot counts them and before the
  // progress is marked (quarantine.cpp). A session with failures whose dead-letter record exists
  // but which is not marked was being quarantined when its worker stopped: the quarantine is
  // finished with what was moved then, and its data is not searched again for the failure.
  auto info = stream_.command({"HMGET", keys::dead_letter_info(id, opt_.layout), "reason", "sensor"});
  if (info.is_error()) throw core::RedisError("dead letter info: " + info.str);
  if (info.elements.size() != 2 || !info.elements[0].is_string()) return false;
  auto failures = analyzer_.command({"HGET", keys::worker_failures(type_), id});
  quarantine(id, sensor.empty() ? info.elements[1].str : sensor, info.elements[0].str,
             std::strtoll(failures.str.c_str(), nullptr, 10));
  return true;
}

void TypeRunner::release(const std::string& id, const std::string& why) {
  core::log_with(runner_session_fields(type_, id).add(core::log_key::kReason, why), spdlog::level::warn,
                 "type {} session {}: released ({})", type_, id, why);
  sessions_.erase(id);
  cooldown_[id] = Clock::now() + opt_.failure_cooldown;
  try {
    core::lease::release(analyzer_, lease_key(id), opt_.consumer);
  } catch (...) {
  }
}

}  // namespace d4::workers
