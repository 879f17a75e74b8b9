#include "core/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/config.hpp"

namespace d4::core {
namespace {

constexpr std::string_view kRunAsSection = "general";

// getpwnam_r/getgrnam_r want a caller buffer; 64 KiB covers any sane NSS entry.
constexpr std::size_t kNssBufferBytes = 64 * 1024;

std::optional<passwd> find_user(const std::string& name, std::vector<char>& buffer) {
  passwd entry{};
  passwd* found = nullptr;
  buffer.resize(kNssBufferBytes);
  if (getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
    return std::nullopt;
  return entry;
}

std::optional<gid_t> find_group(const std::string& name) {
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(kNssBufferBytes);
  if (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
    return std::nullopt;
  return entry.gr_gid;
}

std::string user_name_of(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(kNssBufferBytes);
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found) return entry.pw_name;
  return "uid " + std::to_string(uid);
}

[[noreturn]] void fail_to_drop(const char* step, const RunAs& run_as) {
  throw std::runtime_error(
      fmt::format("cannot become user {} ({} failed: {})", run_as.user, step, std::strerror(errno)));
}

}  // namespace

RunAs read_run_as(const toml::table& root) {
  RunAs r;
  r.user = get_string(root, kRunAsSection, "user", "");
  r.group = get_string(root, kRunAsSection, "group", "");
  r.allow_root = get_bool(root, kRunAsSection, "allow_root", false);
  if (r.user.empty()) {
    if (!r.group.empty())
      throw ConfigError(where_set(root, kRunAsSection, "group") +
                        "option general.group needs general.user (the user to run as)");
    return r;
  }
  std::vector<char> buffer;
  auto pw = find_user(r.user, buffer);
  if (!pw)
    throw ConfigError(where_set(root, kRunAsSection, "user") + "option general.user: no user \"" + r.user +
                      "\" on this system (create it, e.g. adduser --system --group " + r.user + ")");
  r.uid = pw->pw_uid;
  r.gid = pw->pw_gid;
  if (!r.group.empty()) {
    r.gid = find_group(r.group);
    if (!r.gid)
      throw ConfigError(where_set(root, kRunAsSection, "group") + "option general.group: no group \"" +
                        r.group + "\" on this system");
  }
  return r;
}

void drop_privileges(std::string_view component, const RunAs& run_as) {
  const uid_t current = geteuid();
  if (current != 0) {
    if (run_as.uid && *run_as.uid != current)
      throw std::runtime_error(fmt::format(
          "{} runs as {} and cannot become user {} (only root can switch users): start it as root or as {}",
          component, user_name_of(current), run_as.user, run_as.user));
    return;
  }
  if (!run_as.uid) {
    if (run_as.allow_root)
      spdlog::info("running as root (general.allow_root = true)");
    else
      spdlog::warn("running as root: set [general] user (e.g. \"d4\") to drop privileges after start-up");
    return;
  }
  if (*run_as.uid == 0 && !run_as.allow_root)
    throw std::runtime_error(
        "general.user \"" + run_as.user +
        "\" is root: refusing to run as root (set general.allow_root = true to allow it)");
  if (initgroups(run_as.user.c_str(), *run_as.gid) != 0) fail_to_drop("initgroups", run_as);
  if (setgid(*run_as.gid) != 0) fail_to_drop("setgid", run_as);
  if (setuid(*run_as.uid) != 0) fail_to_drop("setuid", run_as);
  // setuid() from root sets the real, effective and saved ids: root must be gone for good.
  if (*run_as.uid != 0 && (setuid(0) == 0 || geteuid() == 0 || getuid() == 0))
    throw std::runtime_error("root privileges could be regained after switching to user " + run_as.user);
  spdlog::info("running as user {} (uid {}, gid {})", run_as.user, *run_as.uid, *run_as.gid);
}

}  // namespace d4::core
