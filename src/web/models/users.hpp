#pragma once
// The API view of users (/api/v1/me, /api/v1/users...): UserStore (auth/users.hpp) reads them
// as UserInfo, which the pages render and the API serialises with to_json.
#include <vector>

#include <nlohmann/json.hpp>

#include "web/auth/users.hpp"
#include "web/models/common.hpp"

namespace d4::web {

D4_VIEW_TO_JSON(TokenInfo, id, name, created)
// {"email", "role", "must_change_password", "tokens"}
void to_json(nlohmann::json& j, const UserInfo& u);

namespace models {
struct UserList {
  std::vector<UserInfo> items;
};
D4_VIEW_TO_JSON(UserList, items)
}  // namespace models

}  // namespace d4::web
