#include "analyzers/packet/capture_reader.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace d4::analyzers::packet {
namespace {

constexpr std::uint32_t kPcapMagicMicro = 0xa1b2c3d4;
constexpr std::uint32_t kPcapMagicNano = 0xa1b23c4d;
constexpr std::uint32_t kNgSectionHeader = 0x0A0D0D0A;
constexpr std::uint32_t kNgByteOrderMagic = 0x1A2B3C4D;
constexpr std::uint32_t kNgInterfaceDescription = 1;
constexpr std::uint32_t kNgObsoletePacket = 2;
constexpr std::uint32_t kNgSimplePacket = 3;
constexpr std::uint32_t kNgEnhancedPacket = 6;

inline std::uint16_t load16(const std::uint8_t* p, bool big_endian) {
  return big_endian ? static_cast<std::uint16_t>(p[0] << 8 | p[1])
                    : static_cast<std::uint16_t>(p[1] << 8 | p[0]);
}
inline std::uint32_t load32(const std::uint8_t* p, bool big_endian) {
  if (big_endian)
    return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
           static_cast<std::uint32_t>(p[2]) << 8 | p[3];
  return static_cast<std::uint32_t>(p[3]) << 24 | static_cast<std::uint32_t>(p[2]) << 16 |
         static_cast<std::uint32_t>(p[1]) << 8 | p[0];
}
inline std::uint64_t load64(const std::uint8_t* p, bool big_endian) {
  std::uint64_t a = load32(p, big_endian), b = load32(p + 4, big_endian);
  return big_endian ? (a << 32 | b) : (b << 32 | a);
}

struct Interface {
  std::uint32_t linktype = 0;
  std::uint32_t snaplen = 0;
  std::uint64_t units_per_second = 1000000;
  std::int64_t offset_seconds = 0;
};

}  // namespace

struct CaptureReader::Impl {
  std::string name;
  gzFile gz = nullptr;
  bool in_memory = false;  // memory mode: the whole capture is the window
  const std::uint8_t* memory = nullptr;
  std::vector<std::uint8_t> buffer;
  std::size_t pos = 0, end = 0;
  bool source_eof = false;

  Format format = Format::Unknown;
  bool big_endian = false;
  bool nanoseconds = false;
  std::uint32_t pcap_linktype = 0;
  std::vector<Interface> interfaces;

  std::string error;
  bool truncated = false;
  bool done = false;
  std::uint64_t frames = 0;
  std::uint64_t skipped = 0;
  std::uint64_t offset = 0;  // file offset of buffer[pos], for error messages

  ~Impl() {
    if (gz) gzclose(gz);
  }

  const std::uint8_t* data() const { return in_memory ? memory : buffer.data(); }
  std::size_t available() const { return end - pos; }

  // Makes at least n bytes available from pos; false if the input ends first.
  bool ensure(std::size_t n) {
    if (end - pos >= n) return true;
    if (in_memory || source_eof || !gz) return false;
    if (pos > 0) {
      std::memmove(buffer.data(), buffer.data() + pos, end - pos);
      end -= pos;
      pos = 0;
    }
    if (buffer.size() < n) buffer.resize(std::max(n, buffer.size() * 2));
    while (end < n) {
      std::size_t room = std::min<std::size_t>(buffer.size() - end, 1u << 30);
      int got = gzread(gz, buffer.data() + end, static_cast<unsigned>(room));
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(gz, &code);
        fail(std::string("read error: ") + (code == Z_ERRNO ? std::strerror(errno) : msg));
        source_eof = true;
        return false;
      }
      if (got == 0) {
        source_eof = true;
        return false;
      }
      end += static_cast<std::size_t>(got);
    }
    return true;
  }

  void consume(std::size_t n) {
    pos += n;
    offset += n;
  }

  void fail(std::string what) {
    if (error.empty()) error = name + ": " + what + " at byte offset " + std::to_string(offset);
    done = true;
  }
  void fail_truncated(std::string_view what) {
    truncated = true;
    fail("capture truncated in " + std::string(what));
  }

  void read_file_header() {
    if (!ensure(4))
      throw CaptureError(name + ": empty or unreadable capture" + (error.empty() ? "" : " (" + error + ")"));
    const std::uint8_t* p = data() + pos;
    std::uint32_t le = load32(p, false), be = load32(p, true);
    if (le == kNgSectionHeader) {
      format = Format::PcapNg;  // the section header block is parsed as a block by next()
      return;
    }
    if (le == kPcapMagicMicro || le == kPcapMagicNano) {
      big_endian = false;
      nanoseconds = le == kPcapMagicNano;
    } else if (be == kPcapMagicMicro || be == kPcapMagicNano) {
      big_endian = true;
      nanoseconds = be == kPcapMagicNano;
    } else {
      char hex[16];
      std::snprintf(hex, sizeof hex, "%08x", be);
      throw CaptureError(name + ": not a pcap or pcapng capture (first bytes " + hex + ")");
    }
    format = Format::Pcap;
    if (!ensure(24)) throw CaptureError(name + ": capture truncated in the pcap file header");
    p = data() + pos;
    // The upper bits of the link type field carry FCS information (pcap spec); the type is 16 bits.
    pcap_linktype = load32(p + 20, big_endian) & 0xFFFFu;
    consume(24);
  }

  bool next_pcap(Frame& f) {
    if (!ensure(16)) {
      if (available() != 0) fail_truncated("a pcap record header");
      done = true;
      return false;
    }
    const std::uint8_t* p = data() + pos;
    std::uint32_t sec = load32(p, big_endian), frac = load32(p + 4, big_endian);
    std::uint32_t caplen = load32(p + 8, big_endian), origlen = load32(p + 12, big_endian);
    if (caplen > kMaxRecordBytes) {
      fail("corrupt pcap record (captured length " + std::to_string(caplen) + ")");
      return false;
    }
    if (!ensure(16 + static_cast<std::size_t>(caplen))) {
      if (error.empty()) fail_truncated("a pcap record");
      done = true;
      return false;
    }
    p = data() + pos;
    f.ts_ns = static_cast<std::int64_t>(sec) * 1000000000 +
              static_cast<std::int64_t>(frac) * (nanoseconds ? 1 : 1000);
    f.caplen = caplen;
    f.origlen = origlen;
    f.linktype = pcap_linktype;
    f.data = p + 16;
    f.number = ++frames;
    consume(16 + static_cast<std::size_t>(caplen));
    return true;
  }

  void parse_interface(const std::uint8_t* b, std::uint32_t len) {
    Interface itf;
    if (len < 20) {
      interfaces.push_back(itf);
      return;
    }
    itf.linktype = load16(b + 8, big_endian);
    itf.snaplen = load32(b + 12, big_endian);
    std::uint32_t o = 16, limit = len - 4;
    while (o + 4 <= limit) {
      std::uint16_t code = load16(b + o, big_endian), olen = load16(b + o + 2, big_endian);
      if (code == 0) break;
      if (o + 4 + olen > limit) break;
      const std::uint8_t* v = b + o + 4;
      if (code == 9 && olen >= 1) {  // if_tsresol: 10^-n, or 2^-n when the top bit is set
        std::uint8_t r = v[0];
        std::uint32_t exp = r & 0x7Fu;
        if (r & 0x80u) {
          itf.units_per_second = exp < 63 ? (1ULL << exp) : (1ULL << 62);
        } else {
          std::uint64_t u = 1;
          for (std::uint32_t i = 0; i < exp && i < 19; ++i) u *= 10;
          itf.units_per_second = u;
        }
      } else if (code == 14 && olen >= 8) {  // if_tsoffset, seconds
        itf.offset_seconds = static_cast<std::int64_t>(load64(v, big_endian));
      }
      o += 4 + ((olen + 3u) & ~3u);
    }
    if (itf.units_per_second == 0) itf.units_per_second = 1000000;
    interfaces.push_back(itf);
  }

  static std::int64_t to_ns(const Interface& itf, std::uint64_t ts) {
    std::uint64_t u = itf.units_per_second;
    std::uint64_t sec = ts / u, frac = ts % u;
    std::int64_t ns;
    if (u <= 1000000000 && 1000000000 % u == 0)
      ns = static_cast<std::int64_t>(frac * (1000000000 / u));
    else
      ns = static_cast<std::int64_t>(static_cast<long double>(frac) * 1e9L / static_cast<long double>(u));
    return (static_cast<std::int64_t>(sec) + itf.offset_seconds) * 1000000000 + ns;
  }

  bool next_pcapng(Frame& f) {
    for (;;) {
      if (!ensure(12)) {
        if (available() != 0) fail_truncated("a pcapng block header");
        done = true;
        return false;
      }
      const std::uint8_t* b = data() + pos;
      std::uint32_t type = load32(b, big_endian);
      if (load32(b, false) == kNgSectionHeader) {
        type = kNgSectionHeader;
        std::uint32_t bom = load32(b + 8, false);
        if (bom == kNgByteOrderMagic)
          big_endian = false;
        else if (load32(b + 8, true) == kNgByteOrderMagic)
          big_endian = true;
        else {
          fail("corrupt pcapng section header (byte-order magic)");
          return false;
        }
        interfaces.clear();
      }
      std::uint32_t len = load32(b + 4, big_endian);
      if (len < 12 || len % 4 != 0 || len > kMaxRecordBytes) {
        fail("corrupt pcapng block (length " + std::to_string(len) + ")");
        return false;
      }
      if (!ensure(len)) {
        if (error.empty()) fail_truncated("a pcapng block");
        done = true;
        return false;
      }
      b = data() + pos;
      if (load32(b + len - 4, big_endian) != len) {
        fail("corrupt pcapng block (trailing length differs)");
        return false;
      }
      switch (type) {
        case kNgSectionHeader:
          if (len < 28) {
            fail("corrupt pcapng section header (too short)");
            return false;
          }
          break;
        case kNgInterfaceDescription:
          parse_interface(b, len);
          break;
        case kNgEnhancedPacket:
        case kNgObsoletePacket: {
          if (len < 32) {
            fail("corrupt pcapng packet block (too short)");
            return false;
          }
          std::uint32_t itf_id =
              type == kNgEnhancedPacket ? load32(b + 8, big_endian) : load16(b + 8, big_endian);
          std::uint32_t caplen = load32(b + 20, big_endian), origlen = load32(b + 24, big_endian);
          if (caplen > len - 32) {
            fail("corrupt pcapng packet block (captured length " + std::to_string(caplen) + ")");
            return false;
          }
          if (itf_id >= interfaces.size()) {
            ++skipped;
            break;
          }
          const Interface& itf = interfaces[itf_id];
          std::uint64_t ts =
              static_cast<std::uint64_t>(load32(b + 12, big_endian)) << 32 | load32(b + 16, big_endian);
          f.ts_ns = to_ns(itf, ts);
          f.caplen = caplen;
          f.origlen = origlen;
          f.linktype = itf.linktype;
          f.data = b + 28;
          f.number = ++frames;
          consume(len);
          return true;
        }
        case kNgSimplePacket: {
          if (interfaces.empty()) {
            ++skipped;
            break;
          }
          const Interface& itf = interfaces[0];
          std::uint32_t origlen = load32(b + 8, big_endian);
          std::uint32_t caplen = std::min(origlen, len - 16);
          if (itf.snaplen != 0) caplen = std::min(caplen, itf.snaplen);
          f.ts_ns = 0;  // simple packet blocks carry no timestamp
          f.caplen = caplen;
          f.origlen = origlen;
          f.linktype = itf.linktype;
          f.data = b + 12;
          f.number = ++frames;
          consume(len);
          return true;
        }
        default:
          ++skipped;
          break;
      }
      consume(len);
    }
  }
};

CaptureReader::CaptureReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CaptureReader::CaptureReader(CaptureReader&&) noexcept = default;
CaptureReader& CaptureReader::operator=(CaptureReader&&) noexcept = default;
CaptureReader::~CaptureReader() = default;

CaptureReader CaptureReader::from_fd(int fd, std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(name);
  impl->gz = gzdopen(fd, "rb");
  if (!impl->gz) {
    ::close(fd);
    throw CaptureError(impl->name + ": cannot open: out of memory");
  }
  gzbuffer(impl->gz, 256 * 1024);
  impl->buffer.resize(1 << 20);
  impl->read_file_header();
  return CaptureReader(std::move(impl));
}

CaptureReader CaptureReader::open(const std::filesystem::path& path) {
  if (path == "-") {
    int fd = ::dup(0);
    if (fd < 0) throw CaptureError("stdin: " + std::string(std::strerror(errno)));
    return from_fd(fd, "stdin");
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw CaptureError(path.string() + ": " + std::strerror(errno));
  return from_fd(fd, path.string());
}

CaptureReader CaptureReader::from_memory(std::span<const std::uint8_t> data, std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(name);
  impl->in_memory = true;
  impl->memory = data.data();
  impl->end = data.size();
  impl->read_file_header();
  return CaptureReader(std::move(impl));
}

bool CaptureReader::next(Frame& frame) {
  Impl& i = *impl_;
  if (i.done) return false;
  return i.format == Format::Pcap ? i.next_pcap(frame) : i.next_pcapng(frame);
}

CaptureReader::Format CaptureReader::format() const {
  return impl_->format;
}
const std::string& CaptureReader::name() const {
  return impl_->name;
}
const std::string& CaptureReader::error() const {
  return impl_->error;
}
bool CaptureReader::truncated() const {
  return impl_->truncated;
}
std::uint64_t CaptureReader::frames() const {
  return impl_->frames;
}
std::uint64_t CaptureReader::skipped_blocks() const {
  return impl_->skipped;
}

}  // namespace d4::analyzers::packet
