#pragma once
// Writes classic pcap files (microsecond timestamps, little-endian), e.g. PIBS's capture of the
// backscatter frames. Frames are written as captured, with their original lengths.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>

namespace d4::analyzers::packet {

class PcapWriter {
 public:
  // Creates (truncates) `path`; "-" writes to standard output. Throws std::runtime_error.
  PcapWriter(const std::filesystem::path& path, std::uint32_t linktype, std::uint32_t snaplen = 262144);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  void write(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t origlen);
  void flush();
  std::uint32_t linktype() const { return linktype_; }
  std::uint64_t frames() const { return frames_; }

 private:
  std::FILE* file_ = nullptr;
  bool owned_ = true;
  std::string name_;
  std::uint32_t linktype_;
  std::uint32_t snaplen_;
  std::uint64_t frames_ = 0;
};

}  // namespace d4::analyzers::packet
