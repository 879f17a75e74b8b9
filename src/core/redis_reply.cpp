#include "core/redis_reply.hpp"

#include <hiredis/hiredis.h>

#include <charconv>

namespace d4::core {

std::optional<long long> RedisReply::as_integer() const {
  if (type == Type::Integer) return integer;
  if (type == Type::String || type == Type::Status) {
    long long v = 0;
    auto [p, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
    if (ec == std::errc() && p == str.data() + str.size()) return v;
  }
  return std::nullopt;
}

std::optional<std::string> RedisReply::as_string() const {
  switch (type) {
    case Type::String:
    case Type::Status:
    case Type::Error:
      return str;
    case Type::Integer:
      return std::to_string(integer);
    default:
      return std::nullopt;
  }
}

std::vector<std::string> RedisReply::as_strings() const {
  std::vector<std::string> out;
  out.reserve(elements.size());
  for (const auto& e : elements) out.push_back(e.as_string().value_or(""));
  return out;
}

std::string RedisReply::describe() const {
  switch (type) {
    case Type::String:
      return "\"" + str + "\"";
    case Type::Status:
      return str;
    case Type::Error:
      return "(error) " + str;
    case Type::Integer:
      return "(integer) " + std::to_string(integer);
    case Type::Nil:
      return "(nil)";
    case Type::Array:
      return "(array of " + std::to_string(elements.size()) + ")";
  }
  return "?";
}

RedisReply from_hiredis(const redisReply* r) {
  RedisReply out;
  if (!r) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::String;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::Status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::Error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::Integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::Array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(from_hiredis(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::Nil;
      break;
  }
  return out;
}

}  // namespace d4::core
