#pragma once
// The names of the notification channels configured in [alerts.webhook.<name>] and
// [alerts.email.<name>]. Rules name their channels; the daemon builds the channels from these
// sections, and d4-web reads only the names (never the URLs or passwords) to check rules and
// offer the channels in its forms.
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace d4::alerts {

// The sub-tables of `section` ("alerts.webhook" or "alerts.email"), in file order. Throws
// core::ConfigError when an entry is not a table or its name is not 1-64 letters, digits, '-'
// or '_' (names become metric labels and rule references).
std::vector<std::string> channel_names(const toml::table& root, std::string_view section);

// Every configured channel: the webhooks', then the e-mails'. Throws core::ConfigError as above,
// or when a name is used twice.
std::vector<std::string> all_channel_names(const toml::table& root);

}  // namespace d4::alerts
