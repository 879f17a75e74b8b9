#include "core/digest.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include "protocol/encoding.hpp"

namespace d4::core {
namespace {

std::string evp_digest_hex(const EVP_MD* md, const void* data, std::size_t size) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data, size, out, &n, md, nullptr) != 1)
    throw std::runtime_error(std::string("digest failed: ") + EVP_MD_get0_name(md));
  return protocol::hex({out, n});
}

}  // namespace

std::string sha1_hex(std::string_view data) {
  return evp_digest_hex(EVP_sha1(), data.data(), data.size());
}
std::string sha1_hex(std::span<const std::uint8_t> data) {
  return evp_digest_hex(EVP_sha1(), data.data(), data.size());
}
std::string sha256_hex(std::string_view data) {
  return evp_digest_hex(EVP_sha256(), data.data(), data.size());
}
std::string sha256_hex(std::span<const std::uint8_t> data) {
  return evp_digest_hex(EVP_sha256(), data.data(), data.size());
}
std::string md5_hex(std::string_view data) {
  return evp_digest_hex(EVP_md5(), data.data(), data.size());
}

}  // namespace d4::core
