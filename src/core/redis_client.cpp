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
#include <random>

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

RedisClient::RedisClient(RedisEndpoint endpoint) : RedisClient(std::move(endpoint), Options{}) {}
RedisClient::RedisClient(RedisEndpoint endpoint, Options options)
    : endpoint_(std::move(endpoint)), options_(options), conn_(std::make_shared<Connection>()) {}
RedisClient::RedisClient(RedisClient&&) noexcept = default;
RedisClient& RedisClient::operator=(RedisClient&&) noexcept = default;
RedisClient::~RedisClient() = default;

RedisClient RedisClient::sharing_connection(int db) {
  if (!conn_) conn_ = std::make_shared<Connection>();
  RedisClient c(endpoint_.with_db(db), options_);
  c.conn_ = conn_;
  return c;
}

bool RedisClient::connected() const {
  return conn_ && conn_->is_open();
}

void RedisClient::disconnect() {
  if (conn_) conn_->close();
}

void RedisClient::fail_connection(const std::string& what) {
  disconnect();
  throw RedisError("Redis " + endpoint_.to_string() + ": " + what);
}

void RedisClient::connect() {
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
