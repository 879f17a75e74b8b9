#pragma once
// Redis Cluster routing shared by the blocking and the asynchronous clients
// (docs/configuration.md, "Redis endpoints"; the protocol is Redis's cluster specification):
// * a key's hash slot: CRC16 (XMODEM) of the key, or of its {hash tag}, mod 16384;
// * the keys of a command (from its name: most commands take one key first, a few take several
//   or say how many);
// * routing groups: every command alone, except MULTI ... EXEC (with a WATCH just before it),
//   which goes whole to one node, and WAIT, which goes with the command before it; a command or transaction
//   whose keys span slots is refused here, before anything is sent;
// * the slot map read from CLUSTER SLOTS, and the MOVED / ASK redirections in replies.
// The clients own the connections; this file holds no I/O.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/redis_endpoint.hpp"
#include "core/redis_reply.hpp"

namespace d4::core {

inline constexpr int kClusterSlots = 16384;

// The slot of `key`: of the part between the first '{' and the next '}' when that part is not
// empty, else of the whole key.
int cluster_key_slot(std::string_view key);

// A short hash tag (decimal digits) whose slot is `slot`: "{<tag>}" in a key name puts the key in
// that slot. For bookkeeping that must sit next to keys whose names are fixed (a marker written
// by the same script as the keys of one slot). The table is built once, on first use.
const std::string& cluster_slot_tag(int slot);

// The keys of one command (args[0] is its name, any case). Commands without keys (PING, INFO,
// MULTI, EXEC, SCRIPT, CLUSTER...) have none and may go to any node.
std::vector<std::string_view> cluster_command_keys(const std::vector<std::string_view>& args);

// SCRIPT LOAD and SCRIPT FLUSH: a script cache is per node and these name no key, so the clients
// send them to every master (in request order on each) and EVALSHA finds the script whichever
// master runs it. The reply is the first master's, or the first error.
bool cluster_command_to_every_master(const std::vector<std::string_view>& args);

// A run of consecutive commands that must reach one node together. slot -1: no key (any node).
struct ClusterGroup {
  std::size_t first = 0;
  std::size_t count = 1;
  int slot = -1;
};

// The routing groups of a request; nullopt with *error ("CROSSSLOT ...", naming the first two keys
// of different slots) when one command or one transaction touches keys of several slots.
std::optional<std::vector<ClusterGroup>> cluster_groups(
    const std::vector<std::vector<std::string_view>>& commands, std::string* error);

// MOVED <slot> <host:port> (the slot has a new owner: update the map) or ASK <slot> <host:port>
// (being migrated: ASKING then the command on that node, once, map unchanged).
struct ClusterRedirect {
  bool ask = false;
  int slot = 0;
  RedisNode node;
};
std::optional<ClusterRedirect> cluster_redirect(const RedisReply& reply);
// TRYAGAIN (a multi-key command during a migration) or CLUSTERDOWN: not executed, retry later
// (CLUSTERDOWN also after reading the map again).
bool cluster_retry_later(const RedisReply& reply);
// The first redirection or retry-later error among `replies` (a transaction's queued commands
// included: their EXEC then fails whole), or nullptr.
const RedisReply* cluster_first_unexecuted(const RedisReply* replies, std::size_t n);

// Which master serves each slot.
class ClusterSlotMap {
 public:
  // From a CLUSTER SLOTS reply given by `asked` (a node shown without an address is that one).
  static std::optional<ClusterSlotMap> from_cluster_slots(const RedisReply& reply, const RedisNode& asked,
                                                          std::string* error);
  const RedisNode* owner(int slot) const;           // nullptr: no node serves it
  void move_slot(int slot, const RedisNode& node);  // after MOVED
  const std::vector<RedisNode>& masters() const { return masters_; }

 private:
  std::vector<RedisNode> masters_;
  std::array<std::int16_t, kClusterSlots> owner_{};  // index in masters_, -1: none
};

// One RESP-encoded command of a request (as written by protocol::RespWriter): its arguments
// (views into the request) and where its bytes are.
struct RespCommandView {
  std::vector<std::string_view> args;
  std::size_t offset = 0, length = 0;
};
// nullopt when `resp` is not a sequence of arrays of bulk strings.
std::optional<std::vector<RespCommandView>> parse_resp_commands(std::string_view resp);

std::string cluster_node_name(const RedisNode& node);  // "host:port", "[v6]:port"

}  // namespace d4::core
