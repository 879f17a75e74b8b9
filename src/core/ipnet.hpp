#pragma once
// IP addresses and CIDR networks (IPv4 and IPv6) for blocklists: parsing, normalisation and
// matching without expanding ranges into addresses (the reference expands a CIDR entry into every
// address, which is unusable for large networks and impossible for IPv6 prefixes).
//
// Addresses are kept as 16 bytes; IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d) so that a
// dual-stack listener's "::ffff:1.2.3.4" and a plain "1.2.3.4" are the same address.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace d4::core {

class IpAddress {
 public:
  using Bytes = std::array<std::uint8_t, 16>;

  IpAddress() = default;
  static IpAddress from_v4(std::uint32_t host_order);
  static IpAddress from_v6(const Bytes& bytes);  // an IPv4-mapped address stays IPv4

  // Accepts dotted IPv4, any textual IPv6 (incl. "::ffff:1.2.3.4"), with an optional "%zone"
  // suffix which is ignored (as the reference does). Surrounding whitespace is not accepted.
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_v4() const;
  const Bytes& bytes() const { return bytes_; }
  // Canonical text: dotted quad for IPv4 (also when received IPv4-mapped), RFC 5952 for IPv6.
  // This is the form written into Redis (stats keys, list_uuid_ip), like the reference.
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  Bytes bytes_{};
};

// A network: address + prefix length counted in the address's own family (0..32 for IPv4,
// 0..128 for IPv6). A single address is a network with the full prefix.
class IpNetwork {
 public:
  IpNetwork() = default;
  IpNetwork(const IpAddress& address, int prefix_len);  // host bits are cleared

  // "1.2.3.4", "10.0.0.0/8", "2001:db8::/32", "::ffff:10.0.0.0/104". Host bits set in the
  // address are accepted and cleared ("10.1.2.3/8" == "10.0.0.0/8"). Returns nullopt (and an
  // explanation in *error) for anything else.
  static std::optional<IpNetwork> parse(std::string_view text, std::string* error = nullptr);

  const IpAddress& address() const { return address_; }
  int prefix_len() const { return prefix_; }  // in the family's own bit count
  bool is_single_address() const;
  bool contains(const IpAddress& a) const;
  // "1.2.3.4" for single addresses, "10.0.0.0/8" otherwise (the form stored in blacklist_ip).
  std::string to_string() const;

  friend bool operator==(const IpNetwork&, const IpNetwork&) = default;

 private:
  int mapped_prefix() const { return address_.is_v4() ? prefix_ + 96 : prefix_; }
  IpAddress address_;
  int prefix_ = 0;
};

// A set of addresses and networks with lookups in O(number of distinct prefix lengths): one hash
// set of masked addresses per prefix length present. Entries that do not parse are kept aside
// (reported, never matched) so a typo in Redis cannot take the server down.
class IpBlocklist {
 public:
  // Returns false (and keeps the entry in invalid_entries()) if `entry` is not an address/CIDR.
  bool add(std::string_view entry);
  void add(const IpNetwork& net);
  bool contains(const IpAddress& a) const;
  // The first entry (most specific prefix first) that matches, in canonical text.
  std::optional<std::string> match(const IpAddress& a) const;
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::vector<std::string>& invalid_entries() const { return invalid_; }

 private:
  struct BytesHash {
    std::size_t operator()(const IpAddress::Bytes& b) const noexcept;
  };
  // Indexed by mapped prefix length 0..128 (IPv4 /n is stored as /(96+n)).
  std::array<std::unordered_set<IpAddress::Bytes, BytesHash>, 129> by_prefix_;
  std::vector<int> prefixes_;  // prefix lengths present, longest first
  std::size_t size_ = 0;
  std::vector<std::string> invalid_;
};

// What one unauthenticated party is assumed to control: an IPv4 /24 or an IPv6 /64 (a single
// host is routinely given a whole /64). Records and budgets of peers that have not proven who
// they are are kept per source network, so that a party cycling through its addresses does not
// multiply them.
inline constexpr int kSourcePrefixV4 = 24;
inline constexpr int kSourcePrefixV6 = 64;
IpNetwork source_network(const IpAddress& a);
// The source network of an address or network given as text ("192.0.2.7" -> "192.0.2.0/24");
// the text unchanged if it does not parse.
std::string source_network_text(std::string_view address_or_network);

// The reference's peer address rendering for a socket address string: zone dropped, IPv4-mapped
// shown as dotted quad. Returns the input unchanged if it is not an address.
std::string normalize_ip_text(std::string_view text);

}  // namespace d4::core
