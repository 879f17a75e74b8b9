#pragma once
// D4 encapsulation protocol v1 header: 62 bytes, no padding, integers little-endian on the wire.
//   offset 0  version   u8
//   offset 1  type      u8
//   offset 2  uuid      16 bytes, RFC 4122 textual order
//   offset 18 timestamp u64 LE (Unix seconds)
//   offset 26 hmac      32 bytes HMAC-SHA256 over header-with-zeroed-hmac || payload
//   offset 58 size      u32 LE payload length
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "protocol/uuid.hpp"

namespace d4::protocol {

inline constexpr std::size_t kHeaderSize = 62;
inline constexpr std::size_t kHmacOffset = 26;
inline constexpr std::size_t kHmacSize = 32;
inline constexpr std::size_t kSizeOffset = 58;
inline constexpr std::uint8_t kProtocolVersion = 1;
// The reference server's limit (data_default_size_limit); exactly this size is accepted.
inline constexpr std::uint32_t kDefaultMaxPayload = 1'000'000;

using Hmac = std::array<std::uint8_t, kHmacSize>;

struct Header {
  std::uint8_t version = kProtocolVersion;
  std::uint8_t type = 0;
  Uuid uuid;
  std::uint64_t timestamp = 0;
  Hmac hmac{};
  std::uint32_t size = 0;

  friend bool operator==(const Header&, const Header&) = default;
};

// Byte-order independent little-endian helpers.
inline std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}
inline std::uint64_t load_le64(const std::uint8_t* p) {
  return std::uint64_t{load_le32(p)} | std::uint64_t{load_le32(p + 4)} << 32;
}
inline void store_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void store_le64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void encode_header(const Header& h, std::span<std::uint8_t, kHeaderSize> out);
Header decode_header(std::span<const std::uint8_t, kHeaderSize> in);

}  // namespace d4::protocol
