#pragma once
// Helpers shared by the read models (one file per resource in src/web/models/): each model reads
// Redis into a typed view (a struct) that the pages render and the API serialises with to_json,
// so both show the same data and a misspelt field does not compile.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/redis_reply.hpp"

// to_json of a view whose JSON keys are its fields' names: NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE
// without the from_json that views do not need (nlohmann-json 3.12 calls it
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_ONLY_SERIALIZE). Place it in the view's namespace.
#define D4_VIEW_TO_JSON(Type, ...)                                                    \
  inline void to_json(nlohmann::json& nlohmann_json_j, const Type& nlohmann_json_t) { \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))          \
  }

// An empty std::optional is null in JSON.
namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& v) {
    if (v)
      j = *v;
    else
      j = nullptr;
  }
  static void from_json(const json& j, std::optional<T>& v) {
    if (j.is_null())
      v.reset();
    else
      v = j.template get<T>();
  }
};
}  // namespace nlohmann

namespace d4::web::models {

using json = nlohmann::json;

// A page of a list: the items of page `page` (from 1) of `per_page`, and the size of the list.
template <typename T>
struct Page {
  long long total = 0;
  long long page = 1;
  long long per_page = 50;
  std::vector<T> items;
};

// The page `page` of `all`, with page >= 1 and per_page in 1..1000.
template <typename T>
Page<T> page_of(std::vector<T> all, long long page, long long per_page) {
  Page<T> p;
  p.per_page = std::clamp<long long>(per_page, 1, 1000);
  p.page = std::max<long long>(page, 1);
  p.total = static_cast<long long>(all.size());
  for (long long i = (p.page - 1) * p.per_page; i < p.total && i < p.page * p.per_page; ++i)
    p.items.push_back(std::move(all[static_cast<std::size_t>(i)]));
  return p;
}

template <typename T>
void to_json(json& j, const Page<T>& p) {
  j = {{"total", p.total}, {"page", p.page}, {"per_page", p.per_page}, {"items", p.items}};
}

// The member -> score pairs of a WITHSCORES reply (integer scores written by ZINCRBY).
std::vector<std::pair<std::string, long long>> scored(const core::RedisReply& r);
// The field -> value pairs of an HGETALL reply.
std::vector<std::pair<std::string, std::string>> hash_pairs(const core::RedisReply& r);
// The decimal integer at the start of `s` (0 when there is none).
long long to_ll(const std::string& s);
// The integer of a string reply, empty for nil.
std::optional<long long> integer_of(const core::RedisReply& r);

std::string today(int days_ago = 0);               // YYYYMMDD, server local time (like the reference)
std::string iso_day(const std::string& yyyymmdd);  // YYYY-MM-DD
// The last `days` days (YYYYMMDD), oldest first.
std::vector<std::string> last_days(int days);

}  // namespace d4::web::models
