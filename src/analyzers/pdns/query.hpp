#pragma once
// Passive DNS queries over the reference key schema, answered in the Passive DNS Common Output
// Format (draft-dulaunoy-dnsop-passive-dns-cof): one JSON object per line, application/x-ndjson.
//
//   GET /query/<name|ip>   records of the name; for an IP, records of every name pointing at it
//   GET /fquery/<name|ip>  names whose rdata is <name> (CNAME/NS/MX/... targets) and their records;
//                          for an IP the same as /query
//   GET /info              JSON: version, software, stats (records processed), sensors, rejects
// Query parameters: rrtype=A,AAAA|28 (filter), time_first_after/time_first_before/time_last_after/
// time_last_before (epoch seconds), limit (default 1000, max 100000), offset.
// Headers of list answers: X-Total-Count (records matching), X-Truncated: true plus a Link
// rel="next" when the page does not hold all of them, or when a set exceeded the per-set bound
// (nothing is hidden silently, unlike the reference which dropped rrsets of 200+ values).
//
// Differences from the reference server: every rrtype is answered (types are discovered from
// dist:type); first/last/count come from the record's own type; names are case-insensitive;
// IPv6 addresses are normalised; optional bearer-token authentication; sensor_id when known.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/http_server.hpp"
#include "core/redis_client.hpp"

namespace d4::analyzers::pdns {

// Where d4-pdns keeps its records unless [analyzers.pdns] backend says otherwise (also read by the
// MISP feed exporter).
inline constexpr std::string_view kDefaultBackend = "127.0.0.1:6400/0";

struct CofRecord {
  std::string rrname;
  std::uint16_t rrtype = 0;
  std::string rdata;
  std::int64_t time_first = 0;
  std::int64_t time_last = 0;
  std::int64_t count = 0;
  std::vector<std::string> sensors;
};

struct QueryOptions {
  std::set<std::uint16_t> rrtypes;  // empty: all
  std::optional<std::int64_t> time_first_after, time_first_before, time_last_after, time_last_before;
  std::size_t limit = 1000;
  std::size_t offset = 0;
};

struct QueryResult {
  std::vector<CofRecord> records;  // the requested page, sorted by rrname, rrtype, rdata
  std::size_t total = 0;           // records matching the filters
  bool capped = false;             // a set or name list exceeded the per-query bound
};

struct QueryLimits {
  std::size_t max_limit = 100000;
  std::size_t max_set_members = 200000;  // members read from one r:/v: set
  std::size_t max_names = 10000;         // names expanded for reverse lookups
};

class PdnsQuery {
 public:
  PdnsQuery(core::RedisClient& redis, QueryLimits limits = {});
  QueryResult query(const std::string& q, const QueryOptions& options);
  QueryResult fquery(const std::string& q, const QueryOptions& options);
  nlohmann::json info();

 private:
  std::vector<std::uint16_t> candidate_types();
  // Names found in v:<value>:<t> for the candidate types.
  std::vector<std::string> names_pointing_to(const std::string& value, bool& capped);
  QueryResult records_of(const std::vector<std::string>& names, const QueryOptions& options, bool capped);

  core::RedisClient& redis_;
  QueryLimits limits_;
  std::vector<std::uint16_t> types_cache_;
  std::int64_t types_cached_at_ = 0;
};

// One COF line (without the newline): rrname, rrtype, rdata, time_first, time_last, count, origin
// and sensor_id when known.
std::string format_cof(const CofRecord& r, const std::string& origin);

struct ApiOptions {
  std::vector<std::string> tokens;  // accepted bearer tokens; empty: no authentication
  std::string origin = "origin not configured";
  QueryLimits limits;
};

// Adds /query, /fquery and /info to `router`. Each request uses a RedisClient from `backend`
// (one connection per handler thread).
void mount_pdns_api(core::http::Router& router, const core::RedisEndpoint& backend, ApiOptions options);

// Parses the query parameters of a request; returns an error text for invalid values.
std::optional<std::string> parse_query_options(const core::http::Request& req, QueryOptions& out,
                                               const QueryLimits& limits);

}  // namespace d4::analyzers::pdns
