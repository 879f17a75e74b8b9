#pragma once
// Builds D4 packets for one sensor: fixed version, type, UUID and key; per-packet timestamp.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "protocol/header.hpp"
#include "protocol/hmac.hpp"

namespace d4::protocol {

class PacketEncoder {
 public:
  PacketEncoder(std::uint8_t version, std::uint8_t type, const Uuid& uuid, std::string_view key);

  void set_type(std::uint8_t type) { type_ = type; }
  std::uint8_t type() const { return type_; }
  const Uuid& uuid() const { return uuid_; }

  // Writes the signed header for `payload` into `header`.
  void encode_header(std::span<std::uint8_t, kHeaderSize> header, std::span<const std::uint8_t> payload,
                     std::uint64_t timestamp) const;
  // Appends header + payload to `out`.
  void append_packet(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> payload,
                     std::uint64_t timestamp) const;

 private:
  std::uint8_t version_;
  std::uint8_t type_;
  Uuid uuid_;
  HmacKey key_;
};

// Unix time in seconds, as clients put in the header.
std::uint64_t unix_seconds();

}  // namespace d4::protocol
