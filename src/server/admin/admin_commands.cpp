#include "server/admin/admin_commands.hpp"

#include <iostream>

#include <nlohmann/json.hpp>

namespace d4::server::admin {
namespace {

using core::PolicyResult;
using nlohmann::json;

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

int report(const AdminCommands& c, const PolicyResult& r, const std::string& done) {
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

json error_json(const core::SensorError& e) {
  return {{"time", e.time}, {"reason", e.reason}, {"detail", e.detail},
          {"ip", e.ip},     {"source", e.source}, {"session", e.session}};
}

void print_counts(const AdminCommands& c, const std::map<std::string, long long>& m) {
  if (c.as_json) {
    std::cout << json(m).dump() << "\n";
    return;
  }
  for (const auto& [k, v] : m) std::cout << k << " " << v << "\n";
}

void print_errors(const AdminCommands& c, const std::vector<core::SensorError>& errors) {
  if (c.as_json) {
    json a = json::array();
    for (const auto& e : errors) a.push_back(error_json(e));
    std::cout << a.dump() << "\n";
    return;
  }
  for (const auto& e : errors)
    std::cout << e.time << " " << e.reason << " " << e.ip << " " << e.detail << "\n";
}

// `sub`, when given, makes `f` the action to run.
void on(AdminCommands& a, d4::core::cli::App* sub, std::function<int(core::SensorPolicy&)> f) {
  sub->callback([&a, f = std::move(f)] { a.action = f; });
}

// sensor <show|register|approve|...> and sensors.
void add_sensor_commands(d4::core::cli::App& app, AdminCommands& a) {
  auto* sensor = app.add_subcommand("sensor", "one sensor: register, approve, keys, limits, kick, errors");
  sensor->require_subcommand(1);

  auto* show = sensor->add_subcommand("show", "status, metadata, limits, reject counters and last errors");
  show->add_option("uuid", a.uuid)->required();
  show->add_option("-n,--errors", a.max_errors, "number of errors to show");
  on(a, show, [&a](core::SensorPolicy& p) {
    auto info = p.info(a.uuid, a.max_errors);
    if (!info) return report(a, PolicyResult::fail(PolicyResult::Code::Invalid, "Invalid uuid"), "");
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
    std::cout << j.dump(a.as_json ? -1 : 2) << "\n";
    return 0;
  });
  auto* reg = sensor->add_subcommand("register", "pending registration (like the reference API)");
  reg->add_option("uuid", a.uuid)->required();
  reg->add_option("--key", a.key, "the sensor's HMAC key")->required();
  reg->add_option("--mail", a.mail);
  reg->add_option("--description", a.description);
  reg->add_flag("--third-party", a.third_party);
  on(a, reg, [&a](auto& p) {
    return report(a, p.register_sensor(a.uuid, a.key, a.mail, a.description, a.third_party), "pending");
  });
  auto* approve = sensor->add_subcommand("approve", "allow a sensor in registration mode");
  approve->add_option("uuid", a.uuid)->required();
  on(a, approve, [&a](auto& p) { return report(a, p.approve(a.uuid), "approved"); });
  auto* rejectp = sensor->add_subcommand("reject", "drop a pending registration");
  rejectp->add_option("uuid", a.uuid)->required();
  on(a, rejectp, [&a](auto& p) { return report(a, p.reject_pending(a.uuid), "rejected"); });
  auto* unreg = sensor->add_subcommand("unregister", "remove from the registered sensors");
  unreg->add_option("uuid", a.uuid)->required();
  on(a, unreg, [&a](auto& p) { return report(a, p.unregister(a.uuid), "unregistered"); });
  auto* setkey = sensor->add_subcommand("set-key", "set the sensor's own HMAC key (stored verbatim)");
  setkey->add_option("uuid", a.uuid)->required();
  setkey->add_option("key", a.key)->required();
  on(a, setkey, [&a](auto& p) { return report(a, p.set_key(a.uuid, a.key), "key set"); });
  auto* rotate = sensor->add_subcommand("rotate-key", "generate a new random key and print it");
  rotate->add_option("uuid", a.uuid)->required();
  on(a, rotate, [&a](auto& p) { return report(a, p.rotate_key(a.uuid), "new key"); });
  auto* clearkey = sensor->add_subcommand("clear-key", "remove the sensor's key (the default key applies)");
  clearkey->add_option("uuid", a.uuid)->required();
  on(a, clearkey, [&a](auto& p) { return report(a, p.clear_key(a.uuid), "key removed"); });
  auto* describe = sensor->add_subcommand("describe", "set the description");
  describe->add_option("uuid", a.uuid)->required();
  describe->add_option("text", a.text)->required();
  on(a, describe, [&a](auto& p) { return report(a, p.set_description(a.uuid, a.text), "description set"); });
  auto* tag = sensor->add_subcommand("tag", "add a tag");
  tag->add_option("uuid", a.uuid)->required();
  tag->add_option("tag", a.text)->required();
  on(a, tag, [&a](auto& p) { return report(a, p.add_tag(a.uuid, a.text), "tagged"); });
  auto* untag = sensor->add_subcommand("untag", "remove a tag");
  untag->add_option("uuid", a.uuid)->required();
  untag->add_option("tag", a.text)->required();
  on(a, untag, [&a](auto& p) { return report(a, p.remove_tag(a.uuid, a.text), "tag removed"); });
  auto* backlog =
      sensor->add_subcommand("backlog", "per-session backlog limit in packets (stream_max_size_by_uuid)");
  backlog->add_option("uuid", a.uuid)->required();
  backlog->add_option("packets", a.number);
  backlog->add_flag("--clear", a.clear, "back to the server default");
  on(a, backlog, [&a](auto& p) {
    return report(a, a.clear ? p.clear_backlog_limit(a.uuid) : p.set_backlog_limit(a.uuid, a.number),
                  "backlog limit");
  });
  auto* rate = sensor->add_subcommand("rate-limit", "ingest rate limit in bytes/s (rate_limit_by_uuid)");
  rate->add_option("uuid", a.uuid)->required();
  rate->add_option("bytes_per_second", a.number);
  rate->add_flag("--clear", a.clear, "back to the server default");
  on(a, rate, [&a](auto& p) {
    return report(a, a.clear ? p.clear_rate_limit(a.uuid) : p.set_rate_limit(a.uuid, a.number), "rate limit");
  });
  auto* kick = sensor->add_subcommand(
      "kick", "close the sensor's connections on every server and block it for a while");
  kick->add_option("uuid", a.uuid)->required();
  kick->add_option("--block-seconds", a.block_seconds, "temporary block after the kick (0: none)");
  on(a, kick, [&a](auto& p) {
    return report(a, p.kick_sensor(a.uuid, std::chrono::seconds(a.block_seconds)), "kicked");
  });
  auto* errors = sensor->add_subcommand("errors", "reject counters and last errors");
  errors->add_option("uuid", a.uuid)->required();
  errors->add_option("-n", a.max_errors);
  on(a, errors, [&a](auto& p) {
    if (!a.as_json) {
      print_counts(a, p.rejects(a.uuid));
      print_errors(a, p.errors(a.uuid, a.max_errors));
    } else {
      json j;
      j["rejects"] = p.rejects(a.uuid);
      j["errors"] = json::array();
      for (const auto& e : p.errors(a.uuid, a.max_errors)) j["errors"].push_back(error_json(e));
      std::cout << j.dump() << "\n";
    }
    return 0;
  });
  auto* clearerr =
      sensor->add_subcommand("clear-errors", "reset the sensor's reject counters and error lists");
  clearerr->add_option("uuid", a.uuid)->required();
  on(a, clearerr, [&a](auto& p) { return report(a, p.clear_errors(a.uuid), "cleared"); });

  auto* sensors = app.add_subcommand("sensors", "list registered and pending sensors");
  sensors->add_flag("--pending", a.pending_only, "only pending registrations");
  on(a, sensors, [&a](auto& p) {
    if (a.as_json) {
      std::cout << json{{"registered", a.pending_only ? std::vector<std::string>{} : p.registered()},
                        {"pending", p.pending()}}
                       .dump()
                << "\n";
      return 0;
    }
    if (!a.pending_only)
      for (const auto& u : p.registered()) std::cout << u << " registered\n";
    for (const auto& u : p.pending()) std::cout << u << " pending\n";
    return 0;
  });
}

// block and unblock <ip|uuid|ips-of>, blocklist.
void add_block_commands(d4::core::cli::App& app, AdminCommands& a) {
  auto* block =
      app.add_subcommand("block", "block an IP address or CIDR range, a UUID, or every IP presenting a UUID");
  block->require_subcommand(1);
  auto* unblock = app.add_subcommand("unblock", "undo a block");
  unblock->require_subcommand(1);
  for (bool undo : {false, true}) {
    d4::core::cli::App* parent = undo ? unblock : block;
    auto* ip = parent->add_subcommand("ip", "IPv4/IPv6 address or CIDR network (never expanded)");
    ip->add_option("address", a.target)->required();
    on(a, ip, [&a, undo](auto& p) {
      return report(a, undo ? p.unblock_ip(a.target) : p.block_ip(a.target), undo ? "unblocked" : "blocked");
    });
    auto* u = parent->add_subcommand("uuid", "a sensor UUID");
    u->add_option("uuid", a.target)->required();
    on(a, u, [&a, undo](auto& p) {
      return report(a, undo ? p.unblock_uuid(a.target) : p.block_uuid(a.target),
                    undo ? "unblocked" : "blocked");
    });
    auto* ipsof = parent->add_subcommand("ips-of", "every IP that presents this UUID gets blocked");
    ipsof->add_option("uuid", a.target)->required();
    on(a, ipsof, [&a, undo](auto& p) {
      return report(a, undo ? p.unblock_ips_of_uuid(a.target) : p.block_ips_of_uuid(a.target),
                    undo ? "unblocked" : "blocked");
    });
  }
  auto* blocklist = app.add_subcommand("blocklist", "show every blocklist");
  on(a, blocklist, [&a](auto& p) {
    json j = {
        {"ips", p.blocked_ips()}, {"uuids", p.blocked_uuids()}, {"ips_of_uuids", p.uuids_with_blocked_ips()}};
    std::cout << j.dump(a.as_json ? -1 : 2) << "\n";
    return 0;
  });
}

// kick-type, types, default-key, rejects.
void add_policy_commands(d4::core::cli::App& app, AdminCommands& a) {
  auto* kicktype =
      app.add_subcommand("kick-type", "close every live connection of a type (sensors may reconnect)");
  kicktype->add_option("type", a.type_number)->required();
  on(a, kicktype, [&a](auto& p) { return report(a, p.kick_type(a.type_number), "kicked type"); });

  auto* types = app.add_subcommand("types", "accepted types and extended types");
  types->require_subcommand(1);
  auto* tlist = types->add_subcommand("list");
  on(a, tlist, [&a](auto& p) {
    json j = {{"types", p.accepted_types()}, {"extended_types", p.accepted_extended_types()}};
    std::cout << j.dump(a.as_json ? -1 : 2) << "\n";
    return 0;
  });
  auto* tadd = types->add_subcommand("add", "accept a type (1..254)");
  tadd->add_option("type", a.type_number)->required();
  on(a, tadd, [&a](auto& p) { return report(a, p.add_accepted_type(a.type_number), "accepted"); });
  auto* trem = types->add_subcommand("remove", "stop accepting a type (live connections of it are closed)");
  trem->add_option("type", a.type_number)->required();
  on(a, trem, [&a](auto& p) { return report(a, p.remove_accepted_type(a.type_number), "removed"); });
  auto* eadd = types->add_subcommand("add-extended", "accept an extended type name (type 254)");
  eadd->add_option("name", a.target)->required();
  on(a, eadd, [&a](auto& p) { return report(a, p.add_accepted_extended_type(a.target), "accepted"); });
  auto* erem = types->add_subcommand("remove-extended", "stop accepting an extended type name");
  erem->add_option("name", a.target)->required();
  on(a, erem, [&a](auto& p) { return report(a, p.remove_accepted_extended_type(a.target), "removed"); });

  auto* defkey = app.add_subcommand(
      "default-key", "set server:hmac_default_key (a server restart rewrites it from its config)");
  defkey->add_option("key", a.key)->required();
  on(a, defkey, [&a](auto& p) { return report(a, p.set_default_key(a.key), "default key set"); });

  auto* rejects = app.add_subcommand("rejects", "global reject counters, or those of one peer IP");
  rejects->add_option("--ip", a.ip_filter,
                      "show the counters and last errors of this address's source network (/24, /64)");
  rejects->add_flag("--sources", a.sources,
                    "list the source networks with the most rejects before authentication");
  on(a, rejects, [&a](auto& p) {
    if (a.sources) {
      print_counts(a, p.reject_sources(100));
    } else if (a.ip_filter.empty()) {
      print_counts(a, p.global_rejects());
    } else {
      print_counts(a, p.ip_rejects(a.ip_filter));
      print_errors(a, p.ip_errors(a.ip_filter, a.max_errors));
    }
    return 0;
  });
}

}  // namespace

void add_admin_commands(d4::core::cli::App& app, AdminCommands& a) {
  app.require_subcommand(0, 1);  // required, except with --check-config
  app.add_flag("--json", a.as_json, "machine-readable output");
  add_sensor_commands(app, a);
  add_block_commands(app, a);
  add_policy_commands(app, a);
}

}  // namespace d4::server::admin
