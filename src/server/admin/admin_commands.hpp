#pragma once
// d4-admin's commands: the sensor policy from the command line (registration, keys, blocklists,
// kicks, accepted types, reject counters), over core::SensorPolicy. d4_admin.cpp reads the
// configuration and connects; these functions declare the subcommands and bind the action the
// one given runs.
//
// Exit status of an action: 0 done, and d4-admin's own: 3 invalid input, 4 not found, 5 conflict
// (already registered/blocked...).
#include <cstddef>
#include <functional>
#include <string>

#include "core/options.hpp"
#include "core/sensors.hpp"

namespace d4::server::admin {

// The arguments of every subcommand and the action of the one given.
struct AdminCommands {
  bool as_json = false;
  std::string uuid, key, mail, description, text, target, ip_filter;
  bool third_party = false, clear = false, pending_only = false, sources = false;
  long long number = 0;
  int block_seconds = 30, type_number = 0;
  std::size_t max_errors = 20;
  std::function<int(core::SensorPolicy&)> action;  // empty when no subcommand was given
};

// Declares every subcommand on `app`, bound to `a` (which must outlive the parse).
void add_admin_commands(d4::core::cli::App& app, AdminCommands& a);

}  // namespace d4::server::admin
