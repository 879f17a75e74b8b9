#include "protocol/encoding.hpp"

#include <openssl/evp.h>

#include <algorithm>

namespace d4::protocol {

void append_hex(std::string& out, std::span<const std::uint8_t> bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  out.reserve(out.size() + bytes.size() * 2);
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
}

std::string hex(std::span<const std::uint8_t> bytes, bool upper) {
  std::string out;
  append_hex(out, bytes, upper);
  return out;
}

void append_base64(std::string& out, std::span<const std::uint8_t> bytes) {
  const std::size_t at = out.size();
  out.resize(at + 4 * ((bytes.size() + 2) / 3) + 1);  // EVP_EncodeBlock writes a final NUL
  // EVP_EncodeBlock takes an int length: encode in blocks that fit one (a multiple of 3 bytes).
  constexpr std::size_t kBlock = 3u << 28;
  std::size_t written = at;
  for (std::size_t pos = 0; pos < bytes.size(); pos += kBlock) {
    std::size_t n = std::min(kBlock, bytes.size() - pos);
    int w = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written), bytes.data() + pos,
                            static_cast<int>(n));
    written += static_cast<std::size_t>(w);
  }
  out.resize(written);
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  append_base64(out, bytes);
  return out;
}

std::string base64_encode(std::string_view bytes) {
  return base64_encode(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string clean;
  clean.reserve(text.size() + 2);
  for (char c : text)
    if (c != '\r' && c != '\n') clean += c;
  while (!clean.empty() && clean.back() == ' ') clean.pop_back();
  if (clean.size() % 4 == 1) return std::nullopt;
  while (clean.size() % 4 != 0) clean += '=';
  // EVP_DecodeBlock decodes '=' as zero bits wherever it stands: allow it in the last two places only.
  auto first_pad = clean.find('=');
  if (first_pad != std::string::npos && (first_pad + 2 < clean.size() || clean.back() != '='))
    return std::nullopt;
  std::size_t pad = first_pad == std::string::npos ? 0 : clean.size() - first_pad;
  if (clean.size() > static_cast<std::size_t>(INT32_MAX)) return std::nullopt;
  std::string out(clean.size() / 4 * 3, '\0');
  int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0 || static_cast<std::size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - pad);  // the padding decoded as zero bytes
  return out;
}

std::optional<std::vector<std::uint8_t>> base64_decode_bytes(std::string_view text) {
  auto s = base64_decode(text);
  if (!s) return std::nullopt;
  return std::vector<std::uint8_t>(s->begin(), s->end());
}

}  // namespace d4::protocol
