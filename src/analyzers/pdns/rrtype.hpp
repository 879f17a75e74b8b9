#pragma once
// DNS resource record types: mnemonic <-> number, as in the IANA registry (and the reference
// analyzer's records-type.json). Types without a mnemonic use the RFC 3597 form "TYPE<n>".
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace d4::analyzers::dns {

namespace rrtype {
inline constexpr std::uint16_t kA = 1, kNs = 2, kCname = 5, kSoa = 6, kPtr = 12, kHinfo = 13, kMx = 15,
                               kTxt = 16, kRp = 17, kAaaa = 28, kSrv = 33, kNaptr = 35, kDname = 39,
                               kOpt = 41, kDs = 43, kSshfp = 44, kRrsig = 46, kNsec = 47, kDnskey = 48,
                               kNsec3 = 50, kNsec3param = 51, kTlsa = 52, kSmimea = 53, kCds = 59,
                               kCdnskey = 60, kOpenpgpkey = 61, kSvcb = 64, kHttps = 65, kSpf = 99,
                               kTkey = 249, kTsig = 250, kAny = 255, kUri = 256, kCaa = 257, kDlv = 32769;
}

// "A", "AAAA", ... or "TYPE<n>" for numbers without a mnemonic.
std::string type_name(std::uint16_t type);
// Accepts mnemonics (any case), "TYPE<n>" and plain decimal numbers; nullopt otherwise.
std::optional<std::uint16_t> parse_type(std::string_view text);
// Every type with a mnemonic, ascending.
const std::vector<std::uint16_t>& known_types();

// "IN", "CH", "HS", "NONE", "ANY" or "CLASS<n>".
std::string class_name(std::uint16_t klass);

}  // namespace d4::analyzers::dns
