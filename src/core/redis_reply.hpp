#pragma once
// A Redis reply as a plain value, shared by the blocking client (hiredis redisContext) and the
// asynchronous pipelined client (hiredis redisReader on Boost.Asio).
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisReply;

namespace d4::core {

struct RedisReply {
  enum class Type { String, Array, Integer, Nil, Status, Error };
  Type type = Type::Nil;
  std::string str;  // String, Status, Error
  long long integer = 0;
  std::vector<RedisReply> elements;

  bool is_nil() const { return type == Type::Nil; }
  bool is_error() const { return type == Type::Error; }
  bool is_string() const { return type == Type::String || type == Type::Status; }
  // The integer of an Integer reply, or of a String reply holding a decimal number.
  std::optional<long long> as_integer() const;
  // String content, or nullopt for Nil.
  std::optional<std::string> as_string() const;
  // Elements of an array of strings (Nil elements become empty strings).
  std::vector<std::string> as_strings() const;
  std::string describe() const;  // for logs and error messages
};

RedisReply from_hiredis(const redisReply* r);

class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace d4::core
