#include "protocol/uuid.hpp"
#include "protocol/text.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace d4::protocol {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

std::optional<Uuid> Uuid::parse(std::string_view text) {
  text = text::trim(text);
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}') text = text.substr(1, text.size() - 2);
  Bytes out{};
  if (text.size() == 32) {
    for (std::size_t i = 0; i < 16; ++i) {
      int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return Uuid(out);
  }
  if (text.size() == 36) {
    std::size_t byte = 0;
    for (std::size_t i = 0; i < 36;) {
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        if (text[i] != '-') return std::nullopt;
        ++i;
        continue;
      }
      int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out[byte++] = static_cast<std::uint8_t>(hi << 4 | lo);
      i += 2;
    }
    return Uuid(out);
  }
  return std::nullopt;
}

Uuid Uuid::generate_v4() {
  Bytes b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);
  return Uuid(b);
}

std::string Uuid::dashless() const {
  std::string s(32, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    s[2 * i] = kHex[bytes_[i] >> 4];
    s[2 * i + 1] = kHex[bytes_[i] & 0xF];
  }
  return s;
}

std::string Uuid::dashed() const {
  std::string d = dashless();
  return d.substr(0, 8) + '-' + d.substr(8, 4) + '-' + d.substr(12, 4) + '-' + d.substr(16, 4) + '-' +
         d.substr(20);
}

bool Uuid::is_nil() const {
  for (auto b : bytes_)
    if (b) return false;
  return true;
}

std::optional<std::string> normalize_uuid(std::string_view text) {
  auto u = Uuid::parse(text);
  if (!u) return std::nullopt;
  return u->dashless();
}

}  // namespace d4::protocol
