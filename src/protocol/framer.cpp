#include "protocol/framer.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "protocol/types.hpp"

namespace d4::protocol {

std::string_view to_string(FrameError e) {
  switch (e) {
    case FrameError::None:
      return "none";
    case FrameError::BadVersion:
      return "bad_version";
    case FrameError::UnknownType:
      return "unknown_type";
    case FrameError::InvalidUuid:
      return "invalid_uuid";
    case FrameError::Oversized:
      return "oversized";
    case FrameError::HmacMismatch:
      return "hmac_mismatch";
    case FrameError::Truncated:
      return "truncated";
  }
  return "unknown";
}

std::bitset<256> FramerOptions::default_types() {
  std::bitset<256> b;
  for (int t = 0; t < 256; ++t)
    if (is_assigned_type(static_cast<std::uint8_t>(t))) b.set(static_cast<std::size_t>(t));
  return b;
}

Framer::Framer(FramerOptions options) : options_(std::move(options)) {}

// The buffer grows with the bytes that arrived, never to a size a header merely declares (62
// bytes must not commit a megabyte), doubling so that each byte is moved O(1) times on average,
// and never beyond the packet being assembled once its size is known.
std::size_t Framer::grown_size(std::size_t needed) const {
  std::size_t doubled = std::max(needed, buf_.size() * 2);
  if (!have_header_) return doubled;
  std::size_t packet_end = kHeaderSize + std::size_t{pending_.size};
  return std::max(needed, std::min(doubled, packet_end));
}

std::span<std::uint8_t> Framer::prepare(std::size_t at_least) {
  // Release the packet handed out by the previous next() before making room.
  if (consume_on_next_) {
    begin_ += consume_on_next_;
    consume_on_next_ = 0;
  }
  if (begin_ == end_) begin_ = end_ = 0;
  if (buf_.size() - end_ < at_least) {
    // Compact first: live bytes are at most one partial packet.
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < at_least) buf_.resize(grown_size(end_ + at_least));
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void Framer::commit(std::size_t n) {
  end_ = std::min(end_ + n, buf_.size());
}

void Framer::feed(std::span<const std::uint8_t> data) {
  if (data.empty()) return;
  auto dst = prepare(data.size());
  std::memcpy(dst.data(), data.data(), data.size());
  commit(data.size());
}

Framer::Status Framer::fail(FrameError e, std::string detail) {
  error_ = e;
  detail_ = std::move(detail);
  return Status::Error;
}

bool Framer::validate_header() {
  const std::uint8_t* p = buf_.data() + begin_;
  pending_ = decode_header(std::span<const std::uint8_t, kHeaderSize>(p, kHeaderSize));
  if (!options_.accepted_versions.test(pending_.version)) {
    fail(FrameError::BadVersion, "version " + std::to_string(pending_.version) + " is not accepted");
    return false;
  }
  if (!options_.accepted_types.test(pending_.type)) {
    fail(FrameError::UnknownType, "type " + std::to_string(pending_.type) + " is not accepted");
    return false;
  }
  if (options_.require_v4_uuid && !pending_.uuid.is_v4()) {
    fail(FrameError::InvalidUuid, "uuid " + pending_.uuid.dashed() + " is not a version 4 UUID");
    return false;
  }
  if (pending_.size > options_.max_payload) {
    fail(FrameError::Oversized, "payload size " + std::to_string(pending_.size) + " exceeds the limit of " +
                                    std::to_string(options_.max_payload));
    return false;
  }
  have_header_ = true;
  return true;
}

Framer::Status Framer::next(Packet& out) {
  if (error_ != FrameError::None) return Status::Error;
  if (consume_on_next_) {
    begin_ += consume_on_next_;
    consume_on_next_ = 0;
  }
  std::size_t avail = end_ - begin_;
  if (!have_header_) {
    if (avail < kHeaderSize) return Status::NeedMore;
    if (!validate_header()) return Status::Error;
  }
  std::size_t total = kHeaderSize + std::size_t{pending_.size};
  if (avail < total) return Status::NeedMore;
  const std::uint8_t* p = buf_.data() + begin_;
  out.header = pending_;
  out.raw = {p, total};
  out.payload = {p + kHeaderSize, pending_.size};
  if (key_ && !key_->verify(std::span<const std::uint8_t, kHeaderSize>(p, kHeaderSize), out.payload))
    return fail(FrameError::HmacMismatch,
                "HMAC of packet " + std::to_string(packets_ + 1) + " does not verify");
  have_header_ = false;
  consume_on_next_ = total;
  ++packets_;
  consumed_ += total;
  return Status::Ready;
}

FrameError Framer::finish() {
  if (error_ != FrameError::None) return error_;
  std::size_t avail = end_ - begin_ - consume_on_next_;
  if (avail > 0) {
    fail(FrameError::Truncated, std::to_string(avail) + " bytes of an incomplete packet at end of stream");
    return error_;
  }
  return FrameError::None;
}

}  // namespace d4::protocol
