#pragma once
// d4-alerts' commands other than the daemon: rules (add, list, remove), the alerts' state, the
// removal of a dead worker or consumer from its registry, and a test notification. Each prints to
// stdout (text, or JSON with `json`) and returns the process exit status.
#include <string>

#include "alerts/daemon.hpp"
#include "alerts/rule.hpp"

namespace d4::alerts {

int rule_add(const AlertsConfig& config, const Rule& rule, bool json);
int rule_list(const AlertsConfig& config, bool json);
int rule_remove(const AlertsConfig& config, const std::string& id);
int show_status(const AlertsConfig& config, bool json);
// what: "worker" or "analyzer"; a process that died without a stable name stays registered (and
// its down alert firing) until it is forgotten.
int forget_process(const AlertsConfig& config, const std::string& what, const std::string& name);
int send_test(const AlertsConfig& config, const std::string& channel);

}  // namespace d4::alerts
