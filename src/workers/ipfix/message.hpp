#pragma once
// IPFIX (RFC 7011) message framing over a byte stream: a D4 type-7 session carries the messages
// an exporter such as YAF writes (`yaf --out -`), cut at arbitrary D4 packet boundaries. The
// framer hands out whole messages and keeps only the incomplete tail (at most one message, 64 KiB),
// which is saved in the session progress so that a restarted worker continues mid-message.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "workers/records.hpp"

namespace d4::workers::ipfix {

constexpr std::size_t kMessageHeaderSize = 16;
constexpr std::size_t kSetHeaderSize = 4;
constexpr std::uint16_t kVersion = 10;
constexpr std::uint16_t kTemplateSetId = 2;
constexpr std::uint16_t kOptionsTemplateSetId = 3;
constexpr std::uint16_t kMinDataSetId = 256;

inline std::uint16_t be16(const char* p) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) |
                                    static_cast<unsigned char>(p[1]));
}
inline std::uint32_t be32(const char* p) {
  return (std::uint32_t{be16(p)} << 16) | be16(p + 2);
}
inline void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
inline void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

struct MessageHeader {
  std::uint16_t version = 0;
  std::uint16_t length = 0;
  std::uint32_t export_time = 0;  // seconds since the epoch
  std::uint32_t sequence = 0;
  std::uint32_t domain = 0;  // observation domain id

  static MessageHeader parse(const char* p) {
    return {be16(p), be16(p + 2), be32(p + 4), be32(p + 8), be32(p + 12)};
  }
};

class MessageFramer {
 public:
  // on_message(std::string_view whole_message) per message. Returns false at the first header
  // that is not an IPFIX message header (version 10, length ≥ 16); error() says why. After an
  // error nothing is accepted: without a valid length the stream cannot be resynchronised.
  template <typename OnMessage>
  bool feed(std::string_view data, OnMessage&& on_message);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t buffered() const { return carry_.size(); }
  std::uint64_t messages() const { return messages_; }
  void save(Fields& f, const std::string& prefix) const;
  void load(const Fields& f, const std::string& prefix);

 private:
  // Length of the message whose header starts at p (16 bytes), or 0 with error_ set.
  std::size_t check_header(const char* p);

  std::string carry_;
  std::string error_;
  std::uint64_t messages_ = 0;
};

template <typename OnMessage>
bool MessageFramer::feed(std::string_view data, OnMessage&& on_message) {
  if (failed()) return false;
  std::size_t pos = 0;
  while (pos < data.size()) {
    if (!carry_.empty() || data.size() - pos < kMessageHeaderSize) {
      if (carry_.size() < kMessageHeaderSize) {
        std::size_t take = std::min(kMessageHeaderSize - carry_.size(), data.size() - pos);
        carry_.append(data.substr(pos, take));
        pos += take;
        if (carry_.size() < kMessageHeaderSize) return true;
      }
      std::size_t len = check_header(carry_.data());
      if (len == 0) return false;
      std::size_t take = std::min(len - carry_.size(), data.size() - pos);
      carry_.append(data.substr(pos, take));
      pos += take;
      if (carry_.size() < len) return true;
      ++messages_;
      on_message(std::string_view(carry_));
      carry_.clear();
      continue;
    }
    std::size_t len = check_header(data.data() + pos);
    if (len == 0) return false;
    if (data.size() - pos < len) {
      carry_.assign(data.substr(pos));
      return true;
    }
    ++messages_;
    on_message(data.substr(pos, len));
    pos += len;
  }
  return true;
}

}  // namespace d4::workers::ipfix
