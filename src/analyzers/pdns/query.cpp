#include "analyzers/pdns/query.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <tuple>

#include "analyzers/packet/ip_address.hpp"
#include "analyzers/pdns/record.hpp"
#include "analyzers/pdns/rrtype.hpp"
#include "analyzers/pdns/store.hpp"
#include "protocol/clock.hpp"

namespace d4::analyzers::pdns {
namespace {

// Types always probed, in addition to those recorded in dist:type: the reference server's eight
// and a few common ones, so that databases written by tools that never filled dist:type answer too.
constexpr std::uint16_t kBaselineTypes[] = {1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 46, 65, 257};

std::optional<std::int64_t> to_int(const std::optional<std::string>& s) {
  if (!s || s->empty()) return std::nullopt;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size()) return std::nullopt;
  return v;
}

struct Candidate {
  std::string name;
  std::uint16_t type;
  std::string rdata;
  std::int64_t first = -1, last = -1;
};

// Normalises a query term: an IP literal in canonical form, else a name folded like stored names.
std::string normalize_term(const std::string& q, bool& is_ip) {
  if (auto ip = packet::IpAddress::parse(q)) {
    is_ip = true;
    return ip->to_string();
  }
  is_ip = false;
  std::string n = q;
  normalize_name(n);
  return n;
}

}  // namespace

PdnsQuery::PdnsQuery(core::RedisClient& redis, QueryLimits limits) : redis_(redis), limits_(limits) {}

std::vector<std::uint16_t> PdnsQuery::candidate_types() {
  std::int64_t now = clock::unix_seconds();
  if (!types_cache_.empty() && now - types_cached_at_ < 10) return types_cache_;
  std::set<std::uint16_t> types(std::begin(kBaselineTypes), std::end(kBaselineTypes));
  auto r = redis_.command({"HKEYS", keys::kDistType});
  if (r.is_error()) throw core::RedisError("HKEYS dist:type: " + r.str);
  for (const auto& k : r.as_strings())
    if (auto t = dns::parse_type(k)) types.insert(*t);
  types_cache_.assign(types.begin(), types.end());
  types_cached_at_ = now;
  return types_cache_;
}

std::vector<std::string> PdnsQuery::names_pointing_to(const std::string& value, bool& capped) {
  auto types = candidate_types();
  std::vector<std::vector<std::string>> cmds;
  for (auto t : types) cmds.push_back({"SMEMBERS", keys::reverse(value, t)});
  auto replies = redis_.pipeline(cmds);
  std::set<std::string> names;
  for (auto& r : replies) {
    if (r.is_error()) throw core::RedisError("SMEMBERS: " + r.str);
    for (auto& n : r.as_strings()) names.insert(std::move(n));
  }
  std::vector<std::string> out(names.begin(), names.end());
  if (out.size() > limits_.max_names) {
    out.resize(limits_.max_names);
    capped = true;
  }
  return out;
}

QueryResult PdnsQuery::records_of(const std::vector<std::string>& names, const QueryOptions& o, bool capped) {
  QueryResult result;
  result.capped = capped;
  std::vector<std::uint16_t> types;
  if (!o.rrtypes.empty())
    types.assign(o.rrtypes.begin(), o.rrtypes.end());
  else
    types = candidate_types();

  // 1. Sizes of every (name, type) set.
  std::vector<std::pair<const std::string*, std::uint16_t>> keys_probed;
  std::vector<std::vector<std::string>> cmds;
  for (const auto& n : names)
    for (auto t : types) {
      keys_probed.emplace_back(&n, t);
      cmds.push_back({"SCARD", keys::forward(n, t)});
    }
  auto cards = redis_.pipeline(cmds);
  // 2. Members of the non-empty ones (bounded).
  cmds.clear();
  std::vector<std::size_t> fetched;
  for (std::size_t i = 0; i < cards.size(); ++i) {
    if (cards[i].is_error()) throw core::RedisError("SCARD: " + cards[i].str);
    long long n = cards[i].integer;
    if (n <= 0) continue;
    const auto& [name, t] = keys_probed[i];
    if (static_cast<std::size_t>(n) > limits_.max_set_members) {
      result.capped = true;
      cmds.push_back({"SRANDMEMBER", keys::forward(*name, t), std::to_string(limits_.max_set_members)});
    } else {
      cmds.push_back({"SMEMBERS", keys::forward(*name, t)});
    }
    fetched.push_back(i);
  }
  std::vector<Candidate> cands;
  {
    auto members = redis_.pipeline(cmds);
    for (std::size_t j = 0; j < members.size(); ++j) {
      if (members[j].is_error()) throw core::RedisError("SMEMBERS: " + members[j].str);
      const auto& [name, t] = keys_probed[fetched[j]];
      for (auto& v : members[j].as_strings()) cands.push_back(Candidate{*name, t, std::move(v)});
    }
  }
  std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.name, a.type, a.rdata) < std::tie(b.name, b.type, b.rdata);
  });

  auto load_times = [&](std::size_t from, std::size_t to) {
    // Two GETs rather than one MGET: the first and last seen keys of a record lie in different
    // slots of a Redis Cluster.
    std::vector<std::vector<std::string>> c;
    for (std::size_t i = from; i < to; ++i) {
      c.push_back({"GET", keys::first_seen(cands[i].name, cands[i].rdata, cands[i].type)});
      c.push_back({"GET", keys::last_seen(cands[i].name, cands[i].rdata, cands[i].type)});
    }
    auto r = redis_.pipeline(c);
    for (std::size_t i = from; i < to; ++i) {
      const auto& first = r[2 * (i - from)];
      const auto& last = r[2 * (i - from) + 1];
      if (first.is_error() || last.is_error())
        throw core::RedisError("GET: " + (first.is_error() ? first.str : last.str));
      auto f = first.as_integer(), l = last.as_integer();
      cands[i].first = f ? *f : (l ? *l : -1);
      cands[i].last = l ? *l : (f ? *f : -1);
    }
  };
  auto keep = [&](const Candidate& c) {
    if (c.first < 0) return false;  // expired between the set read and now
    if (o.time_first_after && c.first < *o.time_first_after) return false;
    if (o.time_first_before && c.first > *o.time_first_before) return false;
    if (o.time_last_after && c.last < *o.time_last_after) return false;
    if (o.time_last_before && c.last > *o.time_last_before) return false;
    return true;
  };

  std::vector<std::size_t> page;
  const bool time_filtered =
      o.time_first_after || o.time_first_before || o.time_last_after || o.time_last_before;
  if (time_filtered) {
    for (std::size_t i = 0; i < cands.size(); i += 5000) load_times(i, std::min(cands.size(), i + 5000));
    std::size_t matched = 0;
    for (std::size_t i = 0; i < cands.size(); ++i) {
      if (!keep(cands[i])) continue;
      if (matched >= o.offset && page.size() < o.limit) page.push_back(i);
      ++matched;
    }
    result.total = matched;
  } else {
    result.total = cands.size();
    std::size_t end = std::min(cands.size(), o.offset + o.limit);
    if (o.offset < end) {
      load_times(o.offset, end);
      for (std::size_t i = o.offset; i < end; ++i) page.push_back(i);
    }
  }

  // 3. Counts and sensors of the page.
  cmds.clear();
  for (auto i : page) {
    const auto& c = cands[i];
    cmds.push_back({"GET", keys::occurrences(c.name, c.rdata, c.type)});
    cmds.push_back({"SMEMBERS", keys::sensors_of(c.name, c.rdata, c.type)});
  }
  auto extra = redis_.pipeline(cmds);
  for (std::size_t k = 0; k < page.size(); ++k) {
    auto& c = cands[page[k]];
    if (c.first < 0) {  // expired since the set was read (no time filter case)
      --result.total;
      continue;
    }
    CofRecord r;
    r.rrname = c.name;
    r.rrtype = c.type;
    r.rdata = c.rdata;
    r.time_first = c.first;
    r.time_last = c.last;
    r.count = extra[2 * k].as_integer().value_or(0);
    r.sensors = extra[2 * k + 1].as_strings();
    std::sort(r.sensors.begin(), r.sensors.end());
    result.records.push_back(std::move(r));
  }
  return result;
}

QueryResult PdnsQuery::query(const std::string& q, const QueryOptions& options) {
  bool is_ip = false;
  std::string term = normalize_term(q, is_ip);
  bool capped = false;
  if (is_ip) return records_of(names_pointing_to(term, capped), options, capped);
  return records_of({term}, options, false);
}

QueryResult PdnsQuery::fquery(const std::string& q, const QueryOptions& options) {
  bool is_ip = false;
  std::string term = normalize_term(q, is_ip);
  bool capped = false;
  return records_of(names_pointing_to(term, capped), options, capped);
}

nlohmann::json PdnsQuery::info() {
  auto replies = redis_.pipeline({{"GET", std::string(keys::kProcessed)},
                                  {"ZREVRANGE", std::string(keys::kSensors), "0", "-1", "WITHSCORES"},
                                  {"HGETALL", std::string(keys::kRejected)},
                                  {"GET", std::string(keys::kExcluded)}});
  for (auto& r : replies)
    if (r.is_error()) throw core::RedisError("info: " + r.str);
  nlohmann::json sensors = nlohmann::json::array();
  auto z = replies[1].as_strings();
  for (std::size_t i = 0; i + 1 < z.size(); i += 2) {
    double score = 0;
    try {
      score = std::stod(z[i + 1]);
    } catch (...) {
    }
    sensors.push_back({{"sensor_id", z[i]}, {"count", static_cast<std::int64_t>(score)}});
  }
  nlohmann::json rejected = nlohmann::json::object();
  auto h = replies[2].as_strings();
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) rejected[h[i]] = to_int(h[i + 1]).value_or(0);
  return {{"version", "d4-cpp"}, {"software", "d4-pdns"}, {"stats", replies[0].as_integer().value_or(0)},
          {"sensors", sensors},  {"rejected", rejected},  {"excluded", replies[3].as_integer().value_or(0)}};
}

std::string format_cof(const CofRecord& r, const std::string& origin) {
  nlohmann::ordered_json j;
  j["rrname"] = r.rrname;
  std::string tn = dns::type_name(r.rrtype);
  if (tn.rfind("TYPE", 0) == 0)
    j["rrtype"] = r.rrtype;  // COF: unknown types as numbers
  else
    j["rrtype"] = tn;
  j["rdata"] = r.rdata;
  j["time_first"] = r.time_first;
  j["time_last"] = r.time_last;
  j["count"] = r.count;
  if (!origin.empty()) j["origin"] = origin;
  if (r.sensors.size() == 1)
    j["sensor_id"] = r.sensors[0];
  else if (!r.sensors.empty())
    j["sensor_id"] = r.sensors;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> parse_query_options(const core::http::Request& req, QueryOptions& out,
                                               const QueryLimits& limits) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto it = req.query.find(name);
    if (it == req.query.end()) return std::nullopt;
    return it->second;
  };
  if (auto t = get("rrtype"); t && !t->empty()) {
    std::size_t pos = 0;
    while (pos <= t->size()) {
      std::size_t comma = t->find(',', pos);
      std::string item = t->substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      auto type = dns::parse_type(item);
      if (!type) return "unknown rrtype '" + item + "'";
      out.rrtypes.insert(*type);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  struct TimeParam {
    const char* name;
    std::optional<std::int64_t>& field;
  } times[] = {{"time_first_after", out.time_first_after},
               {"time_first_before", out.time_first_before},
               {"time_last_after", out.time_last_after},
               {"time_last_before", out.time_last_before}};
  for (auto& tp : times) {
    auto v = get(tp.name);
    if (!v) continue;
    tp.field = to_int(v);
    if (!tp.field) return std::string(tp.name) + " must be an integer (epoch seconds)";
  }
  if (auto v = get("limit")) {
    auto n = to_int(v);
    if (!n || *n < 1) return "limit must be a positive integer";
    out.limit =
        static_cast<std::size_t>(std::min<std::int64_t>(*n, static_cast<std::int64_t>(limits.max_limit)));
  }
  if (auto v = get("offset")) {
    auto n = to_int(v);
    if (!n || *n < 0) return "offset must be a non-negative integer";
    out.offset = static_cast<std::size_t>(*n);
  }
  return std::nullopt;
}

void mount_pdns_api(core::http::Router& router, const core::RedisEndpoint& backend, ApiOptions options) {
  auto pool = std::make_shared<core::RedisClientPool>(backend);
  auto opts = std::make_shared<const ApiOptions>(std::move(options));
  router.set_middleware(core::http::bearer_token_middleware(opts->tokens));
  auto run = [pool, opts](core::http::Request& req, bool forward) -> core::http::Response {
    auto q = req.param("q");
    if (!q || q->empty()) return core::http::Response::error(400, "missing query term");
    QueryOptions qo;
    if (auto err = parse_query_options(req, qo, opts->limits)) return core::http::Response::error(400, *err);
    QueryResult result;
    try {
      result = pool->with_client([&](core::RedisClient& client) {
        PdnsQuery engine(client, opts->limits);
        return forward ? engine.query(*q, qo) : engine.fquery(*q, qo);
      });
    } catch (const core::RedisError& e) {
      return core::http::Response::error(503, std::string("storage unavailable: ") + e.what());
    }
    core::http::Response resp;
    resp.content_type = "application/x-ndjson";
    for (const auto& r : result.records) {
      resp.body += format_cof(r, opts->origin);
      resp.body += '\n';
    }
    resp.with_header("X-Total-Count", std::to_string(result.total));
    bool more = qo.offset + result.records.size() < result.total;
    if (more || result.capped) resp.with_header("X-Truncated", "true");
    if (more) {
      std::string next = req.path + "?";
      for (const auto& [k, v] : req.query)
        if (k != "offset") next += core::http::url_encode(k) + "=" + core::http::url_encode(v) + "&";
      next += "offset=" + std::to_string(qo.offset + qo.limit);
      resp.with_header("Link", "<" + next + ">; rel=\"next\"");
    }
    return resp;
  };
  router.get("/query/{q}", [run](core::http::Request& req) { return run(req, true); });
  router.get("/fquery/{q}", [run](core::http::Request& req) { return run(req, false); });
  router.get("/info", [pool](core::http::Request&) {
    try {
      return core::http::Response::json(
          200, pool->with_client([](core::RedisClient& c) { return PdnsQuery(c).info(); }));
    } catch (const core::RedisError& e) {
      return core::http::Response::error(503, std::string("storage unavailable: ") + e.what());
    }
  });
}

}  // namespace d4::analyzers::pdns
