#pragma once
// The reference sensor's session fuzzy hash: TLSH (Trend Micro locality-sensitive hash, 128
// buckets, 1-byte checksum: 70 lower-case hex digits as the reference prints them, the legacy
// format without the "T1" prefix)
// over JA3 + JA3S + each certificate's Go-quoted issuer and subject names, with every '-', ',' and
// '"' removed. Computed with libtlsh; inputs the library refuses (under 256 bytes, or too little
// byte variety for the quartiles) give no digest.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyzers/tls/certificate.hpp"

namespace d4::analyzers::tls {

// The name as Go's pkix.Name.String() prints it: the attributes Go parses into fields (C, ST, L,
// STREET, POSTALCODE, O, OU, CN, SERIALNUMBER) in Go's fixed order with multi-valued ones joined
// by '+', other attributes as OID=#<DER hex> after them, most specific first, RFC 4514 escaping.
std::string go_name_string(const std::vector<NameAttribute>& attributes);

// Go's strconv.Quote: "…" with \" \\ and escapes for control characters.
std::string go_quote(std::string_view text);

// The text the reference sensor hashes.
std::string session_tlsh_input(std::string_view ja3, std::string_view ja3s,
                               const std::vector<CertificateInfo>& certificates);

// TLSH of data, or nullopt when the library refuses the input.
std::optional<std::string> tlsh_digest(std::string_view data);

// Whether text is a digest tlsh_distance() can compare (70 hex digits).
bool is_tlsh_digest(std::string_view text);

// TLSH distance (0 = identical, larger = less similar; the file-length component included),
// nullopt when either digest is malformed.
std::optional<int> tlsh_distance(std::string_view a, std::string_view b);

}  // namespace d4::analyzers::tls
