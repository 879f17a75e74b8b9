#pragma once
// Message digests as lower-case hex, one copy for the project (OpenSSL EVP): SHA-1 and SHA-256 name
// certificates, archived files and Lua scripts; MD5 is what JA3 and MISP feed manifests specify.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace d4::core {

std::string sha1_hex(std::string_view data);
std::string sha1_hex(std::span<const std::uint8_t> data);
std::string sha256_hex(std::string_view data);
std::string sha256_hex(std::span<const std::uint8_t> data);
std::string md5_hex(std::string_view data);

}  // namespace d4::core
