#include "server/connection_limiter.hpp"

#include <string>

namespace d4::server {

std::optional<Reject> ConnectionLimiter::try_acquire(const std::string& ip, std::size_t max_total,
                                                     std::size_t max_per_ip) {
  std::lock_guard lock(mutex_);
  if (total_ >= max_total) return Reject::connection_limit;
  auto& n = per_ip_[ip];
  if (max_per_ip && n >= max_per_ip) {
    if (n == 0) per_ip_.erase(ip);
    return Reject::connection_limit_ip;
  }
  ++n;
  ++total_;
  return std::nullopt;
}

std::optional<Reject> ConnectionLimiter::transfer(const std::string& from, const std::string& to,
                                                  std::size_t max_per_ip) {
  if (from == to) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto& n = per_ip_[to];
  if (max_per_ip && n >= max_per_ip) return Reject::connection_limit_ip;
  ++n;
  auto it = per_ip_.find(from);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  return std::nullopt;
}

std::string connection_limit_detail(Reject reason, std::size_t max_total, std::size_t max_per_ip) {
  return reason == Reject::connection_limit
             ? "server at max_connections (" + std::to_string(max_total) + ")"
             : "peer at max_connections_per_ip (" + std::to_string(max_per_ip) + ")";
}

void ConnectionLimiter::release(const std::string& ip) {
  std::lock_guard lock(mutex_);
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  if (total_) --total_;
  ++released_;
}

std::uint64_t ConnectionLimiter::released() const {
  std::lock_guard lock(mutex_);
  return released_;
}

std::size_t ConnectionLimiter::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace d4::server
