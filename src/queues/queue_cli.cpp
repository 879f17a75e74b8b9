#include "queues/queue_cli.hpp"

#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/exit_codes.hpp"

namespace d4::queues {
namespace {

nlohmann::json to_json(const QueueInfo& q, const std::optional<QueueStats>& s, long long effective_max) {
  nlohmann::json j{{"id", q.id},
                   {"type", q.target.type},
                   {"list", q.list_key()},
                   {"description", q.description},
                   {"max_size", effective_max},
                   {"max_size_is_default", !q.max_size.has_value()},
                   {"group", q.group},
                   {"sensors", q.sensors},
                   {"last_updated", q.last_updated}};
  if (q.target.type == 254) j["extended_type"] = q.target.extended_type;
  if (s)
    j["stats"] = {{"length", s->length},       {"pushed", s->pushed},
                  {"dropped", s->dropped},     {"consumed", s->consumed},
                  {"last_push", s->last_push}, {"last_consumer_activity", s->last_consumer_activity}};
  return j;
}

void print_text(const QueueInfo& q, const std::optional<QueueStats>& s, long long effective_max) {
  std::cout << q.id << "  " << q.list_key() << "  max=" << effective_max << (q.max_size ? "" : "(default)")
            << (q.group ? "  group=" + std::to_string(q.sensors.size()) : std::string("  all-sensors"));
  if (s)
    std::cout << fmt::format("  length={} pushed={} dropped={} consumed={}", s->length, s->pushed, s->dropped,
                             s->consumed);
  if (!q.description.empty()) std::cout << "  \"" << q.description << "\"";
  std::cout << "\n";
  if (s && q.group)
    for (const auto& sensor : q.sensors) std::cout << "    sensor " << sensor << "\n";
}

}  // namespace

void add_queue_commands(d4::core::cli::App& app, QueueCommands& c) {
  app.require_subcommand(0, 1);  // required, except with --check-config
  app.add_flag("--json", c.as_json, "machine-readable output");

  c.list = app.add_subcommand("list", "list queues with their statistics");
  c.list->add_option("-t,--type", c.list_type, "only queues of this type (number) or extended type (name)");

  c.create = app.add_subcommand("create", "create a queue");
  c.create->add_option("-t,--type", c.c_type, "type number (1, 3, 8...) or extended type name (ja3-jl...)")
      ->required();
  c.create->add_option("--id", c.c_id, "queue UUID (default: a new random UUID)");
  c.create->add_option("-d,--description", c.c_desc, "free text");
  c.create->add_option("-m,--max-size", c.c_max, "maximum length; older elements are dropped and counted")
      ->check(d4::core::cli::PositiveNumber);
  c.create->add_option("-s,--sensor", c.c_sensors,
                       "feed only from this sensor UUID (repeatable): a group queue");
  c.create->add_flag("--group", c.c_group, "a group queue even with no sensor yet");
  c.create->add_flag("--force", c.c_force, "accept a type that is not (yet) in server:accepted_type");

  c.show = app.add_subcommand("show", "show one queue and its statistics");
  c.show->add_option("queue", c.s_id, "queue UUID")->required();

  c.edit = app.add_subcommand("edit", "change a queue");
  c.edit->add_option("queue", c.e_id, "queue UUID")->required();
  c.e_desc_opt = c.edit->add_option("-d,--description", c.e_desc, "new description");
  c.e_max_opt = c.edit->add_option("-m,--max-size", c.e_max, "new maximum length")
                    ->check(d4::core::cli::PositiveNumber);
  c.edit->add_flag("--default-max-size", c.e_default_max, "use the configured default maximum length")
      ->excludes(c.e_max_opt);
  c.edit->add_option("--add-sensor", c.e_add, "add a sensor (makes the queue a group queue)");
  c.edit->add_option("--remove-sensor", c.e_remove, "remove a sensor from a group queue");

  c.del = app.add_subcommand("delete", "delete a queue, its data and statistics");
  c.del->add_option("queue", c.d_id, "queue UUID")->required();

  c.empty = app.add_subcommand("empty", "delete the queued elements (counted as dropped)");
  c.empty->add_option("queue", c.em_id, "queue UUID")->required();

  c.push = app.add_subcommand("push", "push elements to a queue (testing, replays)");
  c.push->add_option("queue", c.p_id, "queue UUID")->required();
  c.push->add_option("items", c.p_items, "elements")->required();
}

int run_queue_command(const QueueCommands& c, QueueStore& store) {
  auto output = [&](const QueueInfo& q, bool with_stats) {
    std::optional<QueueStats> s;
    if (with_stats) s = store.stats(q.id);
    if (c.as_json)
      std::cout << to_json(q, s, store.effective_max_size(q)).dump() << "\n";
    else
      print_text(q, s, store.effective_max_size(q));
  };

  if (*c.list) {
    std::optional<QueueTarget> filter;
    if (!c.list_type.empty()) filter = QueueTarget::parse(c.list_type);
    auto queues = store.list(filter);
    if (c.as_json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& q : queues) arr.push_back(to_json(q, store.stats(q.id), store.effective_max_size(q)));
      std::cout << arr.dump() << "\n";
    } else {
      for (const auto& q : queues) output(q, true);
    }
  } else if (*c.create) {
    QueueSpec spec;
    spec.target = QueueTarget::parse(c.c_type);
    spec.id = c.c_id;
    spec.description = c.c_desc;
    if (c.c_max > 0) spec.max_size = c.c_max;
    spec.sensors = c.c_sensors;
    spec.group = c.c_group;
    spec.require_accepted_type = !c.c_force;
    output(store.create(spec), false);
  } else if (*c.show) {
    output(store.require(c.s_id), true);
  } else if (*c.edit) {
    if (*c.e_desc_opt) store.set_description(c.e_id, c.e_desc);
    if (*c.e_max_opt) store.set_max_size(c.e_id, c.e_max);
    if (c.e_default_max) store.set_max_size(c.e_id, std::nullopt);
    if (!c.e_add.empty()) store.add_sensors(c.e_id, c.e_add);
    if (!c.e_remove.empty()) store.remove_sensors(c.e_id, c.e_remove);
    output(store.require(c.e_id), true);
  } else if (*c.del) {
    auto q = store.require(c.d_id);
    store.remove(q.id);
    if (!c.as_json) std::cout << "deleted " << q.id << "\n";
  } else if (*c.empty) {
    long long n = store.empty(c.em_id);
    if (c.as_json)
      std::cout << nlohmann::json{{"removed", n}}.dump() << "\n";
    else
      std::cout << "removed " << n << " elements\n";
  } else if (*c.push) {
    long long dropped = store.push(c.p_id, c.p_items);
    if (c.as_json)
      std::cout << nlohmann::json{{"pushed", c.p_items.size()}, {"dropped", dropped}}.dump() << "\n";
    else
      std::cout << "pushed " << c.p_items.size() << ", dropped " << dropped << "\n";
  }
  return core::exit_status::kOk;
}

}  // namespace d4::queues
