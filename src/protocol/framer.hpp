#pragma once
// Incremental D4 stream framer: takes bytes in any split (one byte at a time, many packets per
// buffer, one packet across many reads), reassembles packets in linear time, and validates each
// header before its payload is buffered. The first error is sticky: a stream is never
// resynchronised silently, the owner decides (the server closes the connection).
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/header.hpp"
#include "protocol/hmac.hpp"

namespace d4::protocol {

enum class FrameError : std::uint8_t {
  None = 0,
  BadVersion,    // version byte not accepted
  UnknownType,   // type not in the accepted set
  InvalidUuid,   // UUID is not an RFC 4122 version 4 UUID
  Oversized,     // declared payload size above the configured maximum
  HmacMismatch,  // MAC does not verify with the configured key
  Truncated,     // end of stream inside a packet (reported by finish())
};

std::string_view to_string(FrameError e);

struct FramerOptions {
  std::uint32_t max_payload = kDefaultMaxPayload;
  // Accepted version bytes; the reference does not check the version, every client sends 1.
  std::bitset<256> accepted_versions = std::bitset<256>().set(kProtocolVersion);
  // Accepted types; by default every assigned type (1..8, 254).
  std::bitset<256> accepted_types = default_types();
  bool require_v4_uuid = true;

  static std::bitset<256> default_types();
  static std::bitset<256> any_version() { return std::bitset<256>().set(); }
};

struct Packet {
  Header header;
  std::span<const std::uint8_t> raw;      // header + payload, as received
  std::span<const std::uint8_t> payload;  // raw.subspan(kHeaderSize)
};

class Framer {
 public:
  enum class Status { NeedMore, Ready, Error };

  explicit Framer(FramerOptions options = {});

  // Zero-copy input: write up to the returned span's size into it, then commit(n).
  std::span<std::uint8_t> prepare(std::size_t at_least);
  void commit(std::size_t n);
  // Convenience: prepare + copy + commit.
  void feed(std::span<const std::uint8_t> data);

  // Produces the next complete, valid packet. The spans in `out` stay valid until the next call
  // to prepare/feed/next. Returns NeedMore when more bytes are needed, Error once a packet fails
  // validation (and from then on).
  Status next(Packet& out);

  // The header of the packet being assembled, once its 62 bytes have arrived and passed
  // validation (lets the owner apply policy before the payload is complete).
  const Header* pending_header() const { return have_header_ ? &pending_ : nullptr; }

  // When a key is set every packet's HMAC is verified and a mismatch is an error.
  void set_key(std::optional<HmacKey> key) { key_ = std::move(key); }

  // At end of stream: reports Truncated if a partial packet is buffered.
  FrameError finish();

  FrameError error() const { return error_; }
  const std::string& error_detail() const { return detail_; }
  std::size_t buffered() const { return end_ - begin_; }
  std::size_t capacity() const { return buf_.size(); }  // bytes allocated for the buffer
  std::uint64_t packets() const { return packets_; }
  std::uint64_t bytes_consumed() const { return consumed_; }
  const FramerOptions& options() const { return options_; }
  FramerOptions& options() { return options_; }

 private:
  Status fail(FrameError e, std::string detail);
  std::size_t grown_size(std::size_t needed) const;
  bool validate_header();

  FramerOptions options_;
  std::optional<HmacKey> key_;
  std::vector<std::uint8_t> buf_;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last committed byte
  std::size_t consume_on_next_ = 0;
  bool have_header_ = false;
  Header pending_;
  FrameError error_ = FrameError::None;
  std::string detail_;
  std::uint64_t packets_ = 0;
  std::uint64_t consumed_ = 0;
};

}  // namespace d4::protocol
