#pragma once
// Connection counting across threads (global and per peer IP), taken at accept time before a
// connection costs anything else and released when its session ends.
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/metrics.hpp"

namespace d4::server {

class ConnectionLimiter {
 public:
  std::optional<Reject> try_acquire(const std::string& ip, std::size_t max_total, std::size_t max_per_ip);
  void release(const std::string& ip);
  // Moves one connection from `from` to `to` (behind a load balancer, the sensor's address is
  // known once its PROXY header is read), refused when `to` is at max_per_ip: `from` keeps it then.
  std::optional<Reject> transfer(const std::string& from, const std::string& to, std::size_t max_per_ip);
  std::size_t total() const;
  std::uint64_t released() const;  // connections closed since start

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> per_ip_;
  std::size_t total_ = 0;
  std::uint64_t released_ = 0;
};

// The reject's detail for the operator.
std::string connection_limit_detail(Reject reason, std::size_t max_total, std::size_t max_per_ip);

}  // namespace d4::server
