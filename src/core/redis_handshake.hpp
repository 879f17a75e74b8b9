#pragma once
// What the blocking and the asynchronous Redis clients say first on a new connection, in one
// place so that both behave alike:
// * to a data node: AUTH [user] password (the ACL user is sent), SELECT db (async only: the
//   blocking client selects lazily), ROLE when the node was found through Sentinel (a stale
//   Sentinel answer, or a master demoted since, must not receive writes), PING (a LOADING
//   server answers it with an error);
// * to a Sentinel: AUTH with the Sentinel's credentials, SENTINEL get-master-addr-by-name.
// The replies are checked here too, into messages without passwords.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/redis_endpoint.hpp"
#include "core/redis_reply.hpp"

namespace d4::core {

struct RedisHandshake {
  std::string resp;                // the commands, RESP-encoded, to write at once
  std::vector<std::string> names;  // each command's name, for messages
  std::uint32_t commands() const { return static_cast<std::uint32_t>(names.size()); }
};

// To a data node of `e` (at_node() of a Sentinel endpoint keeps the check of ROLE through
// `check_role`). `select_db`: include SELECT of e.db.
RedisHandshake node_handshake(const RedisEndpoint& e, bool select_db, bool check_role);
// To one Sentinel of `e`: [AUTH] SENTINEL get-master-addr-by-name <master>.
RedisHandshake sentinel_query(const RedisEndpoint& e);

// nullopt when every reply is as it should be; otherwise why not (e.g. "AUTH: WRONGPASS ...",
// "ROLE: the node is a replica, not the master").
std::optional<std::string> check_node_handshake(const RedisHandshake& h,
                                                const std::vector<RedisReply>& replies);
// The master's address from the replies of sentinel_query(), or nullopt with *error.
std::optional<RedisNode> master_from_sentinel(const RedisHandshake& h, const std::vector<RedisReply>& replies,
                                              const std::string& master, std::string* error);

}  // namespace d4::core
