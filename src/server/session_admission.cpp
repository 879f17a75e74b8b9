// Admission of a session: the policy on its first header and on every new policy snapshot (one
// function, policy_admission.hpp), the sensor's key and limits, the identity a verified packet
// confirms (the session claimed in Redis), and the checks every later header passes.
#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "core/keys.hpp"
#include "protocol/clock.hpp"
#include "server/reject_record.hpp"
#include "server/scripts.hpp"
#include "server/session.hpp"
#include "server/worker.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace d4::server {

namespace keys = core::keys;

SensorClaim Session::claim() const {
  return SensorClaim{peer_.address,
                     peer_.ip,
                     session_id_,
                     start_ms_,
                     state_.header_seen(),
                     state_.identified(),
                     uuid_hex_,
                     type_,
                     switched() ? &meta_header_.result().type : nullptr};
}

// Applies the policy's verdict: false when the session is refused (or its peer blocked).
bool Session::admit(AdmissionMoment when) {
  auto verdict = check_admission(worker_.policy(), claim(), when);
  if (verdict.block_peer_by_uuid) {
    if (state_.verified()) {
      block_peer_of_uuid();
      return false;
    }
    state_.block_peer_once_verified = true;
  }
  if (verdict.refusal) {
    abort(verdict.refusal->reason, std::move(verdict.refusal->detail));
    return false;
  }
  return true;
}

void Session::apply_policy(const Policy&) {
  if (state_.closing()) return;
  update_framer_options();
  admit(AdmissionMoment::PolicyRefresh);
}

asio::awaitable<bool> Session::check_first_header(const protocol::Header& h) {
  state_.reach(SessionState::Stage::Claimed);
  uuid_ = h.uuid;
  uuid_hex_ = h.uuid.dashless();
  type_ = h.type;
  type_text_ = std::to_string(h.type);
  if (!admit(AdmissionMoment::FirstHeader) || !check_clock_skew(h)) co_return false;
  co_return co_await load_sensor();
}

// The sensor's key and limits: one round trip to each Redis, once per connection.
asio::awaitable<bool> Session::load_sensor() {
  std::string meta_req, stream_req;
  core::RespWriter meta_writer(meta_req), stream_writer(stream_req);
  meta_writer.command({"HGET", keys::sensor_metadata(uuid_hex_), "hmac_key"})
      .command({"HGET", keys::kStreamMaxSizeByUuid, uuid_hex_})
      .command({"HGET", keys::kRateLimitByUuid, uuid_hex_});
  stream_writer.command({"EXISTS", keys::live(layout(), keys::temp_blocklist_uuid(uuid_hex_))})
      .command({"HGET", keys::live(layout(), keys::kBacklogBytesBySensor), uuid_hex_});
  error_code ec1, ec2;
  auto meta_replies = co_await worker_.meta().async_exec(std::move(meta_req), meta_writer.commands(), false,
                                                         asio::redirect_error(asio::use_awaitable, ec1));
  if (state_.closing()) co_return false;
  auto stream_replies = co_await worker_.stream().async_exec(
      std::move(stream_req), stream_writer.commands(), false, asio::redirect_error(asio::use_awaitable, ec2));
  if (state_.closing()) co_return false;
  if (ec1 || ec2 || meta_replies.size() != 3 || stream_replies.size() != 2) {
    abort(Reject::redis_unavailable, "cannot look up the sensor: " + (ec1 ? ec1 : ec2).message());
    co_return false;
  }
  if (stream_replies[0].integer == 1) {
    abort(Reject::temp_blocked, "uuid " + uuid_hex_ + " was kicked and is blocked for a while");
    co_return false;
  }
  auto key = meta_replies[0].as_string();
  // The policy snapshot may have been replaced during the lookups: use the current one (a
  // reference taken before a co_await must never be used after it).
  if (key && !key->empty())
    key_.emplace(*key);
  else
    key_.emplace(worker_.policy().default_key);
  sensor_backlog_bytes_ =
      static_cast<std::uint64_t>(std::max(0LL, stream_replies[1].as_integer().value_or(0)));
  const auto& rt = worker_.runtime();
  backlog_limit_ = meta_replies[1].as_integer().value_or(0);
  if (backlog_limit_ <= 0) backlog_limit_ = rt.default_backlog;
  auto rate = meta_replies[2].as_integer();
  const std::uint64_t limit = rate && *rate > 0 ? static_cast<std::uint64_t>(*rate) : rt.rate_limit;
  // The bucket holds rate_limit_burst bytes, or one second of the limit; it starts full.
  if (limit > 0) rate_ = core::RateLimiter(limit, rt.rate_limit_burst ? rt.rate_limit_burst : limit);
  co_return true;
}

bool Session::check_clock_skew(const protocol::Header& h) {
  auto skew = worker_.runtime().max_clock_skew;
  if (skew.count() <= 0) return true;
  long long diff = static_cast<long long>(h.timestamp) - clock::unix_seconds();
  if (std::llabs(diff) > skew.count()) {
    abort(Reject::clock_skew, "header timestamp " + std::to_string(h.timestamp) + " is " +
                                  std::to_string(diff) + " s from the server clock (limit " +
                                  std::to_string(skew.count()) + " s)");
    return false;
  }
  return true;
}

bool Session::check_next_header(const protocol::Header& h) {
  if (h.uuid != uuid_) {
    abort(Reject::uuid_change, "Error: The uuid change, new_uuid=" + h.uuid.dashless());
    return false;
  }
  if (h.type != type_) {
    if (type_ == 2 && h.type == 254 && type2_stored_) {
      if (meta_header_.state() != protocol::MetaHeaderAssembler::State::Complete) {
        std::string why = meta_header_.state() == protocol::MetaHeaderAssembler::State::Error
                              ? meta_header_.error()
                              : std::string("the meta header (type 2) is incomplete");
        abort(Reject::meta_header_invalid, why);
        return false;
      }
      const std::string& ext = meta_header_.result().type;
      if (!worker_.policy().accepted_extended_types.count(ext)) {
        abort(Reject::extended_type_not_accepted, "extended type \"" + printable(ext) + "\" is not accepted");
        return false;
      }
      switch_to_254();
    } else {
      abort(Reject::type_change, "Error: Unexpected type change type=" + std::to_string(type_) +
                                     ", new type=" + std::to_string(h.type));
      return false;
    }
  }
  return check_clock_skew(h);
}

asio::awaitable<bool> Session::identify(const protocol::Header& h) {
  // The slot's owner is read first so that the claim script can declare the owner's heartbeat
  // key; the script answers 3 when the owner changed meanwhile, and the claim is tried again.
  const auto l = layout();
  const bool meta_type = type_text_ == "2" || type_text_ == "254";
  error_code ec;
  core::RedisReplies replies;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::string owner;
    if (!meta_type) {
      std::string read;
      core::RespWriter(read).command({"HGET", keys::live(l, keys::slot_owners(type_text_)), uuid_hex_});
      auto r = co_await worker_.stream().async_exec(std::move(read), 1, false,
                                                    asio::redirect_error(asio::use_awaitable, ec));
      if (state_.closing()) co_return false;
      if (ec || r.size() != 1 || r[0].is_error()) {
        replies = std::move(r);
        break;
      }
      owner = r[0].as_string().value_or("");
    }
    std::string req = scripts::eval(
        scripts::kClaimScript, scripts::key_sets::claim(l, uuid_hex_, type_text_, worker_.instance(), owner),
        {session_id_, uuid_hex_, type_text_, worker_.instance(),
         std::to_string(worker_.runtime().max_meta_sessions_per_sensor), owner});
    replies = co_await worker_.stream().async_exec(std::move(req), 1, false,
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec || replies.size() != 1 || replies[0].integer != 3) break;
  }
  if (!ec && replies.size() == 1 && replies[0].integer == 1) state_.slot_claimed = true;
  if (state_.closing()) co_return false;
  if (ec || replies.size() != 1 || replies[0].is_error()) {
    abort(Reject::redis_unavailable, "cannot record the connection: " + (ec                ? ec.message()
                                                                         : replies.empty() ? ""
                                                                                           : replies[0].str));
    co_return false;
  }
  // The HMAC verified: from here on rejects are attributed to the sensor.
  state_.reach(SessionState::Stage::Identified);
  worker_.metrics().sessions_identified.fetch_add(1, std::memory_order_relaxed);
  if (!state_.slot_claimed && replies[0].integer == 2) {
    abort(Reject::too_many_sessions, "the sensor already has " +
                                         std::to_string(worker_.runtime().max_meta_sessions_per_sensor) +
                                         " type 2/254 sessions (max_meta_sessions_per_sensor)");
    co_return false;
  }
  if (!state_.slot_claimed && replies[0].integer == 3) {
    abort(Reject::redis_unavailable, "cannot record the connection: the slot's owner keeps changing");
    co_return false;
  }
  if (!state_.slot_claimed) {
    abort(Reject::duplicate,
          "Error: This UUID is using the same UUID for one type=" + std::to_string(h.type));
    co_return false;
  }
  stream_key_ = keys::stream(l, type_text_, session_id_);
  worker_.meta_batch().add_member(keys::sensor_all_types(uuid_hex_), type_text_);
  core::log_with(log_fields(), spdlog::level::info, "session {}: sensor {} type {} from {} port {}{}",
                 session_id_, uuid_hex_, type_, peer_.ip, peer_.port,
                 transport_.is_tls() ? " (" + transport_.tls_version() + ")" : std::string(" (plain TCP)"));
  co_return true;
}

void Session::switch_to_254() {
  type_ = 254;
  type_text_ = "254";
  stream_key_ = keys::stream(layout(), "254", session_id_);
  std::string req = scripts::eval(scripts::kSwitchTo254Script,
                                  scripts::key_sets::switch_to_254(layout(), uuid_hex_, worker_.instance()),
                                  {session_id_, uuid_hex_});
  worker_.stream().submit(std::move(req), 1, true, [](error_code, core::RedisReplies&&) {});
  worker_.meta_batch().add_member(keys::sensor_all_types(uuid_hex_), "254");
  core::log_with(log_fields(), spdlog::level::info, "session {}: sensor {} switches to type 254 ({})",
                 session_id_, uuid_hex_, printable(meta_header_.result().type));
}

// blacklist_ip_by_uuid (reference semantics: block every address the sensor comes from), applied
// once the peer proved it holds the sensor's key, so that nobody can grow blacklist_ip by naming
// the UUID from many addresses. The address (IPv6: its /64) joins blacklist_ip while the set holds
// fewer than auto_blocked_ips_max entries; the connection is refused either way.
void Session::block_peer_of_uuid() {
  std::string entry = peer_.address.is_v4() ? peer_.ip : core::source_network(peer_.address).to_string();
  worker_.meta_batch().add_member_capped(keys::kBlocklistIp, entry, worker_.runtime().auto_blocked_ips_max);
  worker_.flush_meta_soon();
  abort(Reject::blocked_ip_by_uuid,
        "uuid " + uuid_hex_ + " is in blacklist_ip_by_uuid; " + entry + " blocked");
}

bool Session::admit_meta_header_bytes(const protocol::Packet& p) {
  // Type 2 carries only the meta header (at most 100,000 bytes, the Go client's limit). Every
  // byte counts, blanks and bytes after the header's end included: the worker replays a session's
  // type-2 data after a restart, so what is stored here must stay small.
  if (p.header.type != 2) return true;
  type2_bytes_ += p.payload.size();
  if (type2_bytes_ <= protocol::kMaxMetaHeaderSize) return true;
  abort(Reject::meta_header_too_large, "type-2 data exceeds " + std::to_string(protocol::kMaxMetaHeaderSize) +
                                           " bytes (every byte counts, whitespace included)");
  return false;
}

}  // namespace d4::server
