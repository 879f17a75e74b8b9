#pragma once
// The Redis ACL rules that docs/operations.md ("Redis ACL users") gives the project's components,
// one copy for the tests that run the components as those users (RedisServerOptions::acl_users).
#include <string>
#include <vector>

namespace d4::test {

// d4-worker, d4-web and the tools, the analyzers; d4-server adds +info.
inline const std::vector<std::string> kComponentAclRules = {
    "~*",      "resetchannels", "-@all",       "+@connection", "+@read",
    "+@write", "+@transaction", "+@scripting", "-@dangerous",  "+time"};

// d4-client --source d4server: it pops the analyzer queues only.
inline const std::vector<std::string> kForwarderAclRules = {"~analyzer:*", "resetchannels", "-@all",
                                                            "+@connection", "+@list"};

// An `ACL SETUSER` line: `name`, enabled, `password`, then `rules` and `extra` (rights added or taken).
inline std::vector<std::string> acl_user(const std::string& name, const std::string& password,
                                         const std::vector<std::string>& rules,
                                         const std::vector<std::string>& extra = {}) {
  std::vector<std::string> user = {name, "on", ">" + password};
  user.insert(user.end(), rules.begin(), rules.end());
  user.insert(user.end(), extra.begin(), extra.end());
  return user;
}

// A component's user: kComponentAclRules, then `extra`.
inline std::vector<std::string> component_acl_user(const std::string& name, const std::string& password,
                                                   const std::vector<std::string>& extra = {}) {
  return acl_user(name, password, kComponentAclRules, extra);
}

}  // namespace d4::test
