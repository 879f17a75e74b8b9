#include "client/chunker.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "client/log.hpp"
#include "client/spool.hpp"
#include "protocol/header.hpp"
#include "protocol/types.hpp"

namespace d4::client {
namespace {
constexpr std::size_t kPcapGlobalHeader = 24;
constexpr std::size_t kPcapRecordHeader = 16;
constexpr std::uint32_t kMaxPcapRecord = 1u << 20;
}  // namespace

Chunker::Mode Chunker::mode_for_type(std::uint8_t type) {
  if (type == 1) return Mode::Pcap;
  if (protocol::is_line_type(type)) return Mode::Lines;
  return Mode::Raw;
}

Chunker::Chunker(Mode mode, std::uint32_t snaplen, Emit emit)
    : mode_(mode), snaplen_(snaplen), emit_(std::move(emit)) {
  // A pcap record header must fit in one payload for the record parser to work.
  if (mode_ == Mode::Pcap && snaplen_ < 64) mode_ = Mode::Raw;
  buf_.resize(std::max<std::size_t>(2 * snaplen_, 65536));
}

std::span<std::uint8_t> Chunker::prepare(std::size_t max) {
  if (begin_ == end_) begin_ = end_ = 0;
  if (buf_.size() - end_ < max) {
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < max) buf_.resize(end_ + max);
  }
  return {buf_.data() + end_, max};
}

void Chunker::commit(std::size_t n) {
  end_ += n;
  process(false);
}

void Chunker::feed(std::span<const std::uint8_t> data) {
  while (!data.empty()) {
    std::size_t n = std::min<std::size_t>(data.size(), 65536);
    auto dst = prepare(n);
    std::memcpy(dst.data(), data.data(), n);
    commit(n);
    data = data.subspan(n);
  }
}

void Chunker::flush() {
  process(true);
}

void Chunker::fallback_to_raw(const char* why) {
  log_warn(std::string("input is not a valid pcap stream (") + why +
           "): sending it in plain chunks, without record alignment");
  mode_ = Mode::Raw;
  in_unit_ = false;
}

std::size_t Chunker::unit_length(const std::uint8_t* p, std::size_t avail) {
  if (mode_ == Mode::Lines) {
    const void* nl = std::memchr(p, '\n', avail);
    return nl ? static_cast<std::size_t>(static_cast<const std::uint8_t*>(nl) - p) + 1 : 0;
  }
  // Pcap record.
  if (in_unit_) return avail >= unit_left_ ? unit_left_ : 0;
  if (avail < kPcapRecordHeader) return 0;
  std::uint32_t incl = protocol::load_le32(p + 8);
  if (swapped_) incl = __builtin_bswap32(incl);
  if (incl > kMaxPcapRecord) {
    fallback_to_raw("record length out of range");
    return 0;
  }
  std::size_t total = kPcapRecordHeader + incl;
  return avail >= total ? total : 0;
}

std::uint32_t Chunker::continuation_flags() {
  // A line split for more than kMaxUnit bytes: let a new connection start here anyway.
  if (mode_ == Mode::Lines && unit_emitted_ >= kMaxUnit) {
    unit_emitted_ = 0;
    return PacketDesc::kBoundary;
  }
  return 0;
}

void Chunker::emit(std::size_t len, std::uint32_t flags) {
  emit_(std::span<const std::uint8_t>(buf_.data() + begin_, len), flags);
  begin_ += len;
}

void Chunker::process(bool flush_all) {
  if (mode_ == Mode::Pcap && !header_done_) {
    if (end_ - begin_ < kPcapGlobalHeader) {
      if (!flush_all) return;
      if (end_ > begin_) fallback_to_raw("shorter than a global header");
    } else {
      std::uint32_t magic = protocol::load_le32(buf_.data() + begin_);
      if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d)
        swapped_ = false;
      else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
        swapped_ = true;
      else
        fallback_to_raw("bad magic number");
      if (mode_ == Mode::Pcap) {
        header_done_ = true;
        pcap_header_.assign(buf_.begin() + static_cast<std::ptrdiff_t>(begin_),
                            buf_.begin() + static_cast<std::ptrdiff_t>(begin_ + kPcapGlobalHeader));
        emit(kPcapGlobalHeader, PacketDesc::kBoundary | PacketDesc::kStreamHeader);
      }
    }
  }
  for (;;) {
    std::size_t avail = end_ - begin_;
    if (avail == 0) return;
    if (mode_ == Mode::Raw) {
      // One payload per read: everything received, cut at snaplen.
      emit(std::min<std::size_t>(avail, snaplen_), PacketDesc::kBoundary);
      continue;
    }
    const std::uint8_t* p = buf_.data() + begin_;
    if (in_unit_) {
      // The rest of a unit that was split.
      std::size_t u = unit_length(p, avail);
      if (u != 0 && u <= snaplen_) {
        emit(u, continuation_flags());
        in_unit_ = false;
        unit_emitted_ = unit_left_ = 0;
        continue;
      }
      if (avail >= snaplen_ || flush_all) {
        std::size_t piece = std::min<std::size_t>(avail, snaplen_);
        std::uint32_t flags = continuation_flags();
        emit(piece, flags);
        unit_emitted_ += piece;
        if (mode_ == Mode::Pcap) unit_left_ -= piece;
        continue;
      }
      return;
    }
    // At a boundary: pack the complete units that fit.
    std::size_t len = 0;
    while (len < avail) {
      std::size_t u = unit_length(p + len, avail - len);
      if (mode_ == Mode::Raw || u == 0 || len + u > snaplen_) break;
      len += u;
    }
    if (mode_ == Mode::Raw) continue;  // the pcap parser gave up: the rest goes raw
    if (len > 0) {
      emit(len, PacketDesc::kBoundary);
      continue;
    }
    // The first unit is incomplete, or larger than snaplen: split it.
    if (avail >= snaplen_ || flush_all) {
      if (mode_ == Mode::Pcap && avail < kPcapRecordHeader) {
        emit(avail, PacketDesc::kBoundary);  // a truncated record at the very end
        continue;
      }
      std::size_t piece = std::min<std::size_t>(avail, snaplen_);
      in_unit_ = true;
      unit_emitted_ = piece;
      if (mode_ == Mode::Pcap) {
        std::uint32_t incl = protocol::load_le32(p + 8);
        if (swapped_) incl = __builtin_bswap32(incl);
        unit_left_ = kPcapRecordHeader + incl - piece;
      }
      emit(piece, PacketDesc::kBoundary);
      continue;
    }
    return;  // wait for more bytes
  }
}

}  // namespace d4::client
