#include "web/models/common.hpp"

#include <cstdlib>
#include <ctime>

namespace d4::web::models {

std::vector<std::pair<std::string, long long>> scored(const core::RedisReply& r) {
  std::vector<std::pair<std::string, long long>> out;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
    out.emplace_back(r.elements[i].str,
                     static_cast<long long>(std::strtod(r.elements[i + 1].str.c_str(), nullptr)));
  return out;
}

std::vector<std::pair<std::string, std::string>> hash_pairs(const core::RedisReply& r) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
    out.emplace_back(r.elements[i].str, r.elements[i + 1].str);
  return out;
}

long long to_ll(const std::string& s) {
  return std::strtoll(s.c_str(), nullptr, 10);
}

std::optional<long long> integer_of(const core::RedisReply& r) {
  if (r.is_nil()) return std::nullopt;
  return to_ll(r.str);
}

std::string today(int days_ago) {
  std::time_t t = std::time(nullptr) - static_cast<std::time_t>(days_ago) * 86400;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
  return buf;
}

std::string iso_day(const std::string& yyyymmdd) {
  if (yyyymmdd.size() != 8) return yyyymmdd;
  return yyyymmdd.substr(0, 4) + "-" + yyyymmdd.substr(4, 2) + "-" + yyyymmdd.substr(6, 2);
}

std::vector<std::string> last_days(int days) {
  std::vector<std::string> out;
  for (int i = days - 1; i >= 0; --i) out.push_back(today(i));
  return out;
}

}  // namespace d4::web::models
