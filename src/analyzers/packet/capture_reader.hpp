#pragma once
// Reads packet captures without libpcap's file code: classic pcap (both byte orders, microsecond
// and nanosecond variants) and pcapng (several sections, per-interface link types and timestamp
// resolutions), either plain or gzip-compressed (the D4 server archives type-1 data as .cap.gz),
// from a file, a file descriptor (stdin) or a memory buffer (benchmarks, tests).
//
// Every length read from the file is checked before use. A corrupt or truncated file ends the
// iteration with error() describing what was wrong and where; frames read before stay valid.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace d4::analyzers::packet {

// Link-layer header types (LINKTYPE_* values of the pcap/pcapng formats).
namespace linktype {
inline constexpr std::uint32_t kNull = 0;  // BSD loopback, family in host byte order
inline constexpr std::uint32_t kEthernet = 1;
inline constexpr std::uint32_t kRawOpenBsd = 12;  // DLT_RAW as written by some systems
inline constexpr std::uint32_t kRawBsdOs = 14;
inline constexpr std::uint32_t kRaw = 101;
inline constexpr std::uint32_t kLoop = 108;  // OpenBSD loopback, family in network order
inline constexpr std::uint32_t kLinuxSll = 113;
inline constexpr std::uint32_t kIpv4 = 228;
inline constexpr std::uint32_t kIpv6 = 229;
inline constexpr std::uint32_t kLinuxSll2 = 276;
}  // namespace linktype

struct Frame {
  std::int64_t ts_ns = 0;  // capture time, nanoseconds since the Unix epoch
  std::uint32_t caplen = 0;
  std::uint32_t origlen = 0;
  std::uint32_t linktype = 0;
  std::uint64_t number = 0;            // 1-based position in the capture, as Wireshark numbers frames
  const std::uint8_t* data = nullptr;  // valid until the next call to next()

  std::int64_t ts_seconds() const {
    return ts_ns >= 0 ? ts_ns / 1000000000 : -((-ts_ns + 999999999) / 1000000000);
  }
  std::span<const std::uint8_t> bytes() const { return {data, caplen}; }
};

class CaptureError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CaptureReader {
 public:
  enum class Format { Unknown, Pcap, PcapNg };

  // Opens a file ("-" means standard input); gzip is detected from the content, not the name.
  // Throws CaptureError if the file cannot be opened or does not start like a capture.
  static CaptureReader open(const std::filesystem::path& path);
  // Reads from a file descriptor it takes ownership of.
  static CaptureReader from_fd(int fd, std::string name);
  // Parses an uncompressed capture held in memory, without copying it; `data` must outlive the reader.
  static CaptureReader from_memory(std::span<const std::uint8_t> data, std::string name = "memory");

  CaptureReader(CaptureReader&&) noexcept;
  CaptureReader& operator=(CaptureReader&&) noexcept;
  ~CaptureReader();

  // Next frame; false at the end of the capture or on an error (see error()/truncated()).
  bool next(Frame& frame);

  Format format() const;
  const std::string& name() const;
  // Empty when the capture ended cleanly.
  const std::string& error() const;
  // True when the capture ended in the middle of a record (e.g. a file still being written).
  bool truncated() const;
  std::uint64_t frames() const;
  // pcapng blocks that were skipped because their type is not a packet block (statistics,
  // name resolution, custom blocks...) and packets of unknown interfaces.
  std::uint64_t skipped_blocks() const;

  // Upper bound on one record: a larger length field means the file is corrupt.
  static constexpr std::uint32_t kMaxRecordBytes = 64u << 20;

 private:
  struct Impl;
  explicit CaptureReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace d4::analyzers::packet
