#include "web/models/users.hpp"

namespace d4::web {

void to_json(nlohmann::json& j, const UserInfo& u) {
  j = {{"email", u.email},
       {"role", to_string(u.role)},
       {"must_change_password", u.must_change_password},
       {"tokens", u.tokens}};
}

}  // namespace d4::web
