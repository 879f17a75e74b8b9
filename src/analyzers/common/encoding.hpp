#pragma once
// Hex and Base64 (standard alphabet, padded) encoders shared by the analyzers.
#include <cstdint>
#include <span>
#include <string>

namespace d4::analyzers {

inline void append_hex(std::string& out, std::span<const std::uint8_t> bytes, bool upper = false) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
}

inline void append_base64(std::string& out, std::span<const std::uint8_t> b) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    std::uint32_t v =
        static_cast<std::uint32_t>(b[i]) << 16 | static_cast<std::uint32_t>(b[i + 1]) << 8 | b[i + 2];
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (std::size_t rest = b.size() - i) {
    std::uint32_t v =
        static_cast<std::uint32_t>(b[i]) << 16 | (rest == 2 ? static_cast<std::uint32_t>(b[i + 1]) << 8 : 0);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += rest == 2 ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
}

}  // namespace d4::analyzers
