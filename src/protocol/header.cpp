#include "protocol/header.hpp"

#include <cstring>

namespace d4::protocol {

void encode_header(const Header& h, std::span<std::uint8_t, kHeaderSize> out) {
  std::uint8_t* p = out.data();
  p[0] = h.version;
  p[1] = h.type;
  std::memcpy(p + 2, h.uuid.bytes().data(), 16);
  store_le64(p + 18, h.timestamp);
  std::memcpy(p + kHmacOffset, h.hmac.data(), kHmacSize);
  store_le32(p + kSizeOffset, h.size);
}

Header decode_header(std::span<const std::uint8_t, kHeaderSize> in) {
  const std::uint8_t* p = in.data();
  Header h;
  h.version = p[0];
  h.type = p[1];
  Uuid::Bytes u{};
  std::memcpy(u.data(), p + 2, 16);
  h.uuid = Uuid(u);
  h.timestamp = load_le64(p + 18);
  std::memcpy(h.hmac.data(), p + kHmacOffset, kHmacSize);
  h.size = load_le32(p + kSizeOffset);
  return h;
}

}  // namespace d4::protocol
