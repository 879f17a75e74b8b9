#pragma once
// The address of the client behind a request. Behind a reverse proxy every connection comes from
// the proxy, so login throttling and logs would treat all users as one: when the socket peer is a
// configured trusted proxy, the client is read from the proxy's forwarding header instead. The
// header is walked from the right (the entries the trusted proxies appended) and the first
// address that is not itself a trusted proxy is the client; anything left of it was written by the
// client and is ignored. A peer that is not a trusted proxy is the client, whatever it sends.
#include <string>
#include <string_view>
#include <vector>

#include "core/ipnet.hpp"

namespace d4::web {

enum class ForwardingHeader { XForwardedFor, Forwarded };

// `peer`: the socket address; `header`: the value of the configured header (repeated lines joined
// with ", "). Returns the client address in canonical text.
std::string client_address(std::string_view peer, std::string_view header, ForwardingHeader kind,
                           const std::vector<core::IpNetwork>& trusted_proxies);

}  // namespace d4::web
