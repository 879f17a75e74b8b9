#include "core/redis_endpoint.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>

namespace d4::core {
namespace {

bool parse_int(std::string_view s, int& out, int lo, int hi) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

// "host:port", "[v6]:port" or "host" (default_port); false with *error.
bool endpoint_parse_node(std::string_view s, int default_port, RedisNode& node, std::string* error) {
  node.port = default_port;
  if (s.starts_with('[')) {
    auto close = s.find(']');
    if (close == std::string_view::npos) return *error = "missing ']'", false;
    node.host = std::string(s.substr(1, close - 1));
    s.remove_prefix(close + 1);
    if (!s.empty() && (s.front() != ':' || !parse_int(s.substr(1), node.port, 1, 65535)))
      return *error = "bad port", false;
  } else {
    auto colon = s.rfind(':');
    if (colon != std::string_view::npos) {
      if (!parse_int(s.substr(colon + 1), node.port, 1, 65535)) return *error = "bad port", false;
      s = s.substr(0, colon);
    }
    node.host = std::string(s);
  }
  if (node.host.empty()) return *error = "empty host", false;
  return true;
}

// The URL's query: TLS files, password files, Sentinel credentials. Every name is known, every
// value non-empty; each setting is checked against the scheme that gives it a meaning.
// `bare_userinfo`: the URL had "word@" (no colon): a password, or with password_file the user name.
bool endpoint_apply_query(std::string_view query, bool bare_userinfo, RedisEndpoint& e, std::string* error) {
  std::string sentinel_password_file, password_file;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = item.find('=');
    std::string_view name = item.substr(0, eq);
    if (eq == std::string_view::npos || eq + 1 == item.size())
      return *error = "query parameter \"" + std::string(name) + "\" needs a value", false;
    std::string value(item.substr(eq + 1));
    bool tls_setting = name == "ca" || name == "cert" || name == "key" || name == "sni";
    bool sentinel_setting = name.starts_with("sentinel_");
    if (tls_setting && !e.tls.enabled)
      return *error = std::string(name) +
                      "= is a TLS setting: use rediss:// (or rediss-sentinel://, rediss-cluster://)",
             false;
    if (sentinel_setting && !e.uses_sentinel())
      return *error = std::string(name) + "= is a Sentinel setting: use redis-sentinel://", false;
    if (name == "ca")
      e.tls.ca_file = value;
    else if (name == "cert")
      e.tls.cert_file = value;
    else if (name == "key")
      e.tls.key_file = value;
    else if (name == "sni")
      e.tls.server_name = value;
    else if (name == "db" && !parse_int(value, e.db, 0, 1 << 20))
      return *error = "bad database number", false;
    else if (name == "password_file")
      password_file = value;
    else if (name == "sentinel_user")
      e.sentinel_username = value;
    else if (name == "sentinel_password")
      e.sentinel_password = value;
    else if (name == "sentinel_password_file")
      sentinel_password_file = value;
    else if (name != "db")
      return *error = "unknown query parameter \"" + std::string(name) +
                      "\" (known: ca, cert, key, sni, password_file, db, sentinel_user, sentinel_password, "
                      "sentinel_password_file)",
             false;
  }
  if (e.tls.cert_file.empty() != e.tls.key_file.empty())
    return *error = "cert= and key= go together (the client certificate and its private key)", false;
  auto from_file = [&](const std::string& file, std::string& secret, const char* what) {
    if (file.empty()) return true;
    if (!secret.empty())
      return *error = std::string(what) + " is given twice (in the URL and as a file)", false;
    auto s = read_password_file(file, error);
    if (s) secret = std::move(*s);
    return s.has_value();
  };
  if (!password_file.empty() && e.username.empty() && bare_userinfo) {
    e.username = std::move(e.password);  // redis://user@host?password_file=...: a user, not a password
    e.password.clear();
  }
  return from_file(password_file, e.password, "the password") &&
         from_file(sentinel_password_file, e.sentinel_password, "the Sentinel password");
}

// "[user:]password@" before the host part of a URL; true when it has no colon.
bool endpoint_take_credentials(std::string_view& s, std::string& user, std::string& password) {
  auto at = s.rfind('@');
  if (at == std::string_view::npos) return false;
  auto cred = s.substr(0, at);
  auto colon = cred.find(':');
  if (colon == std::string_view::npos) {
    password = std::string(cred);  // redis://password@host: a password, as before ACLs
  } else {
    user = std::string(cred.substr(0, colon));
    password = std::string(cred.substr(colon + 1));
  }
  s.remove_prefix(at + 1);
  return colon == std::string_view::npos;
}

// unix:/run/redis.sock or unix:/run/redis.sock/2 (a trailing /<digits> selects the db).
bool endpoint_parse_unix(std::string_view s, RedisEndpoint& e, std::string* error) {
  auto slash = s.rfind('/');
  if (slash != std::string_view::npos && slash + 1 < s.size() && slash > 0) {
    int db = 0;
    if (parse_int(s.substr(slash + 1), db, 0, 1 << 20)) {
      e.db = db;
      s = s.substr(0, slash);
    }
  }
  if (s.empty() || s.front() != '/') return *error = "unix socket path must be absolute", false;
  e.unix_socket = std::string(s);
  return true;
}

// "host:port,host2:port2": Sentinels or cluster seeds.
bool endpoint_parse_node_list(std::string_view hosts, int default_port, std::vector<RedisNode>& nodes,
                              std::string* error) {
  while (!hosts.empty()) {
    auto comma = hosts.find(',');
    RedisNode node;
    if (!endpoint_parse_node(hosts.substr(0, comma), default_port, node, error)) return false;
    nodes.push_back(std::move(node));
    hosts = comma == std::string_view::npos ? std::string_view{} : hosts.substr(comma + 1);
  }
  return true;
}

// "seed1:6379,seed2:6379": a cluster has database 0 only, so a path is refused, not ignored.
bool endpoint_parse_cluster(std::string_view s, RedisEndpoint& e, std::string* error) {
  if (s.ends_with('/')) s.remove_suffix(1);
  if (s.find('/') != std::string_view::npos)
    return *error = "Redis Cluster has only database 0: a redis-cluster:// endpoint takes no /db", false;
  if (!endpoint_parse_node_list(s, 6379, e.cluster_seeds, error)) return false;
  if (e.cluster_seeds.empty()) return *error = "no cluster seed address", false;
  e.host = e.cluster_seeds.front().host;  // until discovery: only for messages
  e.port = e.cluster_seeds.front().port;
  return true;
}

// "s1:26379,s2/master-name[/db]".
bool endpoint_parse_sentinel(std::string_view s, RedisEndpoint& e, std::string* error) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos || slash + 1 == s.size())
    return *error = "a Sentinel endpoint names its master: redis-sentinel://host:26379,.../master-name/db",
           false;
  std::string_view path = s.substr(slash + 1), hosts = s.substr(0, slash);
  auto db_slash = path.find('/');
  e.sentinel_master = std::string(path.substr(0, db_slash));
  if (db_slash != std::string_view::npos && db_slash + 1 < path.size() &&
      !parse_int(path.substr(db_slash + 1), e.db, 0, 1 << 20))
    return *error = "bad database number", false;
  if (!endpoint_parse_node_list(hosts, 26379, e.sentinels, error)) return false;
  if (e.sentinels.empty()) return *error = "no Sentinel address", false;
  if (e.sentinel_master.empty()) return *error = "empty master name", false;
  e.host = e.sentinels.front().host;  // until discovery: only for messages
  e.port = e.sentinels.front().port;
  return true;
}

bool endpoint_parse_host_db(std::string_view s, RedisEndpoint& e, std::string* error) {
  if (s.ends_with('/')) s.remove_suffix(1);  // redis://host:port/ means db 0
  auto slash = s.find('/');
  if (slash != std::string_view::npos) {
    if (!parse_int(s.substr(slash + 1), e.db, 0, 1 << 20)) return *error = "bad database number", false;
    s = s.substr(0, slash);
  }
  RedisNode node;
  if (s.empty()) {
    node.host = e.host;  // "redis://" alone, or ":6380"
    node.port = e.port;
  } else if (s.starts_with(':')) {
    node.host = e.host;
    if (!parse_int(s.substr(1), node.port, 1, 65535)) return *error = "bad port", false;
  } else if (!endpoint_parse_node(s, e.port, node, error)) {
    return false;
  }
  e.host = node.host;
  e.port = node.port;
  return true;
}

}  // namespace

std::optional<std::string> read_password_file(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error) *error = "cannot read password file " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) {
    if (error) *error = "password file " + path + " is empty";
    return std::nullopt;
  }
  return secret;
}

std::optional<RedisEndpoint> RedisEndpoint::parse(std::string_view text, std::string* error) {
  std::string why;
  auto fail = [&]() -> std::optional<RedisEndpoint> {
    if (error) *error = "invalid Redis endpoint \"" + redact_endpoint(text) + "\": " + why;
    return std::nullopt;
  };
  RedisEndpoint e;
  std::string_view s = text, query;
  if (auto q = s.find('?'); q != std::string_view::npos) {
    query = s.substr(q + 1);
    s = s.substr(0, q);
  }
  std::string_view scheme;
  bool bare_userinfo = false;
  if (auto sep = s.find("://"); sep != std::string_view::npos) {
    scheme = s.substr(0, sep);
    s.remove_prefix(sep + 3);
    if (scheme != "redis" && scheme != "rediss" && scheme != "unix" && scheme != "redis-sentinel" &&
        scheme != "rediss-sentinel" && scheme != "redis-cluster" && scheme != "rediss-cluster")
      return why = "unknown scheme \"" + std::string(scheme) +
                   "://\" (expected redis://, rediss://, redis-sentinel://, rediss-sentinel://, "
                   "redis-cluster://, rediss-cluster:// or unix://)",
             fail();
    bare_userinfo = endpoint_take_credentials(s, e.username, e.password);
  }
  e.tls.enabled = scheme == "rediss" || scheme == "rediss-sentinel" || scheme == "rediss-cluster";
  // "unix:/path" alone or after redis:// credentials, or unix:///path.
  bool unix_form = (scheme.empty() || scheme == "redis") && s.starts_with("unix:");
  bool ok = scheme.ends_with("sentinel")  ? endpoint_parse_sentinel(s, e, &why)
            : scheme.ends_with("cluster") ? endpoint_parse_cluster(s, e, &why)
            : unix_form                   ? endpoint_parse_unix(s.substr(5), e, &why)
            : scheme == "unix"            ? endpoint_parse_unix(s, e, &why)
                                          : endpoint_parse_host_db(s, e, &why);
  if (!ok || !endpoint_apply_query(query, bare_userinfo, e, &why)) return fail();
  if (e.uses_cluster() && e.db != 0)
    return why = "Redis Cluster has only database 0 (db=" + std::to_string(e.db) + " refused)", fail();
  if (e.tls.enabled && !e.unix_socket.empty()) return why = "TLS over a unix socket is not supported", fail();
  return e;
}

RedisEndpoint RedisEndpoint::at_node(const RedisNode& node) const {
  RedisEndpoint e = *this;
  e.host = node.host;
  e.port = node.port;
  e.sentinel_master.clear();
  e.sentinels.clear();
  e.cluster_seeds.clear();
  return e;
}

std::string RedisEndpoint::to_string() const {
  auto node = [](const std::string& h, int p) {
    return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(p);
  };
  if (!unix_socket.empty()) return "unix:" + unix_socket + "/" + std::to_string(db);
  if (uses_sentinel()) {
    std::string out = tls.enabled ? "rediss-sentinel://" : "redis-sentinel://";
    for (std::size_t i = 0; i < sentinels.size(); ++i)
      out += (i ? "," : "") + node(sentinels[i].host, sentinels[i].port);
    return out + "/" + sentinel_master + "/" + std::to_string(db);
  }
  if (uses_cluster()) {
    std::string out = tls.enabled ? "rediss-cluster://" : "redis-cluster://";
    for (std::size_t i = 0; i < cluster_seeds.size(); ++i)
      out += (i ? "," : "") + node(cluster_seeds[i].host, cluster_seeds[i].port);
    return db == 0 ? out : out + " (db " + std::to_string(db) + ")";
  }
  std::string where = node(host, port) + "/" + std::to_string(db);
  return tls.enabled ? "rediss://" + where : where;
}

}  // namespace d4::core
