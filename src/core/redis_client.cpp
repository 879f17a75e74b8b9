#include "core/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "core/redis_cluster.hpp"
#include "core/redis_handshake.hpp"
#include "protocol/net_connect.hpp"
#include "protocol/resp_writer.hpp"
#include "protocol/tls_client.hpp"

namespace d4::core {
namespace {

void blocking_set_timeouts(int fd, std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string blocking_io_error_text(int err) {
  return err == EAGAIN || err == EWOULDBLOCK ? "timed out" : std::strerror(err);
}

}  // namespace

// One blocking byte stream to one Redis node (socket, optional TLS) and its reply parser.
// I/O failures throw RedisError with what happened (the caller adds which endpoint).
struct RedisClient::Connection {
  struct SslCtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  struct ReaderFree {
    void operator()(redisReader* r) const { redisReaderFree(r); }
  };
  int fd = -1;
  std::unique_ptr<SSL_CTX, SslCtxFree> tls_context;
  std::unique_ptr<SSL, SslFree> ssl;
  std::unique_ptr<redisReader, ReaderFree> reader;
  RedisTls tls;
  int db = 0;             // the database the connection is on
  bool answered = false;  // a reply came on this connection

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(); }

  bool is_open() const { return fd >= 0; }
  void close() {
    ssl.reset();
    tls_context.reset();
    reader.reset();
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  // Connects to `node` (its unix socket, or host:port), with TLS when it says so.
  void open(const RedisEndpoint& node, const Options& o) {
    close();
    std::string err;
    if (!node.unix_socket.empty()) {
      protocol::net::SocketAddress a;
      sockaddr_un sun{};
      sun.sun_family = AF_UNIX;
      if (node.unix_socket.size() >= sizeof sun.sun_path) throw RedisError("unix socket path too long");
      std::memcpy(sun.sun_path, node.unix_socket.c_str(), node.unix_socket.size() + 1);
      std::memcpy(&a.addr, &sun, sizeof sun);
      a.len = sizeof sun;
      a.text = node.unix_socket;
      fd = protocol::net::connect_any({a}, o.connect_timeout, &err);
    } else {
      fd = protocol::net::connect_to(node.host, std::to_string(node.port), SOCK_STREAM, o.connect_timeout,
                                     &err);
    }
    if (fd < 0) throw RedisError("cannot connect: " + err);
    if (node.unix_socket.empty()) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // requests are whole writes
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    }
    reader.reset(redisReaderCreate());
    answered = false;
    tls = node.tls;
    if (tls.enabled) {
      blocking_set_timeouts(fd, o.connect_timeout);  // bounds the handshake
      try {
        tls_context.reset(protocol::new_tls_client_context(tls));
      } catch (const std::runtime_error& e) {
        throw RedisError(e.what());  // a CA, certificate or key file that cannot be loaded
      }
      ssl.reset(SSL_new(tls_context.get()));
      SSL_set_fd(ssl.get(), fd);
      protocol::prepare_tls_client(ssl.get(), tls, node.host);
      ERR_clear_error();
      if (SSL_connect(ssl.get()) != 1) {
        int e = errno;
        throw RedisError(protocol::tls_client_failure(
            ssl.get(), tls, ERR_peek_error() ? "" : blocking_io_error_text(e), true));
      }
    }
    blocking_set_timeouts(fd, o.command_timeout);
  }

  void write_all(std::string_view data) {
    while (!data.empty()) {
      ERR_clear_error();
      errno = 0;  // what is left after the call is this call's
      long n = ssl ? SSL_write(ssl.get(), data.data(),
                               static_cast<int>(std::min<std::size_t>(data.size(), 1 << 30)))
                   : ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && interrupted()) continue;
      throw RedisError("write failed: " + failure_text(n));
    }
  }

  RedisReply read_reply() {
    char buf[16384];
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) throw RedisError("protocol error in a reply");
      if (raw) {
        answered = true;
        RedisReply r = from_hiredis(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        return r;
      }
      ERR_clear_error();
      errno = 0;  // what is left after the call is this call's
      long n = ssl ? SSL_read(ssl.get(), buf, sizeof buf) : ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        redisReaderFeed(reader.get(), buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && interrupted()) continue;
      throw RedisError("read failed: " + failure_text(n));
    }
  }

  std::vector<RedisReply> exchange(std::string_view requests, std::size_t n) {
    write_all(requests);
    std::vector<RedisReply> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(read_reply());
    return out;
  }

 private:
  // What a failed read or write returned `n` means; over TLS before the first reply, with the
  // hints of protocol::tls_client_failure() (a server that wants a client certificate closes then).
  // A signal interrupted the call: retried, as hiredis did (over TLS OpenSSL reports it as
  // "want read/write" on this blocking socket, like a timeout, which errno tells apart).
  bool interrupted() const { return errno == EINTR; }

  std::string failure_text(long n) const {
    int e = errno;
    if (!ssl) return n == 0 ? "connection closed by Redis" : blocking_io_error_text(e);
    if (e == EAGAIN || e == EWOULDBLOCK) return "timed out";  // SO_RCVTIMEO / SO_SNDTIMEO
    int err = SSL_get_error(ssl.get(), static_cast<int>(n));
    std::string detail = err == SSL_ERROR_SSL                                 ? ""
                         : err == SSL_ERROR_ZERO_RETURN || (n == 0 && e == 0) ? "connection closed by Redis"
                                                                              : blocking_io_error_text(e);
    if (detail.empty() || !answered) return protocol::tls_client_failure(ssl.get(), tls, detail, !answered);
    return detail;
  }
};

struct RedisClient::ClusterState {
  std::optional<ClusterSlotMap> map;                         // nullopt: to be read again
  std::map<std::string, std::shared_ptr<Connection>> links;  // by cluster_node_name()
};

namespace {
// Redirections, TRYAGAIN/CLUSTERDOWN and unreachable nodes followed per call before giving up.
constexpr int kBlockingClusterAttempts = 8;
}  // namespace

RedisClient::RedisClient(RedisEndpoint endpoint) : RedisClient(std::move(endpoint), Options{}) {}
RedisClient::RedisClient(RedisEndpoint endpoint, Options options)
    : endpoint_(std::move(endpoint)), options_(options), conn_(std::make_shared<Connection>()) {
  if (endpoint_.uses_cluster()) cluster_ = std::make_shared<ClusterState>();
}
RedisClient::RedisClient(RedisClient&&) noexcept = default;
RedisClient& RedisClient::operator=(RedisClient&&) noexcept = default;
RedisClient::~RedisClient() = default;

RedisClient RedisClient::sharing_connection(int db) {
  if (!conn_) conn_ = std::make_shared<Connection>();
  RedisClient c(endpoint_.with_db(db), options_);
  c.conn_ = conn_;
  if (cluster_) c.cluster_ = cluster_;
  return c;
}

bool RedisClient::connected() const {
  if (cluster_)
    return cluster_->map && std::any_of(cluster_->links.begin(), cluster_->links.end(),
                                        [](const auto& l) { return l.second->is_open(); });
  return conn_ && conn_->is_open();
}

void RedisClient::disconnect() {
  if (conn_) conn_->close();
  if (cluster_)
    for (auto& [name, link] : cluster_->links) link->close();
}

void RedisClient::fail_connection(const std::string& what) {
  disconnect();
  throw RedisError("Redis " + endpoint_.to_string() + ": " + what);
}

void RedisClient::connect() {
  if (cluster_) {
    cluster_check_db();
    if (!cluster_->map) cluster_discover();
    return;
  }
  if (!conn_) conn_ = std::make_shared<Connection>();
  if (conn_->is_open()) return;
  try {
    open_connection();
  } catch (const RedisError& e) {
    fail_connection(e.what());
  }
}

void RedisClient::open_connection() {
  Connection& c = *conn_;
  c.db = 0;
  // AUTH then PING (and ROLE for a node found through Sentinel); SELECT comes with the first
  // command, as the shared connection may serve several databases.
  auto open_node = [&](const RedisEndpoint& node, bool check_role) {
    c.open(node, options_);
    RedisHandshake h = node_handshake(node, false, check_role);
    if (auto bad = check_node_handshake(h, c.exchange(h.resp, h.commands()))) throw RedisError(*bad);
  };
  if (!endpoint_.uses_sentinel()) return open_node(endpoint_, false);
  std::string errors;
  for (const auto& sentinel : endpoint_.sentinels) {
    std::string where = "Sentinel " + endpoint_.at_node(sentinel).to_string();
    std::string why;
    try {
      Connection s;
      s.open(endpoint_.at_node(sentinel), options_);
      RedisHandshake q = sentinel_query(endpoint_);
      if (auto master =
              master_from_sentinel(q, s.exchange(q.resp, q.commands()), endpoint_.sentinel_master, &why)) {
        where += " -> master " + endpoint_.at_node(*master).to_string();
        open_node(endpoint_.at_node(*master), true);
        return;
      }
    } catch (const RedisError& e) {
      why = e.what();
    }
    errors += (errors.empty() ? "" : "; ") + where + ": " + why;
  }
  c.close();
  throw RedisError("no Sentinel gave a reachable master \"" + endpoint_.sentinel_master + "\": " + errors);
}

std::vector<RedisReply> RedisClient::round_trip(std::string_view requests, std::size_t n) {
  connect();
  Connection& c = *conn_;
  const bool select = c.db != endpoint_.db;
  std::vector<RedisReply> replies;
  try {
    if (!select) {
      replies = c.exchange(requests, n);
    } else {
      std::string out;
      protocol::RespWriter(out).command({"SELECT", std::to_string(endpoint_.db)});
      out.append(requests);
      replies = c.exchange(out, n + 1);
    }
  } catch (const RedisError& e) {
    fail_connection(e.what());
  }
  if (select) {
    if (replies.front().is_error()) fail_connection("SELECT failed: " + replies.front().str);
    c.db = endpoint_.db;
    replies.erase(replies.begin());
  }
  // A master demoted by a Sentinel failover refuses writes: the next command rediscovers.
  if (endpoint_.uses_sentinel())
    for (const auto& r : replies)
      if (r.is_error() && r.str.starts_with("READONLY")) disconnect();
  return replies;
}

RedisReply RedisClient::command(std::initializer_list<std::string_view> args) {
  return command(std::vector<std::string_view>(args));
}

RedisReply RedisClient::command(const std::vector<std::string>& args) {
  std::vector<std::string_view> v(args.begin(), args.end());
  return command(v);
}

RedisReply RedisClient::command(const std::vector<std::string_view>& args) {
  if (cluster_) return std::move(cluster_exchange({args}).front());
  std::string resp;
  protocol::RespWriter w(resp);
  w.begin(args.size());
  for (auto a : args) w.arg(a);
  return std::move(round_trip(resp, 1).front());
}

RedisReply RedisClient::command_ok(std::initializer_list<std::string_view> args) {
  RedisReply r = command(args);
  if (r.is_error()) throw RedisError("Redis " + std::string(*args.begin()) + ": " + r.str);
  return r;
}

std::vector<RedisReply> RedisClient::pipeline(const std::vector<std::vector<std::string>>& commands) {
  if (commands.empty()) return {};
  if (cluster_) {
    std::vector<std::vector<std::string_view>> views;
    views.reserve(commands.size());
    for (const auto& c : commands) views.emplace_back(c.begin(), c.end());
    return cluster_exchange(views);
  }
  std::string resp;
  protocol::RespWriter w(resp);
  for (const auto& cmd : commands) w.command(cmd);
  return round_trip(resp, commands.size());
}

bool RedisClient::ping() noexcept {
  try {
    auto r = command({"PING"});
    return r.is_string() && r.str == "PONG";
  } catch (...) {
    return false;
  }
}

void RedisClient::cluster_check_db() const {
  if (endpoint_.db != 0)
    throw RedisError("Redis " + endpoint_.to_string() +
                     ": Redis Cluster has only database 0, and this client " + "uses database " +
                     std::to_string(endpoint_.db) + " (see docs/redis-keys.md, \"Redis Cluster\")");
}

RedisClient::Connection& RedisClient::cluster_link(const RedisNode& node) {
  auto& link = cluster_->links[cluster_node_name(node)];
  if (!link) link = std::make_shared<Connection>();
  if (link->is_open()) return *link;
  RedisEndpoint at = endpoint_.at_node(node);
  try {
    link->open(at, options_);
    RedisHandshake h = node_handshake(at, false, false);
    if (auto bad = check_node_handshake(h, link->exchange(h.resp, h.commands()))) throw RedisError(*bad);
  } catch (const RedisError& e) {
    link->close();
    throw RedisError(cluster_node_name(node) + ": " + e.what());
  }
  return *link;
}

void RedisClient::cluster_discover() {
  // The masters known so far first (after a failover any of them knows the new one), then the seeds.
  std::vector<RedisNode> candidates;
  if (cluster_->map) candidates = cluster_->map->masters();
  for (const auto& seed : endpoint_.cluster_seeds)
    if (std::find(candidates.begin(), candidates.end(), seed) == candidates.end()) candidates.push_back(seed);
  std::string errors;
  for (const auto& node : candidates) {
    std::string why;
    try {
      std::string request;
      protocol::RespWriter(request).command({"CLUSTER", "SLOTS"});
      auto replies = cluster_link(node).exchange(request, 1);
      if (auto map = ClusterSlotMap::from_cluster_slots(replies.front(), node, &why)) {
        cluster_->map = std::move(*map);
        return;
      }
      why = cluster_node_name(node) + ": " + why;
    } catch (const RedisError& e) {
      cluster_->links[cluster_node_name(node)]->close();
      why = e.what();
    }
    errors += (errors.empty() ? "" : "; ") + why;
  }
  cluster_->map.reset();
  throw RedisError("Redis " + endpoint_.to_string() + ": no cluster node gave a slot map: " + errors);
}

// Sends each routing group to the master of its slot (one round trip per node, the groups of a
// node in request order) and follows MOVED, ASK, TRYAGAIN and CLUSTERDOWN: none of them ran the
// command, so re-sending is safe. A node that cannot be reached before anything was sent to it
// makes the map be read again; a connection that breaks after sending throws.
std::vector<RedisReply> RedisClient::cluster_exchange(
    const std::vector<std::vector<std::string_view>>& commands) {
  cluster_check_db();
  std::string error;
  auto groups = cluster_groups(commands, &error);
  if (!groups) throw RedisError("Redis " + endpoint_.to_string() + ": " + error);
  struct Pending {
    const ClusterGroup* group;
    std::optional<RedisNode> ask;  // ASKING first, on that node
  };
  std::vector<RedisReply> replies(commands.size());
  std::vector<Pending> pending;
  for (const auto& g : *groups) pending.push_back({&g, std::nullopt});
  auto to_every_master = [&](const ClusterGroup& g) {
    return g.count == 1 && cluster_command_to_every_master(commands[g.first]);
  };
  Backoff backoff(std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
  bool wait = false;
  for (int attempt = 1; !pending.empty() && attempt <= kBlockingClusterAttempts; ++attempt) {
    if (wait) std::this_thread::sleep_for(backoff.next());  // TRYAGAIN, CLUSTERDOWN, node down
    wait = false;
    if (!cluster_->map) cluster_discover();
    std::vector<std::pair<RedisNode, std::vector<Pending>>> batches;
    auto batch_of = [&](const RedisNode& node) -> std::vector<Pending>& {
      auto it = std::find_if(batches.begin(), batches.end(), [&](const auto& b) { return b.first == node; });
      if (it == batches.end()) it = batches.insert(batches.end(), {node, {}});
      return it->second;
    };
    for (const auto& p : pending) {
      if (to_every_master(*p.group)) {
        for (const auto& master : cluster_->map->masters()) batch_of(master).push_back(p);
        continue;
      }
      const RedisNode* owner = p.ask               ? &*p.ask
                               : p.group->slot < 0 ? &cluster_->map->masters().front()
                                                   : cluster_->map->owner(p.group->slot);
      if (!owner)
        throw RedisError("Redis " + endpoint_.to_string() + ": no node serves slot " +
                         std::to_string(p.group->slot));
      batch_of(*owner).push_back(p);
    }
    // The reply of a command sent to every master: the first master's, or the first error.
    std::set<std::size_t> broadcast_answered;
    std::vector<Pending> again;
    for (auto& [node, batch] : batches) {
      std::string request;
      protocol::RespWriter w(request);
      for (const auto& p : batch) {
        if (p.ask) w.command({"ASKING"});
        for (std::size_t i = p.group->first; i < p.group->first + p.group->count; ++i) {
          w.begin(commands[i].size());
          for (auto a : commands[i]) w.arg(a);
        }
      }
      Connection* link = nullptr;
      try {
        link = &cluster_link(node);
      } catch (const RedisError& e) {
        if (attempt == kBlockingClusterAttempts)
          throw RedisError("Redis " + endpoint_.to_string() + ": " + e.what());
        cluster_->map.reset();  // nothing was sent: read the map again and retry
        wait = true;
        again.insert(again.end(), batch.begin(), batch.end());
        continue;
      }
      std::vector<RedisReply> got;
      try {
        got = link->exchange(request, w.commands());
      } catch (const RedisError& e) {
        link->close();
        cluster_->map.reset();
        throw RedisError("Redis " + endpoint_.to_string() + ": " + cluster_node_name(node) + ": " + e.what());
      }
      std::size_t at = 0;
      for (const auto& p : batch) {
        if (p.ask) ++at;  // ASKING's +OK
        const ClusterGroup& g = *p.group;
        if (to_every_master(g)) {
          RedisReply& mine = got[at++];
          if (broadcast_answered.insert(g.first).second || (mine.is_error() && !replies[g.first].is_error()))
            replies[g.first] = std::move(mine);
          continue;
        }
        std::move(got.begin() + static_cast<long>(at), got.begin() + static_cast<long>(at + g.count),
                  replies.begin() + static_cast<long>(g.first));
        at += g.count;
        const RedisReply* bad = cluster_first_unexecuted(&replies[g.first], g.count);
        if (!bad) continue;
        auto redirect = cluster_redirect(*bad);
        if (redirect && !redirect->ask) cluster_->map->move_slot(redirect->slot, redirect->node);
        if (!redirect && bad->str.starts_with("CLUSTERDOWN")) cluster_->map.reset();
        wait = wait || !redirect;
        again.push_back({&g, redirect && redirect->ask ? std::optional(redirect->node) : std::nullopt});
      }
    }
    pending = std::move(again);
  }
  return replies;  // after the last attempt, what is still redirected is returned as the error reply
}

std::unique_ptr<RedisClient> RedisClientPool::acquire() {
  std::lock_guard lock(mu_);
  if (free_.empty()) return std::make_unique<RedisClient>(endpoint_);
  auto c = std::move(free_.back());
  free_.pop_back();
  return c;
}

void RedisClientPool::release(std::unique_ptr<RedisClient> client) {
  std::lock_guard lock(mu_);
  free_.push_back(std::move(client));
}

std::chrono::milliseconds Backoff::next() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int shift = std::min(attempt_, 20);
  ++attempt_;
  auto cap = std::min<long long>(max_.count(), min_.count() * (1LL << shift));
  std::uniform_int_distribution<long long> d(min_.count(), std::max<long long>(min_.count(), cap));
  return std::chrono::milliseconds(d(rng));
}

}  // namespace d4::core
