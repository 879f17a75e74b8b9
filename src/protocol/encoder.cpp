#include "protocol/encoder.hpp"

#include <chrono>
#include <cstring>

#include "protocol/clock.hpp"

namespace d4::protocol {

PacketEncoder::PacketEncoder(std::uint8_t version, std::uint8_t type, const Uuid& uuid, std::string_view key)
    : version_(version), type_(type), uuid_(uuid), key_(key) {}

void PacketEncoder::encode_header(std::span<std::uint8_t, kHeaderSize> header,
                                  std::span<const std::uint8_t> payload, std::uint64_t timestamp) const {
  Header h;
  h.version = version_;
  h.type = type_;
  h.uuid = uuid_;
  h.timestamp = timestamp;
  h.size = static_cast<std::uint32_t>(payload.size());
  protocol::encode_header(h, header);
  key_.sign(header, payload);
}

void PacketEncoder::append_packet(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> payload,
                                  std::uint64_t timestamp) const {
  std::size_t at = out.size();
  out.resize(at + kHeaderSize + payload.size());
  if (!payload.empty()) std::memcpy(out.data() + at + kHeaderSize, payload.data(), payload.size());
  encode_header(std::span<std::uint8_t, kHeaderSize>(out.data() + at, kHeaderSize), payload, timestamp);
}

std::uint64_t unix_seconds() {
  return static_cast<std::uint64_t>(clock::unix_seconds());
}

}  // namespace d4::protocol
