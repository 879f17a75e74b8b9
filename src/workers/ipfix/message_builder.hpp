#pragma once
// Writes IPFIX messages field by field (tests, benchmarks, hand-made inputs): the message and set
// lengths are filled in when the set or message is finished.
#include <cstdint>
#include <string>

namespace d4::workers::ipfix {

class MessageBuilder {
 public:
  MessageBuilder(std::uint32_t domain, std::uint32_t export_time, std::uint32_t sequence = 0) {
    u16(10).u16(0).u32(export_time).u32(sequence).u32(domain);
  }
  MessageBuilder& begin_set(std::uint16_t set_id) {
    close_set();
    set_start_ = m_.size();
    return u16(set_id).u16(0);
  }
  MessageBuilder& u8(std::uint8_t v) {
    m_.push_back(static_cast<char>(v));
    return *this;
  }
  MessageBuilder& u16(std::uint16_t v) {
    return u8(static_cast<std::uint8_t>(v >> 8)).u8(static_cast<std::uint8_t>(v & 0xff));
  }
  MessageBuilder& u32(std::uint32_t v) {
    return u16(static_cast<std::uint16_t>(v >> 16)).u16(static_cast<std::uint16_t>(v & 0xffff));
  }
  MessageBuilder& u64(std::uint64_t v) {
    return u32(static_cast<std::uint32_t>(v >> 32)).u32(static_cast<std::uint32_t>(v & 0xffffffffu));
  }
  MessageBuilder& bytes(const std::string& b) {
    m_ += b;
    return *this;
  }
  // A variable-length field: short form below 255 bytes, else 255 and a 16-bit length.
  MessageBuilder& varlen(const std::string& b) {
    if (b.size() < 255)
      u8(static_cast<std::uint8_t>(b.size()));
    else
      u8(255).u16(static_cast<std::uint16_t>(b.size()));
    return bytes(b);
  }
  // A field specifier; pen != 0 sets the enterprise bit.
  MessageBuilder& field(std::uint16_t id, std::uint16_t length, std::uint32_t pen = 0) {
    if (pen == 0) return u16(id).u16(length);
    return u16(static_cast<std::uint16_t>(id | 0x8000)).u16(length).u32(pen);
  }
  std::size_t size() const { return m_.size(); }
  std::string finish() {
    close_set();
    patch(0, m_.size());
    return m_;
  }

 private:
  void close_set() {
    if (set_start_ == std::string::npos) return;
    patch(set_start_, m_.size() - set_start_);
    set_start_ = std::string::npos;
  }
  // Writes `length` into the 16-bit length field that follows the 16-bit id at `at`.
  void patch(std::size_t at, std::size_t length) {
    m_[at + 2] = static_cast<char>((length >> 8) & 0xff);
    m_[at + 3] = static_cast<char>(length & 0xff);
  }
  std::string m_;
  std::size_t set_start_ = std::string::npos;
};

}  // namespace d4::workers::ipfix
