#include "server/meta_batch.hpp"

#include <ctime>
#include <set>

#include "core/keys.hpp"
#include "core/redis_async.hpp"
#include "server/scripts.hpp"

namespace d4::server {

namespace keys = core::keys;

std::string local_date(long long epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
  return buf;
}

std::string local_compact_time(long long epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

void MetaBatch::op(std::initializer_list<std::string_view> args) {
  for (auto a : args) ops_.emplace_back(a);
}

void MetaBatch::count_stored(const std::string& uuid, const std::string& ip, std::uint8_t type,
                             std::uint64_t packets, std::uint64_t bytes) {
  auto& c = stored_[{uuid, ip, type}];
  c.packets += packets;
  c.bytes += bytes;
}

std::string MetaBatch::take_request(const std::string& marker, const std::string& date, long long now) {
  // Statistics first, then the recorded ops (rejects...): a reject's Error text, recorded after
  // the packets stored earlier in the interval, must survive the "stored => clear Error" rule.
  std::vector<std::string> argv;
  auto add = [&](std::initializer_list<std::string_view> a) {
    for (auto x : a) argv.emplace_back(x);
  };
  std::string now_s = std::to_string(now);
  // Aggregate per key: the seven reference zsets count packets; ours count bytes.
  std::map<std::pair<std::string, std::string>, std::uint64_t> z;  // (key, member) -> increment
  std::set<std::string> sensors;
  std::set<std::pair<std::string, std::string>> sensor_types;
  for (const auto& [k, c] : stored_) {
    const auto& [uuid, ip, type] = k;
    std::string t = std::to_string(type);
    z[{keys::stat_uuid_ip(date, uuid), ip}] += c.packets;
    z[{keys::stat_ip_uuid(date, ip), uuid}] += c.packets;
    z[{keys::daily_uuid(date), uuid}] += c.packets;
    z[{keys::daily_ip(date), ip}] += c.packets;
    z[{keys::daily_type(date), t}] += c.packets;
    z[{keys::stat_type_uuid(date, t), uuid}] += c.packets;
    z[{keys::stat_uuid_type(date, uuid), t}] += c.packets;
    z[{keys::daily_uuid_bytes(date), uuid}] += c.bytes;
    z[{keys::daily_ip_bytes(date), ip}] += c.bytes;
    z[{keys::daily_type_bytes(date), t}] += c.bytes;
    z[{keys::stat_uuid_type_bytes(date, uuid), t}] += c.bytes;
    sensors.insert(uuid);
    sensor_types.insert({uuid, t});
  }
  stored_.clear();
  for (const auto& [km, inc] : z) add({"z", km.first, std::to_string(inc), km.second});
  for (const auto& u : sensors) {
    std::string meta = keys::sensor_metadata(u);
    add({"n", meta, "first_seen", now_s});
    add({"s", meta, "last_seen", now_s});
    // The reference clears the last error whenever a packet is stored.
    add({"d", meta, "Error"});
  }
  for (const auto& [u, t] : sensor_types) {
    std::string meta = keys::sensor_type_metadata(u, t);
    add({"n", meta, "first_seen", now_s});
    add({"s", meta, "last_seen", now_s});
  }
  argv.insert(argv.end(), std::make_move_iterator(ops_.begin()), std::make_move_iterator(ops_.end()));
  ops_.clear();
  std::string resp;
  core::RespWriter w(resp);
  w.begin(4 + argv.size()).arg("EVAL").arg(scripts::kFlushScript).arg(std::uint64_t{1}).arg(marker);
  for (const auto& a : argv) w.arg(a);
  return resp;
}

}  // namespace d4::server
