#pragma once
// Web users, roles and API tokens in the users database (reference: 6380 db 1), with the
// reference key names so that users created by either implementation keep working (in the cluster
// layout each name follows the prefix "{d4:users}:"):
//   user:all                hash  e-mail -> password hash (ours: Argon2id; reference: bcrypt)
//   user_metadata:<e-mail>  hash  role, change_passwd ("True" while a password change is due)
//   user_role:<role>        set   users holding the role (cumulative: an admin is in all three)
//   d4:all_role             zset  role -> level (admin 1, user 2, sensor_register 20)
//   user:tokens             hash  "sha256:<hex>" -> e-mail (ours; the reference stored the token
//                                 itself, such entries are accepted once and then re-keyed)
//   d4:user_tokens:<e-mail> hash  token id -> {"name","created","hash"} (ours; several named
//                                 tokens per user, the token itself is shown once and never stored)
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/redis_client.hpp"

namespace d4::web {

enum class Role { Admin = 1, User = 2, SensorRegister = 20 };
std::optional<Role> parse_role(std::string_view text);
std::string_view to_string(Role r);
// Cumulative roles like the reference: a lower level holds every role of a higher level.
inline bool role_allows(Role held, Role required) {
  return static_cast<int>(held) <= static_cast<int>(required);
}

struct TokenInfo {
  std::string id;
  std::string name;
  long long created = 0;
};

struct UserInfo {
  std::string email;
  Role role = Role::User;
  bool must_change_password = false;
  std::vector<TokenInfo> tokens;
};

struct NewToken {
  std::string id;
  std::string token;  // shown once
};

class UserStore {
 public:
  // `prefix` starts every key: "" in the reference layout (the users database is a database
  // number), "{d4:users}:" in the cluster layout (one hash tag: the whole store in one slot).
  explicit UserStore(core::RedisClient& users, PasswordHashCost cost = PasswordHashCost::Interactive,
                     std::string_view prefix = {})
      : db_(users), cost_(cost), prefix_(prefix) {}

  void ensure_roles();
  bool any_user();  // some account exists (first run creates an administrator otherwise)
  bool exists(std::string_view email);
  std::optional<UserInfo> get(std::string_view email);
  std::vector<UserInfo> list();
  // Creates or replaces a user (role sets are rewritten). Throws std::invalid_argument on a bad
  // e-mail address.
  void upsert(std::string_view email, Role role, std::string_view password, bool must_change_password);
  void set_role(std::string_view email, Role role);
  void set_password(std::string_view email, std::string_view password, bool must_change_password);
  void remove(std::string_view email);
  // Verifies a password; a legacy hash is replaced by an Argon2id one on success.
  bool check_password(std::string_view email, std::string_view password);

  NewToken create_token(std::string_view email, std::string_view name);
  bool revoke_token(std::string_view email, std::string_view id);
  // The user a token belongs to, if any.
  std::optional<std::string> user_for_token(std::string_view token);

 private:
  void write_roles(std::string_view email, Role role);
  // The password hash and the must-change flag, in one pipeline; `what` names the write in errors.
  void write_password(std::string_view email, std::string_view password, bool must_change, const char* what);
  std::string key(std::string_view name) const;  // the prefix, then `name`
  std::string metadata_key(std::string_view email) const;
  std::string role_key(Role r) const;
  std::string tokens_key(std::string_view email) const;
  core::RedisClient& db_;
  PasswordHashCost cost_;
  std::string dummy_hash_;  // verified for unknown users, so that timing does not tell them apart
  std::string prefix_;
};

// Syntax check of an account name (an e-mail address, < 300 characters like the reference).
std::optional<std::string> email_violation(std::string_view email);

}  // namespace d4::web
