#pragma once
// What an analyzer stored, in a comparable form: every key of a Redis node (SCAN) with its type,
// its value (sorted where Redis does not order it) and whether it expires. The cluster tests
// compare the dumps of every master of a cluster with the dump of one Redis fed the same input.
#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/redis_client.hpp"

namespace d4::test::an {

// A key's value in a comparable form, whatever its type; " (expires)" when it has a TTL.
inline std::string dump_value(d4::core::RedisClient& c, const std::string& key) {
  auto type = c.command({"TYPE", key}).str;
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    std::string s;
    for (const auto& e : v) s += e + "\n";
    return s;
  };
  std::string value = type;
  if (type == "string") {
    value = "string " + c.command({"GET", key}).str;
  } else if (type == "set") {
    value = "set " + sorted(c.command({"SMEMBERS", key}).as_strings());
  } else if (type == "hash") {
    auto kv = c.command({"HGETALL", key}).as_strings();
    std::vector<std::string> pairs;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) pairs.push_back(kv[i] + "=" + kv[i + 1]);
    value = "hash " + sorted(pairs);
  } else if (type == "zset") {
    value = "zset ";
    for (const auto& e : c.command({"ZRANGE", key, "0", "-1", "WITHSCORES"}).as_strings()) value += e + "\n";
  } else if (type == "list") {
    value = "list ";
    for (const auto& e : c.command({"LRANGE", key, "0", "-1"}).as_strings()) value += e + "\n";
  }
  if (c.command({"PTTL", key}).integer > 0) value += " (expires)";
  return value;
}

// Every key of one node for which `keep` holds, into `out` (key -> dump_value).
inline void dump_node(const d4::core::RedisEndpoint& node, std::map<std::string, std::string>& out,
                      const std::function<bool(const std::string&)>& keep) {
  d4::core::RedisClient c(node);
  std::string cursor = "0";
  do {
    auto r = c.command({"SCAN", cursor, "COUNT", "1000"});
    cursor = r.elements.at(0).str;
    for (const auto& k : r.elements.at(1).as_strings())
      if (keep(k)) out[k] = dump_value(c, k);
  } while (cursor != "0");
}

inline d4::core::RedisEndpoint node_endpoint(int port) {
  return d4::core::RedisEndpoint{"127.0.0.1", port, {}, 0, {}};
}

}  // namespace d4::test::an
