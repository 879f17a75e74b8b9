#pragma once
// [workers] settings of the type-7 worker (docs/configuration.md).
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "workers/session.hpp"

namespace d4::workers::ipfix {

// Reads ipfix_max_templates, ipfix_max_template_bytes, ipfix_queue and ipfix_registry_files, and
// loads the information model. Throws core::ConfigError on invalid values; registry files that
// cannot be read are reported in `warnings` (their elements are then output as pen:<pen>:<id>).
IpfixSettings read_settings(const toml::table& root, std::vector<std::string>& warnings);

}  // namespace d4::workers::ipfix
