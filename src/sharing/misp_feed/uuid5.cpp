#include "sharing/misp_feed/uuid5.hpp"

#include <openssl/sha.h>

#include <stdexcept>

#include "protocol/uuid.hpp"

namespace d4::sharing::misp {

std::string uuid5(std::string_view ns, std::string_view name) {
  auto parsed = protocol::Uuid::parse(ns);
  if (!parsed) throw std::invalid_argument("uuid5: namespace is not a UUID: " + std::string(ns));
  std::string input(reinterpret_cast<const char*>(parsed->bytes().data()), parsed->bytes().size());
  input.append(name);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  protocol::Uuid::Bytes b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = digest[i];
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x50);  // version 5
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return protocol::Uuid(b).dashed();
}

}  // namespace d4::sharing::misp
