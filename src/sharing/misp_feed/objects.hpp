#pragma once
// MISP objects for what the analyzers saw (docs/sharing.md#misp-feeds lists every attribute):
//   a backscatter victim  -> ddos object (ip-dst, dst-port, first/last seen, packets, flag mix)
//   a passive DNS record  -> passive-dns object
//   a certificate         -> x509 object
//   a JA3 fingerprint     -> ja3 object; a JA3S answering a JA3 -> ja3s object
// Each object's uuid derives from its event's and from what it describes, so it is the same object
// in every export of that event.
#include <cstdint>
#include <string>

#include "analyzers/pdns/query.hpp"
#include "sharing/misp_feed/event.hpp"
#include "sharing/misp_feed/sources.hpp"

namespace d4::sharing::misp {

MispObject victim_object(const std::string& event_uuid, const Victim& v, std::uint64_t min_packets);
MispObject dns_object(const std::string& event_uuid, const analyzers::pdns::CofRecord& r,
                      const std::string& origin);
// nullopt-free: a certificate always has its SHA-1. Only plain host names of its SAN go into
// dns_names (MISP's hostname type refuses wildcards); the others are listed in its text.
MispObject x509_object(const std::string& event_uuid, const SslCertificateRecord& c, bool include_raw);
MispObject ja3_object(const std::string& event_uuid, const Fingerprint& f);
MispObject ja3s_object(const std::string& event_uuid, const std::string& ja3, const Fingerprint& server);

// Letters, digits, '-' and '_' in dot-separated labels, with at least one dot (MISP's hostname).
bool is_plain_hostname(std::string_view name);

}  // namespace d4::sharing::misp
