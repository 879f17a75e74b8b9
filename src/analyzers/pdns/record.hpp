#pragma once
// One passive DNS observation (rrname, rrtype, rdata seen between time_first and time_last,
// `count` times) and the normalisation every input applies before storage, so that records from
// passivedns CSV, pcap, dnscap and COF imports land on the same Redis keys.
#include <cstdint>
#include <string>
#include <string_view>

namespace d4::analyzers::pdns {

struct PdnsRecord {
  std::string rrname;
  std::uint16_t rrtype = 0;
  std::string rdata;
  std::int64_t time_first = 0;  // epoch seconds
  std::int64_t time_last = 0;
  std::uint64_t count = 1;
  std::int64_t ttl = -1;     // -1: unknown (COF imports)
  std::string klass = "IN";  // for dist:class; empty: unknown
  std::string sensor_id;     // dashless sensor UUID when known
};

struct NormalizeOptions {
  bool lowercase_txt = false;  // the reference lower-cased TXT data too; DNS only folds names
};

// Lower-cases ASCII letters and strips leading/trailing dots (the reference's rule); the root
// stays ".". Returns false if the name is empty.
bool normalize_name(std::string& name);
// Applies the per-type rule to rdata: names (NS, CNAME, PTR, MX/SRV/SOA targets...) like
// normalize_name, IPv6 addresses in RFC 5952 form, IPv4 validated, TXT kept as is (unless
// lowercase_txt). Returns false when the data is empty or not valid for the type.
bool normalize_rdata(std::uint16_t rrtype, std::string& rdata, const NormalizeOptions& options = {});

}  // namespace d4::analyzers::pdns
