#pragma once
// Record-aware chunking for network destinations. Bytes from the source are cut into payloads of
// at most snaplen bytes that, whenever possible, hold whole records:
//  - pcap (type 1): the 24-byte global header becomes a packet of its own (flagged as the stream
//    header, so that a new connection can be given a copy first), then whole records are packed;
//    a record larger than snaplen is split across consecutive packets;
//  - line types (3, 6, 8, 254): whole lines are packed; a line longer than snaplen is split;
//  - other types: one payload per read, like the C client.
// Every payload says whether it starts on a record boundary: a new connection may only start
// there. A line split over more than kMaxUnit bytes marks its next piece as a boundary anyway so
// that a stream without newlines can never pin the spool (pcap records are at most 1 MiB).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace d4::client {

class Chunker {
 public:
  enum class Mode { Raw, Pcap, Lines };
  // payload, flags (PacketDesc::kBoundary | kStreamHeader)
  using Emit = std::function<void(std::span<const std::uint8_t>, std::uint32_t)>;

  static constexpr std::size_t kMaxUnit = 1 << 20;
  static Mode mode_for_type(std::uint8_t type);

  Chunker(Mode mode, std::uint32_t snaplen, Emit emit);

  // Zero-copy input: read at most max bytes into the returned span, then commit(n).
  std::span<std::uint8_t> prepare(std::size_t max);
  void commit(std::size_t n);
  void feed(std::span<const std::uint8_t> data);

  // Bytes held back (an incomplete record or line).
  std::size_t pending() const { return end_ - begin_; }
  // Emits everything held back (idle timeout, end of input).
  void flush();

  Mode mode() const { return mode_; }
  // The pcap global header once seen (empty before, or when the input was not pcap).
  const std::vector<std::uint8_t>& pcap_header() const { return pcap_header_; }

 private:
  void process(bool flush_all);
  // Length of the unit starting at p (avail bytes visible), or 0 when it is incomplete.
  std::size_t unit_length(const std::uint8_t* p, std::size_t avail);
  void emit(std::size_t len, std::uint32_t flags);
  std::uint32_t continuation_flags();
  void fallback_to_raw(const char* why);

  Mode mode_;
  std::uint32_t snaplen_;
  Emit emit_;
  std::vector<std::uint8_t> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool header_done_ = false;  // pcap global header handled
  bool swapped_ = false;      // pcap byte order differs from little endian
  std::vector<std::uint8_t> pcap_header_;
  // Inside a unit that was split: bytes of it left (pcap), or "until the next newline" (lines).
  bool in_unit_ = false;
  std::size_t unit_left_ = 0;
  std::size_t unit_emitted_ = 0;
};

}  // namespace d4::client
