#include "analyzers/packet/pcap_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace d4::analyzers::packet {
namespace {
void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
  p[2] = static_cast<std::uint8_t>(v >> 16);
  p[3] = static_cast<std::uint8_t>(v >> 24);
}
void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
}  // namespace

PcapWriter::PcapWriter(const std::filesystem::path& path, std::uint32_t linktype, std::uint32_t snaplen)
    : name_(path.string()), linktype_(linktype), snaplen_(snaplen) {
  if (path == "-") {
    file_ = stdout;
    owned_ = false;
  } else {
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) throw std::runtime_error(name_ + ": " + std::strerror(errno));
  }
  std::uint8_t h[24];
  put32(h, 0xa1b2c3d4);
  put16(h + 4, 2);
  put16(h + 6, 4);
  put32(h + 8, 0);
  put32(h + 12, 0);
  put32(h + 16, snaplen_);
  put32(h + 20, linktype_);
  if (std::fwrite(h, 1, sizeof h, file_) != sizeof h) throw std::runtime_error(name_ + ": write failed");
}

PcapWriter::~PcapWriter() {
  if (file_ && owned_)
    std::fclose(file_);
  else if (file_)
    std::fflush(file_);
}

void PcapWriter::write(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t origlen) {
  std::uint8_t h[16];
  std::int64_t sec = ts_ns / 1000000000, usec = (ts_ns % 1000000000) / 1000;
  if (usec < 0) {
    sec -= 1;
    usec += 1000000;
  }
  auto caplen = static_cast<std::uint32_t>(std::min<std::size_t>(data.size(), snaplen_));
  put32(h, static_cast<std::uint32_t>(sec));
  put32(h + 4, static_cast<std::uint32_t>(usec));
  put32(h + 8, caplen);
  put32(h + 12, std::max(origlen, caplen));
  if (std::fwrite(h, 1, sizeof h, file_) != sizeof h || std::fwrite(data.data(), 1, caplen, file_) != caplen)
    throw std::runtime_error(name_ + ": write failed: " + std::strerror(errno));
  ++frames_;
}

void PcapWriter::flush() {
  std::fflush(file_);
}

}  // namespace d4::analyzers::packet
