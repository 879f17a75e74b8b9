// d4-queue: manage analyzer queues from the command line (the web UI uses the same library).
#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/exit_codes.hpp"
#include "queues/queue_store.hpp"

namespace {

using d4::queues::QueueInfo;
using d4::queues::QueueStats;

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

int main(int argc, char** argv) {
  CLI::App app{"Manage D4 analyzer queues (Redis lists analyzer:<type|extended type>:<queue uuid>)"};
  app.require_subcommand(0, 1);  // required, except with --check-config
  std::string config_path, meta_ep, analyzer_ep;
  bool as_json = false;
  app.add_option("-c,--config", config_path, "D4 configuration file (TOML)");
  app.add_option("--meta", meta_ep,
                 "metadata Redis, host:port/db (default from the configuration: 127.0.0.1:6380/0)");
  app.add_option("--analyzer", analyzer_ep, "analyzer-queue Redis, host:port/db (default 127.0.0.1:6380/2)");
  app.add_flag("--json", as_json, "machine-readable output");

  auto* list = app.add_subcommand("list", "list queues with their statistics");
  std::string list_type;
  list->add_option("-t,--type", list_type, "only queues of this type (number) or extended type (name)");

  auto* create = app.add_subcommand("create", "create a queue");
  std::string c_type, c_id, c_desc;
  long long c_max = 0;
  std::vector<std::string> c_sensors;
  bool c_group = false, c_force = false;
  create->add_option("-t,--type", c_type, "type number (1, 3, 8...) or extended type name (ja3-jl...)")
      ->required();
  create->add_option("--id", c_id, "queue UUID (default: a new random UUID)");
  create->add_option("-d,--description", c_desc, "free text");
  create->add_option("-m,--max-size", c_max, "maximum length; older elements are dropped and counted")
      ->check(CLI::PositiveNumber);
  create->add_option("-s,--sensor", c_sensors, "feed only from this sensor UUID (repeatable): a group queue");
  create->add_flag("--group", c_group, "a group queue even with no sensor yet");
  create->add_flag("--force", c_force, "accept a type that is not (yet) in server:accepted_type");

  auto* show = app.add_subcommand("show", "show one queue and its statistics");
  std::string s_id;
  show->add_option("queue", s_id, "queue UUID")->required();

  auto* edit = app.add_subcommand("edit", "change a queue");
  std::string e_id, e_desc;
  long long e_max = 0;
  bool e_default_max = false;
  std::vector<std::string> e_add, e_remove;
  edit->add_option("queue", e_id, "queue UUID")->required();
  auto* e_desc_opt = edit->add_option("-d,--description", e_desc, "new description");
  auto* e_max_opt =
      edit->add_option("-m,--max-size", e_max, "new maximum length")->check(CLI::PositiveNumber);
  edit->add_flag("--default-max-size", e_default_max, "use the configured default maximum length")
      ->excludes(e_max_opt);
  edit->add_option("--add-sensor", e_add, "add a sensor (makes the queue a group queue)");
  edit->add_option("--remove-sensor", e_remove, "remove a sensor from a group queue");

  auto* del = app.add_subcommand("delete", "delete a queue, its data and statistics");
  std::string d_id;
  del->add_option("queue", d_id, "queue UUID")->required();

  auto* empty = app.add_subcommand("empty", "delete the queued elements (counted as dropped)");
  std::string em_id;
  empty->add_option("queue", em_id, "queue UUID")->required();

  auto* push = app.add_subcommand("push", "push elements to a queue (testing, replays)");
  std::string p_id;
  std::vector<std::string> p_items;
  push->add_option("queue", p_id, "queue UUID")->required();
  push->add_option("items", p_items, "elements")->required();

  bool check_only = false;
  d4::core::cli::add_standard_flags(app, "d4-queue", &check_only);
  if (auto status = d4::core::cli::parse(app, argc, argv)) return *status;

  return d4::core::cli::run("d4-queue", [&] {
    d4::core::cli::require_subcommand_unless(app, check_only);
    auto root = d4::core::load_config(config_path);
    auto common = d4::core::read_common_config(root, std::filesystem::path(config_path).parent_path());
    // Reference: analyzer_queues_max_size.
    long long default_max = d4::core::get_int(root, "queues", "default_max_size", 100'000'000);
    if (check_only) {
      d4::core::cli::print_config_ok("d4-queue", config_path);
      return d4::core::exit_status::kOk;
    }
    d4::core::init_logging("d4-queue", common.log);
    d4::core::RedisClient meta(meta_ep.empty() ? common.redis.meta
                                               : d4::core::cli::endpoint_argument(meta_ep, "--meta"));
    d4::core::RedisClient analyzer(analyzer_ep.empty()
                                       ? common.redis.analyzer
                                       : d4::core::cli::endpoint_argument(analyzer_ep, "--analyzer"));
    d4::queues::QueueStore store(meta, analyzer, default_max);

    auto output = [&](const QueueInfo& q, bool with_stats) {
      std::optional<QueueStats> s;
      if (with_stats) s = store.stats(q.id);
      if (as_json)
        std::cout << to_json(q, s, store.effective_max_size(q)).dump() << "\n";
      else
        print_text(q, s, store.effective_max_size(q));
    };

    if (*list) {
      std::optional<d4::queues::QueueTarget> filter;
      if (!list_type.empty()) filter = d4::queues::QueueTarget::parse(list_type);
      auto queues = store.list(filter);
      if (as_json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& q : queues)
          arr.push_back(to_json(q, store.stats(q.id), store.effective_max_size(q)));
        std::cout << arr.dump() << "\n";
      } else {
        for (const auto& q : queues) output(q, true);
      }
    } else if (*create) {
      d4::queues::QueueSpec spec;
      spec.target = d4::queues::QueueTarget::parse(c_type);
      spec.id = c_id;
      spec.description = c_desc;
      if (c_max > 0) spec.max_size = c_max;
      spec.sensors = c_sensors;
      spec.group = c_group;
      spec.require_accepted_type = !c_force;
      output(store.create(spec), false);
    } else if (*show) {
      output(store.require(s_id), true);
    } else if (*edit) {
      if (*e_desc_opt) store.set_description(e_id, e_desc);
      if (*e_max_opt) store.set_max_size(e_id, e_max);
      if (e_default_max) store.set_max_size(e_id, std::nullopt);
      if (!e_add.empty()) store.add_sensors(e_id, e_add);
      if (!e_remove.empty()) store.remove_sensors(e_id, e_remove);
      output(store.require(e_id), true);
    } else if (*del) {
      auto q = store.require(d_id);
      store.remove(q.id);
      if (!as_json) std::cout << "deleted " << q.id << "\n";
    } else if (*empty) {
      long long n = store.empty(em_id);
      if (as_json)
        std::cout << nlohmann::json{{"removed", n}}.dump() << "\n";
      else
        std::cout << "removed " << n << " elements\n";
    } else if (*push) {
      long long dropped = store.push(p_id, p_items);
      if (as_json)
        std::cout << nlohmann::json{{"pushed", p_items.size()}, {"dropped", dropped}}.dump() << "\n";
      else
        std::cout << "pushed " << p_items.size() << ", dropped " << dropped << "\n";
    }
    return d4::core::exit_status::kOk;
  });
}
