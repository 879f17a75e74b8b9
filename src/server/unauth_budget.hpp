#pragma once
// The budget of bytes held for connections whose sensor has not authenticated yet: what they sent
// of their first packet and that waits in their buffers. Anyone can open such connections, so the
// total over the process and the share of one peer are both capped (settings
// unauthenticated_bytes_max and unauthenticated_bytes_per_ip); a connection that would go over
// is closed, and counted with the reject reason of the limit that bit.
//
// Shared by every worker thread (a mutex: only reads of unauthenticated connections touch it).
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/ipnet.hpp"

namespace d4::server {

class UnauthenticatedBudget {
 public:
  struct Limits {
    std::size_t total = 0;   // over the process
    std::size_t per_ip = 0;  // per peer address (IPv6: per /64)
  };
  enum class Bite { None, Total, PerIp };

  // One connection's share. Move-only; gives its bytes back when reset or destroyed.
  class Hold {
   public:
    Hold() = default;
    Hold(Hold&& o) noexcept;
    Hold& operator=(Hold&& o) noexcept;
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() { reset(); }

    // Bytes this connection may still receive under `limits`, and which limit bounds it when
    // that is 0.
    std::size_t room(const Limits& limits, Bite* bite) const;
    // Records that the connection now holds `bytes` (its buffered, unauthenticated input).
    void set(std::size_t bytes);
    // Gives everything back (the sensor authenticated or the connection closed).
    void reset();
    std::size_t held() const { return held_; }

   private:
    friend class UnauthenticatedBudget;
    Hold(UnauthenticatedBudget* budget, std::string key) : budget_(budget), key_(std::move(key)) {}
    UnauthenticatedBudget* budget_ = nullptr;
    std::string key_;
    std::size_t held_ = 0;
  };

  Hold hold(const core::IpAddress& peer);
  std::size_t total() const;
  std::size_t peers() const;  // peers holding bytes now

 private:
  void change(const std::string& key, std::size_t from, std::size_t to);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> per_ip_;
  std::size_t total_ = 0;
};

}  // namespace d4::server
