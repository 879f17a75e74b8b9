#pragma once
// Hex and Base64 (RFC 4648 standard alphabet, padded) text encodings, one copy for the whole
// project. They live in the protocol library because the sensor client (which links nothing else)
// base64-encodes the files of its folder source; Base64 goes through OpenSSL's EVP block coder.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace d4::protocol {

// Lower-case (or upper-case) hex digits of `bytes`, appended to `out`.
void append_hex(std::string& out, std::span<const std::uint8_t> bytes, bool upper = false);
std::string hex(std::span<const std::uint8_t> bytes, bool upper = false);

// Base64 of `bytes` with '=' padding, no line breaks.
void append_base64(std::string& out, std::span<const std::uint8_t> bytes);
std::string base64_encode(std::span<const std::uint8_t> bytes);
std::string base64_encode(std::string_view bytes);

// The bytes of Base64 `text`, nullopt when it is not Base64. Lenient where encoders in the wild
// differ: line breaks (CR, LF) anywhere and trailing spaces are ignored, and the '=' padding may be
// left out; a character outside the alphabet, '=' before the last two places or a length that no
// encoder produces (4n + 1 characters) is refused.
std::optional<std::string> base64_decode(std::string_view text);
std::optional<std::vector<std::uint8_t>> base64_decode_bytes(std::string_view text);

}  // namespace d4::protocol
