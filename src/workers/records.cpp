#include "workers/records.hpp"

#include <fmt/format.h>

namespace d4::workers {
namespace {

std::string get(const Fields& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? std::string() : it->second;
}
std::uint64_t get_u64(const Fields& f, const std::string& key) {
  auto s = get(f, key);
  return s.empty() ? 0 : std::stoull(s);
}

constexpr std::uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr std::uint32_t kMagicNano = 0xa1b23c4d;
constexpr std::uint32_t kShbType = 0x0A0D0D0A;
constexpr std::uint32_t kByteOrderMagic = 0x1A2B3C4D;

std::uint32_t raw32(const char* p) {
  std::uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

void LineSplitter::save(Fields& f, const std::string& prefix) const {
  f[prefix + "carry"] = carry_;
  f[prefix + "discarding"] = discarding_ ? std::to_string(discarded_) : "";
}

void LineSplitter::load(const Fields& f, const std::string& prefix) {
  carry_ = get(f, prefix + "carry");
  auto d = get(f, prefix + "discarding");
  discarding_ = !d.empty();
  discarded_ = discarding_ ? std::stoull(d) : 0;
}

void DnscapSplitter::save(Fields& f, const std::string& prefix) const {
  lines_.save(f, prefix + "line_");
  f[prefix + "block"] = block_;
  f[prefix + "skipping"] = skipping_ ? std::to_string(skipped_) : "";
}

void DnscapSplitter::load(const Fields& f, const std::string& prefix) {
  lines_.load(f, prefix + "line_");
  block_ = get(f, prefix + "block");
  auto s = get(f, prefix + "skipping");
  skipping_ = !s.empty();
  skipped_ = skipping_ ? std::stoull(s) : 0;
}

std::uint32_t PcapReassembler::u32(const char* p) const {
  std::uint32_t v = raw32(p);
  return swapped_ ? __builtin_bswap32(v) : v;
}

bool PcapReassembler::parse_global(std::string_view h) {
  std::uint32_t magic = raw32(h.data());
  if (magic == kMagicMicro || magic == kMagicNano) {
    swapped_ = false;
  } else if (__builtin_bswap32(magic) == kMagicMicro || __builtin_bswap32(magic) == kMagicNano) {
    swapped_ = true;
  } else {
    error_ = fmt::format("not a libpcap stream (magic 0x{:08x})", magic);
    return false;
  }
  nanos_ = (swapped_ ? __builtin_bswap32(magic) : magic) == kMagicNano;
  std::uint16_t major = 0, minor = 0;
  std::memcpy(&major, h.data() + 4, 2);
  std::memcpy(&minor, h.data() + 6, 2);
  if (swapped_) {
    major = __builtin_bswap16(major);
    minor = __builtin_bswap16(minor);
  }
  if (major != 2 || minor > 4) {
    error_ = fmt::format("unsupported libpcap version {}.{}", major, minor);
    return false;
  }
  snaplen_ = u32(h.data() + 16);
  if (snaplen_ == 0 || snaplen_ > max_snaplen_) {
    error_ = fmt::format("libpcap snaplen {} outside 1..{}", snaplen_, max_snaplen_);
    return false;
  }
  std::uint32_t linktype = u32(h.data() + 20);
  // Bits 16..25 carry FCS information and 26..27 are reserved; only the low 16 bits are the type.
  if ((linktype & 0xF0000000u) != 0) {
    error_ = fmt::format("invalid libpcap link type 0x{:08x}", linktype);
    return false;
  }
  return true;
}

bool PcapReassembler::check_record(std::string_view h, std::uint32_t& caplen) {
  std::uint32_t frac = u32(h.data() + 4);
  caplen = u32(h.data() + 8);
  std::uint32_t len = u32(h.data() + 12);
  auto where = [&] { return fmt::format("libpcap record {}", records_ + 1); };
  if (frac >= (nanos_ ? 1'000'000'000u : 1'000'000u)) {
    error_ = fmt::format("{}: sub-second timestamp {} out of range", where(), frac);
    return false;
  }
  if (caplen > snaplen_) {
    error_ = fmt::format("{}: captured length {} exceeds snaplen {}", where(), caplen, snaplen_);
    return false;
  }
  if (len < caplen) {
    error_ = fmt::format("{}: original length {} is below captured length {}", where(), len, caplen);
    return false;
  }
  return true;
}

void PcapReassembler::save(Fields& f, const std::string& prefix) const {
  f[prefix + "global"] = global_;
  f[prefix + "carry"] = carry_;
  f[prefix + "records"] = std::to_string(records_);
}

void PcapReassembler::load(const Fields& f, const std::string& prefix) {
  global_ = get(f, prefix + "global");
  carry_ = get(f, prefix + "carry");
  records_ = get_u64(f, prefix + "records");
  error_.clear();
  if (!global_.empty() && !parse_global(global_)) global_.clear();
}

std::uint32_t PcapngReassembler::block_length(const char* p, bool& is_shb) {
  std::uint32_t type = raw32(p);
  is_shb = type == kShbType;  // palindromic: same in both byte orders
  if (!started_ && !is_shb) {
    error_ = fmt::format("not a pcapng stream (first block type 0x{:08x})", type);
    return 0;
  }
  if (is_shb) {
    std::uint32_t bom = raw32(p + 8);
    if (bom == kByteOrderMagic)
      swapped_ = false;
    else if (__builtin_bswap32(bom) == kByteOrderMagic)
      swapped_ = true;
    else {
      error_ = fmt::format("pcapng section header with bad byte-order magic 0x{:08x}", bom);
      return 0;
    }
    started_ = true;
  }
  std::uint32_t len = raw32(p + 4);
  if (swapped_) len = __builtin_bswap32(len);
  if (len < 12 || len % 4 != 0 || len > max_block_ || (is_shb && len < 28)) {
    error_ =
        fmt::format("pcapng block with invalid total length {} (12..{}, multiple of 4)", len, max_block_);
    return 0;
  }
  return len;
}

void PcapngReassembler::save(Fields& f, const std::string& prefix) const {
  f[prefix + "carry"] = carry_;
  f[prefix + "state"] = !started_ ? "" : swapped_ ? "swapped" : "native";
}

void PcapngReassembler::load(const Fields& f, const std::string& prefix) {
  carry_ = get(f, prefix + "carry");
  auto s = get(f, prefix + "state");
  started_ = !s.empty();
  swapped_ = s == "swapped";
  error_.clear();
}

}  // namespace d4::workers
