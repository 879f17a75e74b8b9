// d4-admin: the sensor policy from the command line (registration, keys, blocklists, kicks,
// accepted types, reject counters). Changes reach every running d4-server within its policy
// refresh interval and apply to live connections.
//
// Exit status: those of every D4 executable (0 done, 1 Redis error, 2 usage, 78 configuration
// error; core/exit_codes.hpp) and its own: 3 invalid input, 4 not found, 5 conflict (already
// registered/blocked...).
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/exit_codes.hpp"
#include "core/sensors.hpp"

using d4::core::PolicyResult;
using nlohmann::json;

namespace {

struct Context {
  std::string config_file, meta_endpoint, stream_endpoint;
  bool as_json = false;
};

int status_of(const PolicyResult& r) {
  switch (r.code) {
    case PolicyResult::Code::Ok:
      return 0;
    case PolicyResult::Code::Invalid:
      return 3;
    case PolicyResult::Code::NotFound:
      return 4;
    case PolicyResult::Code::Conflict:
      return 5;
  }
  return 1;
}

int report(const Context& c, const PolicyResult& r, const std::string& done) {
  if (c.as_json) {
    json j = {{"ok", static_cast<bool>(r)}};
    if (r)
      j["value"] = r.value;
    else
      j["error"] = r.message;
    std::cout << j.dump() << "\n";
  } else if (r) {
    std::cout << done << (r.value.empty() ? "" : ": " + r.value) << "\n";
  } else {
    std::cerr << "d4-admin: " << r.message << "\n";
  }
  return status_of(r);
}

json error_json(const d4::core::SensorError& e) {
  return {{"time", e.time}, {"reason", e.reason}, {"detail", e.detail},
          {"ip", e.ip},     {"source", e.source}, {"session", e.session}};
}

void print_counts(const Context& c, const std::map<std::string, long long>& m) {
  if (c.as_json) {
    std::cout << json(m).dump() << "\n";
    return;
  }
  for (const auto& [k, v] : m) std::cout << k << " " << v << "\n";
}

void print_errors(const Context& c, const std::vector<d4::core::SensorError>& errors) {
  if (c.as_json) {
    json a = json::array();
    for (const auto& e : errors) a.push_back(error_json(e));
    std::cout << a.dump() << "\n";
    return;
  }
  for (const auto& e : errors)
    std::cout << e.time << " " << e.reason << " " << e.ip << " " << e.detail << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"d4-admin: manage D4 sensors and the server policy stored in Redis"};
  app.require_subcommand(0, 1);  // required, except with --check-config
  Context ctx;
  app.add_option("-c,--config", ctx.config_file, "D4 TOML configuration (for the [redis] endpoints)")
      ->check(CLI::ExistingFile);
  app.add_option("--meta", ctx.meta_endpoint,
                 "metadata Redis host:port/db (default: config, else 127.0.0.1:6380/0)");
  app.add_option("--stream", ctx.stream_endpoint,
                 "stream Redis host:port/db (default: config, else 127.0.0.1:6379/0)");
  app.add_flag("--json", ctx.as_json, "machine-readable output");

  std::function<int(d4::core::SensorPolicy&)> action;
  auto on = [&](CLI::App* sub, std::function<int(d4::core::SensorPolicy&)> f) {
    sub->callback([&action, f = std::move(f)] { action = f; });
  };

  // ---- sensors ----
  auto* sensor = app.add_subcommand("sensor", "one sensor: register, approve, keys, limits, kick, errors");
  sensor->require_subcommand(1);
  static std::string uuid, key, mail, description, text;
  static bool third_party = false, clear = false;
  static long long number = 0;
  static int block_seconds = 30;
  static std::size_t max_errors = 20;

  auto* show = sensor->add_subcommand("show", "status, metadata, limits, reject counters and last errors");
  show->add_option("uuid", uuid)->required();
  show->add_option("-n,--errors", max_errors, "number of errors to show");
  on(show, [&](d4::core::SensorPolicy& p) {
    auto info = p.info(uuid, max_errors);
    if (!info) return report(ctx, PolicyResult::fail(PolicyResult::Code::Invalid, "Invalid uuid"), "");
    json j = {{"uuid", info->uuid},
              {"registered", info->registered},
              {"pending", info->pending},
              {"blocked", info->blocked},
              {"ips_blocked", info->ips_blocked},
              {"temp_blocked", info->temp_blocked},
              {"own_key", info->has_own_key},
              {"description", info->description},
              {"error", info->error},
              {"tags", info->tags},
              {"types", info->types},
              {"connected_types", info->connected_types},
              {"last_ips", info->last_ips},
              {"rejects", info->rejects},
              {"backpressure", info->backpressure},
              {"backlog_bytes", info->backlog_bytes}};
    j["first_seen"] = info->first_seen ? json(*info->first_seen) : json(nullptr);
    j["last_seen"] = info->last_seen ? json(*info->last_seen) : json(nullptr);
    j["backlog_limit"] = info->backlog_limit ? json(*info->backlog_limit) : json(nullptr);
    j["rate_limit"] = info->rate_limit ? json(*info->rate_limit) : json(nullptr);
    j["errors"] = json::array();
    for (const auto& e : info->errors) j["errors"].push_back(error_json(e));
    j["unauthenticated_errors"] = json::array();
    for (const auto& e : info->unauthenticated_errors) j["unauthenticated_errors"].push_back(error_json(e));
    std::cout << j.dump(ctx.as_json ? -1 : 2) << "\n";
    return 0;
  });
  auto* reg = sensor->add_subcommand("register", "pending registration (like the reference API)");
  reg->add_option("uuid", uuid)->required();
  reg->add_option("--key", key, "the sensor's HMAC key")->required();
  reg->add_option("--mail", mail);
  reg->add_option("--description", description);
  reg->add_flag("--third-party", third_party);
  on(reg, [&](auto& p) {
    return report(ctx, p.register_sensor(uuid, key, mail, description, third_party), "pending");
  });
  auto* approve = sensor->add_subcommand("approve", "allow a sensor in registration mode");
  approve->add_option("uuid", uuid)->required();
  on(approve, [&](auto& p) { return report(ctx, p.approve(uuid), "approved"); });
  auto* rejectp = sensor->add_subcommand("reject", "drop a pending registration");
  rejectp->add_option("uuid", uuid)->required();
  on(rejectp, [&](auto& p) { return report(ctx, p.reject_pending(uuid), "rejected"); });
  auto* unreg = sensor->add_subcommand("unregister", "remove from the registered sensors");
  unreg->add_option("uuid", uuid)->required();
  on(unreg, [&](auto& p) { return report(ctx, p.unregister(uuid), "unregistered"); });
  auto* setkey = sensor->add_subcommand("set-key", "set the sensor's own HMAC key (stored verbatim)");
  setkey->add_option("uuid", uuid)->required();
  setkey->add_option("key", key)->required();
  on(setkey, [&](auto& p) { return report(ctx, p.set_key(uuid, key), "key set"); });
  auto* rotate = sensor->add_subcommand("rotate-key", "generate a new random key and print it");
  rotate->add_option("uuid", uuid)->required();
  on(rotate, [&](auto& p) { return report(ctx, p.rotate_key(uuid), "new key"); });
  auto* clearkey = sensor->add_subcommand("clear-key", "remove the sensor's key (the default key applies)");
  clearkey->add_option("uuid", uuid)->required();
  on(clearkey, [&](auto& p) { return report(ctx, p.clear_key(uuid), "key removed"); });
  auto* describe = sensor->add_subcommand("describe", "set the description");
  describe->add_option("uuid", uuid)->required();
  describe->add_option("text", text)->required();
  on(describe, [&](auto& p) { return report(ctx, p.set_description(uuid, text), "description set"); });
  auto* tag = sensor->add_subcommand("tag", "add a tag");
  tag->add_option("uuid", uuid)->required();
  tag->add_option("tag", text)->required();
  on(tag, [&](auto& p) { return report(ctx, p.add_tag(uuid, text), "tagged"); });
  auto* untag = sensor->add_subcommand("untag", "remove a tag");
  untag->add_option("uuid", uuid)->required();
  untag->add_option("tag", text)->required();
  on(untag, [&](auto& p) { return report(ctx, p.remove_tag(uuid, text), "tag removed"); });
  auto* backlog =
      sensor->add_subcommand("backlog", "per-session backlog limit in packets (stream_max_size_by_uuid)");
  backlog->add_option("uuid", uuid)->required();
  backlog->add_option("packets", number);
  backlog->add_flag("--clear", clear, "back to the server default");
  on(backlog, [&](auto& p) {
    return report(ctx, clear ? p.clear_backlog_limit(uuid) : p.set_backlog_limit(uuid, number),
                  "backlog limit");
  });
  auto* rate = sensor->add_subcommand("rate-limit", "ingest rate limit in bytes/s (rate_limit_by_uuid)");
  rate->add_option("uuid", uuid)->required();
  rate->add_option("bytes_per_second", number);
  rate->add_flag("--clear", clear, "back to the server default");
  on(rate, [&](auto& p) {
    return report(ctx, clear ? p.clear_rate_limit(uuid) : p.set_rate_limit(uuid, number), "rate limit");
  });
  auto* kick = sensor->add_subcommand(
      "kick", "close the sensor's connections on every server and block it for a while");
  kick->add_option("uuid", uuid)->required();
  kick->add_option("--block-seconds", block_seconds, "temporary block after the kick (0: none)");
  on(kick, [&](auto& p) {
    return report(ctx, p.kick_sensor(uuid, std::chrono::seconds(block_seconds)), "kicked");
  });
  auto* errors = sensor->add_subcommand("errors", "reject counters and last errors");
  errors->add_option("uuid", uuid)->required();
  errors->add_option("-n", max_errors);
  on(errors, [&](auto& p) {
    if (!ctx.as_json) {
      print_counts(ctx, p.rejects(uuid));
      print_errors(ctx, p.errors(uuid, max_errors));
    } else {
      json j;
      j["rejects"] = p.rejects(uuid);
      j["errors"] = json::array();
      for (const auto& e : p.errors(uuid, max_errors)) j["errors"].push_back(error_json(e));
      std::cout << j.dump() << "\n";
    }
    return 0;
  });
  auto* clearerr =
      sensor->add_subcommand("clear-errors", "reset the sensor's reject counters and error lists");
  clearerr->add_option("uuid", uuid)->required();
  on(clearerr, [&](auto& p) { return report(ctx, p.clear_errors(uuid), "cleared"); });

  auto* sensors = app.add_subcommand("sensors", "list registered and pending sensors");
  static bool pending_only = false;
  sensors->add_flag("--pending", pending_only, "only pending registrations");
  on(sensors, [&](auto& p) {
    if (ctx.as_json) {
      std::cout << json{{"registered", pending_only ? std::vector<std::string>{} : p.registered()},
                        {"pending", p.pending()}}
                       .dump()
                << "\n";
      return 0;
    }
    if (!pending_only)
      for (const auto& u : p.registered()) std::cout << u << " registered\n";
    for (const auto& u : p.pending()) std::cout << u << " pending\n";
    return 0;
  });

  // ---- blocklists ----
  static std::string target;
  auto* block =
      app.add_subcommand("block", "block an IP address or CIDR range, a UUID, or every IP presenting a UUID");
  block->require_subcommand(1);
  auto* unblock = app.add_subcommand("unblock", "undo a block");
  unblock->require_subcommand(1);
  for (bool undo : {false, true}) {
    CLI::App* parent = undo ? unblock : block;
    auto* ip = parent->add_subcommand("ip", "IPv4/IPv6 address or CIDR network (never expanded)");
    ip->add_option("address", target)->required();
    on(ip, [&, undo](auto& p) {
      return report(ctx, undo ? p.unblock_ip(target) : p.block_ip(target), undo ? "unblocked" : "blocked");
    });
    auto* u = parent->add_subcommand("uuid", "a sensor UUID");
    u->add_option("uuid", target)->required();
    on(u, [&, undo](auto& p) {
      return report(ctx, undo ? p.unblock_uuid(target) : p.block_uuid(target),
                    undo ? "unblocked" : "blocked");
    });
    auto* ipsof = parent->add_subcommand("ips-of", "every IP that presents this UUID gets blocked");
    ipsof->add_option("uuid", target)->required();
    on(ipsof, [&, undo](auto& p) {
      return report(ctx, undo ? p.unblock_ips_of_uuid(target) : p.block_ips_of_uuid(target),
                    undo ? "unblocked" : "blocked");
    });
  }
  auto* blocklist = app.add_subcommand("blocklist", "show every blocklist");
  on(blocklist, [&](auto& p) {
    json j = {
        {"ips", p.blocked_ips()}, {"uuids", p.blocked_uuids()}, {"ips_of_uuids", p.uuids_with_blocked_ips()}};
    std::cout << j.dump(ctx.as_json ? -1 : 2) << "\n";
    return 0;
  });

  // ---- kicks, types, keys, rejects ----
  static int type_number = 0;
  auto* kicktype =
      app.add_subcommand("kick-type", "close every live connection of a type (sensors may reconnect)");
  kicktype->add_option("type", type_number)->required();
  on(kicktype, [&](auto& p) { return report(ctx, p.kick_type(type_number), "kicked type"); });

  auto* types = app.add_subcommand("types", "accepted types and extended types");
  types->require_subcommand(1);
  auto* tlist = types->add_subcommand("list");
  on(tlist, [&](auto& p) {
    json j = {{"types", p.accepted_types()}, {"extended_types", p.accepted_extended_types()}};
    std::cout << j.dump(ctx.as_json ? -1 : 2) << "\n";
    return 0;
  });
  auto* tadd = types->add_subcommand("add", "accept a type (1..254)");
  tadd->add_option("type", type_number)->required();
  on(tadd, [&](auto& p) { return report(ctx, p.add_accepted_type(type_number), "accepted"); });
  auto* trem = types->add_subcommand("remove", "stop accepting a type (live connections of it are closed)");
  trem->add_option("type", type_number)->required();
  on(trem, [&](auto& p) { return report(ctx, p.remove_accepted_type(type_number), "removed"); });
  auto* eadd = types->add_subcommand("add-extended", "accept an extended type name (type 254)");
  eadd->add_option("name", target)->required();
  on(eadd, [&](auto& p) { return report(ctx, p.add_accepted_extended_type(target), "accepted"); });
  auto* erem = types->add_subcommand("remove-extended", "stop accepting an extended type name");
  erem->add_option("name", target)->required();
  on(erem, [&](auto& p) { return report(ctx, p.remove_accepted_extended_type(target), "removed"); });

  auto* defkey = app.add_subcommand(
      "default-key", "set server:hmac_default_key (a server restart rewrites it from its config)");
  defkey->add_option("key", key)->required();
  on(defkey, [&](auto& p) { return report(ctx, p.set_default_key(key), "default key set"); });

  auto* rejects = app.add_subcommand("rejects", "global reject counters, or those of one peer IP");
  static std::string ip_filter;
  static bool sources = false;
  rejects->add_option("--ip", ip_filter,
                      "show the counters and last errors of this address's source network (/24, /64)");
  rejects->add_flag("--sources", sources,
                    "list the source networks with the most rejects before authentication");
  on(rejects, [&](auto& p) {
    if (sources) {
      print_counts(ctx, p.reject_sources(100));
    } else if (ip_filter.empty()) {
      print_counts(ctx, p.global_rejects());
    } else {
      print_counts(ctx, p.ip_rejects(ip_filter));
      print_errors(ctx, p.ip_errors(ip_filter, max_errors));
    }
    return 0;
  });

  bool check_only = false;
  d4::core::cli::add_standard_flags(app, "d4-admin", &check_only);
  if (auto status = d4::core::cli::parse(app, argc, argv)) return *status;
  return d4::core::cli::run("d4-admin", [&] {
    d4::core::cli::require_subcommand_unless(app, check_only);
    auto root = d4::core::load_config(ctx.config_file);
    auto redis =
        d4::core::read_common_config(root, std::filesystem::path(ctx.config_file).parent_path()).redis;
    if (check_only) {
      d4::core::cli::print_config_ok("d4-admin", ctx.config_file);
      return d4::core::exit_status::kOk;
    }
    auto endpoint = [](const std::string& spec, const d4::core::RedisEndpoint& def, std::string_view option) {
      return spec.empty() ? def : d4::core::cli::endpoint_argument(spec, option);
    };
    d4::core::RedisClient meta(endpoint(ctx.meta_endpoint, redis.meta, "--meta"));
    d4::core::RedisClient stream(endpoint(ctx.stream_endpoint, redis.stream, "--stream"));
    d4::core::SensorPolicy policy(meta, stream);
    return action ? action(policy) : d4::core::exit_status::kUsage;
  });
}
