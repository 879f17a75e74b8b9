#pragma once
// Sensor UUIDs: 16 raw bytes in RFC 4122 (textual) order, as carried in the D4 header.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace d4::protocol {

class Uuid {
 public:
  using Bytes = std::array<std::uint8_t, 16>;

  constexpr Uuid() = default;
  constexpr explicit Uuid(const Bytes& bytes) : bytes_(bytes) {}

  // Accepts the canonical dashed form (8-4-4-4-12) and the 32-hex-digit dashless form, in either
  // case, with optional surrounding braces or whitespace. Returns nullopt for anything else.
  static std::optional<Uuid> parse(std::string_view text);
  // A random version-4, RFC 4122 variant UUID from the OpenSSL CSPRNG.
  static Uuid generate_v4();

  const Bytes& bytes() const { return bytes_; }
  std::string dashed() const;    // 8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01
  std::string dashless() const;  // 8bd5b2b23c8a4a399a5e1a4f1f2b7c01 (the sensor id used in Redis and paths)

  // The server's rule: version nibble 4 and variant 10xx (hex digit 16 in {8,9,a,b}).
  bool is_v4() const { return (bytes_[6] >> 4) == 4 && (bytes_[8] & 0xC0) == 0x80; }
  bool is_nil() const;

  friend bool operator==(const Uuid&, const Uuid&) = default;
  friend auto operator<=>(const Uuid&, const Uuid&) = default;

 private:
  Bytes bytes_{};
};

// Normalises a textual UUID to the dashless lowercase form; nullopt if it is not a UUID.
std::optional<std::string> normalize_uuid(std::string_view text);

}  // namespace d4::protocol

template <>
struct std::hash<d4::protocol::Uuid> {
  std::size_t operator()(const d4::protocol::Uuid& u) const noexcept {
    std::size_t h = 0;
    for (auto b : u.bytes()) h = h * 131 + b;
    return h;
  }
};
