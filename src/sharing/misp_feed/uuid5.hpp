#pragma once
// Name-based UUIDs (RFC 4122 version 5: SHA-1 of a namespace UUID and a name). Every uuid of the
// feed derives from the organisation, the kind of result, the period and the observed value, so an
// export run twice, or on another host, gives the same events, objects and attributes, and a MISP
// instance pulling the feed again updates them instead of adding duplicates.
#include <string>
#include <string_view>

namespace d4::sharing::misp {

// The namespace of D4's MISP feed events (itself a v5 uuid of "d4-project.org/misp-feed" in the
// RFC 4122 URL namespace).
inline constexpr std::string_view kFeedNamespace = "d513b57d-bf11-51ea-90f4-984bbb9f81ee";

// Dashed lower-case UUIDv5; `ns` must be a textual UUID (std::invalid_argument otherwise).
std::string uuid5(std::string_view ns, std::string_view name);

}  // namespace d4::sharing::misp
