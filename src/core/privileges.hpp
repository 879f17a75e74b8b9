#pragma once
// Privilege dropping for daemons started as root ([general] user, group, allow_root): a daemon
// binds its sockets and opens its files first, then becomes `user` for good (supplementary groups,
// group, user; root cannot be regained). The user is looked up when the configuration is read, so
// a missing user is a configuration error (--check-config reports it), not a failure at run time.
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

namespace d4::core {

struct RunAs {
  std::string user;         // [general] user; empty: stay who we are
  std::string group;        // [general] group; empty: the user's primary group
  bool allow_root = false;  // [general] allow_root: accept running as root after start-up
  // Resolved from the names when the configuration is read (nullopt while `user` is empty).
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// Reads and resolves [general] user, group and allow_root. Throws ConfigError (with the option's
// file and line) when the user or the group does not exist.
RunAs read_run_as(const toml::table& root);

// Becomes `run_as.user` when running as root: initgroups, setgid, setuid, then checks that root
// cannot be regained. Logs what it did (`component` names the process). Without a user, a process
// running as root logs a warning (or an info line with allow_root); a user that is root itself is
// refused unless allow_root. Not running as root, a configured user must be the current one (a
// unit's User= and [general] user agree). Throws std::runtime_error when it cannot drop.
void drop_privileges(std::string_view component, const RunAs& run_as);

}  // namespace d4::core
