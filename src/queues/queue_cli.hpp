#pragma once
// d4-queue's subcommands (list, create, show, edit, delete, empty, push) over the queue library,
// the same operations as the web UI's queue pages. d4_queue_main.cpp reads the configuration and
// connects; this file declares the commands and runs the one given.
#include <string>
#include <vector>

#include "core/options.hpp"
#include "queues/queue_store.hpp"

namespace d4::queues {

// The subcommands and their arguments, bound by add_queue_commands().
struct QueueCommands {
  bool as_json = false;
  d4::core::cli::App *list = nullptr, *create = nullptr, *show = nullptr, *edit = nullptr, *del = nullptr,
                     *empty = nullptr, *push = nullptr;
  std::string list_type;             // list
  std::string c_type, c_id, c_desc;  // create
  long long c_max = 0;
  std::vector<std::string> c_sensors;
  bool c_group = false, c_force = false;
  std::string s_id;          // show
  std::string e_id, e_desc;  // edit
  long long e_max = 0;
  d4::core::cli::Option *e_desc_opt = nullptr, *e_max_opt = nullptr;
  bool e_default_max = false;
  std::vector<std::string> e_add, e_remove;
  std::string d_id, em_id, p_id;  // delete, empty, push
  std::vector<std::string> p_items;
};

// The subcommands (one of them required, except with --check-config) and --json.
void add_queue_commands(d4::core::cli::App& app, QueueCommands& c);

// Runs the subcommand that was given, printing on stdout (JSON with --json); the exit status.
int run_queue_command(const QueueCommands& c, QueueStore& store);

}  // namespace d4::queues
