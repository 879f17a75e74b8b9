#include "core/ipnet.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace d4::core {
namespace {

constexpr IpAddress::Bytes kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};

// Clears every bit after the first `bits` bits.
IpAddress::Bytes mask_bytes(IpAddress::Bytes b, int bits) {
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(bits - 8 * i, 0, 8);
    auto mask = static_cast<std::uint8_t>(keep == 0 ? 0 : (0xFF << (8 - keep)) & 0xFF);
    b[static_cast<std::size_t>(i)] &= mask;
  }
  return b;
}

}  // namespace

IpAddress IpAddress::from_v4(std::uint32_t host_order) {
  IpAddress a;
  a.bytes_ = kMappedPrefix;
  a.bytes_[12] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes_[13] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes_[14] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes_[15] = static_cast<std::uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::from_v6(const Bytes& bytes) {
  IpAddress a;
  a.bytes_ = bytes;
  return a;
}

bool IpAddress::is_v4() const {
  return std::equal(kMappedPrefix.begin(), kMappedPrefix.begin() + 12, bytes_.begin());
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  auto pct = text.find('%');
  if (pct != std::string_view::npos) text = text.substr(0, pct);
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    in_addr v4{};
    if (inet_pton(AF_INET, buf, &v4) != 1) return std::nullopt;
    a.bytes_ = kMappedPrefix;
    std::memcpy(a.bytes_.data() + 12, &v4, 4);
    return a;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) != 1) return std::nullopt;
  std::memcpy(a.bytes_.data(), &v6, 16);
  return a;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    in_addr v4{};
    std::memcpy(&v4, bytes_.data() + 12, 4);
    inet_ntop(AF_INET, &v4, buf, sizeof buf);
  } else {
    in6_addr v6{};
    std::memcpy(&v6, bytes_.data(), 16);
    inet_ntop(AF_INET6, &v6, buf, sizeof buf);
  }
  return buf;
}

IpNetwork::IpNetwork(const IpAddress& address, int prefix_len) : prefix_(prefix_len) {
  int max = address.is_v4() ? 32 : 128;
  prefix_ = std::clamp(prefix_len, 0, max);
  address_ = IpAddress::from_v6(mask_bytes(address.bytes(), address.is_v4() ? prefix_ + 96 : prefix_));
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<IpNetwork> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  auto slash = text.find('/');
  auto addr_text = text.substr(0, slash);
  auto addr = IpAddress::parse(addr_text);
  if (!addr) return fail("\"" + std::string(addr_text) + "\" is not an IPv4 or IPv6 address");
  // A prefix written against an IPv4-mapped IPv6 address ("::ffff:10.0.0.0/104") counts in IPv6 bits.
  bool written_as_v6 = addr_text.find(':') != std::string_view::npos;
  int max = written_as_v6 ? 128 : 32;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix < 0 || prefix > max)
      return fail("prefix length \"" + std::string(p) + "\" must be an integer from 0 to " +
                  std::to_string(max));
  }
  if (addr->is_v4() && written_as_v6) {
    if (prefix < 96) return fail("an IPv4-mapped network needs a prefix of at least 96 bits");
    prefix -= 96;
  }
  return IpNetwork(*addr, prefix);
}

bool IpNetwork::is_single_address() const {
  return prefix_ == (address_.is_v4() ? 32 : 128);
}

bool IpNetwork::contains(const IpAddress& a) const {
  if (a.is_v4() != address_.is_v4()) return false;
  return mask_bytes(a.bytes(), mapped_prefix()) == address_.bytes();
}

std::string IpNetwork::to_string() const {
  if (is_single_address()) return address_.to_string();
  return address_.to_string() + "/" + std::to_string(prefix_);
}

IpNetwork source_network(const IpAddress& a) {
  return IpNetwork(a, a.is_v4() ? kSourcePrefixV4 : kSourcePrefixV6);
}

std::string source_network_text(std::string_view text) {
  auto net = IpNetwork::parse(text);
  if (!net) return std::string(text);
  const IpAddress& a = net->address();
  int limit = a.is_v4() ? kSourcePrefixV4 : kSourcePrefixV6;
  return IpNetwork(a, std::min(net->prefix_len(), limit)).to_string();
}

std::size_t IpBlocklist::BytesHash::operator()(const IpAddress::Bytes& b) const noexcept {
  std::uint64_t h1 = 0, h2 = 0;
  std::memcpy(&h1, b.data(), 8);
  std::memcpy(&h2, b.data() + 8, 8);
  return static_cast<std::size_t>(h1 * 0x9E3779B97F4A7C15ULL ^ (h2 + 0x632BE59BD9B4E019ULL + (h1 << 6)));
}

bool IpBlocklist::add(std::string_view entry) {
  auto net = IpNetwork::parse(entry);
  if (!net) {
    invalid_.emplace_back(entry);
    return false;
  }
  add(*net);
  return true;
}

void IpBlocklist::add(const IpNetwork& net) {
  int mp = net.address().is_v4() ? net.prefix_len() + 96 : net.prefix_len();
  auto& set = by_prefix_[static_cast<std::size_t>(mp)];
  if (set.empty()) {
    prefixes_.push_back(mp);
    std::sort(prefixes_.begin(), prefixes_.end(), std::greater<>());
  }
  if (set.insert(net.address().bytes()).second) ++size_;
}

bool IpBlocklist::contains(const IpAddress& a) const {
  return match(a).has_value();
}

std::optional<std::string> IpBlocklist::match(const IpAddress& a) const {
  for (int mp : prefixes_) {
    // Families never mix (as IpNetwork::contains): an IPv6 prefix shorter than 96 bits would
    // otherwise cover the IPv4-mapped range. IPv4 entries keep the mapped prefix when masked, so
    // an IPv6 address can never equal one.
    if (mp < 96 && a.is_v4()) continue;
    auto masked = mask_bytes(a.bytes(), mp);
    const auto& set = by_prefix_[static_cast<std::size_t>(mp)];
    if (set.count(masked)) {
      IpAddress base = IpAddress::from_v6(masked);
      return base.is_v4() ? IpNetwork(base, mp - 96).to_string() : IpNetwork(base, mp).to_string();
    }
  }
  return std::nullopt;
}

std::string normalize_ip_text(std::string_view text) {
  auto a = IpAddress::parse(text);
  return a ? a->to_string() : std::string(text);
}

}  // namespace d4::core
