#include "server/harness.hpp"

#include <ctime>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace d4::test {

namespace {
// Writing to a connection the server closed (the point of most reject tests) must fail with
// EPIPE, not kill the test process.
const bool kSigpipeIgnored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();
}  // namespace

protocol::Uuid random_uuid() {
  return protocol::Uuid::generate_v4();
}

std::vector<std::uint8_t> make_packet(const protocol::Uuid& uuid, std::uint8_t type, std::string_view key,
                                      std::span<const std::uint8_t> payload, std::uint64_t timestamp,
                                      std::uint8_t version) {
  protocol::PacketEncoder enc(version, type, uuid, key);
  std::vector<std::uint8_t> out;
  enc.append_packet(out, payload, timestamp ? timestamp : protocol::unix_seconds());
  return out;
}

std::vector<std::uint8_t> make_packet(const protocol::Uuid& uuid, std::uint8_t type, std::string_view key,
                                      std::string_view payload, std::uint64_t timestamp) {
  return make_packet(
      uuid, type, key,
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
      timestamp);
}

namespace {

// Connects to the server's loopback listener: 127.0.0.1, or ::1 when `source` is an IPv6 address
// (a test's network namespace gives lo addresses of 2001:db8::/32 to connect from).
int connect_loopback(int port, const std::string& source = {}) {
  const bool v6 = source.find(':') != std::string::npos;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket");
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_storage local{}, remote{};
  socklen_t len = 0;
  if (v6) {
    auto* l = reinterpret_cast<sockaddr_in6*>(&local);
    auto* r = reinterpret_cast<sockaddr_in6*>(&remote);
    l->sin6_family = r->sin6_family = AF_INET6;
    r->sin6_port = htons(static_cast<std::uint16_t>(port));
    r->sin6_addr = in6addr_loopback;
    len = sizeof(sockaddr_in6);
    if (inet_pton(AF_INET6, source.c_str(), &l->sin6_addr) != 1) len = 0;
  } else {
    auto* l = reinterpret_cast<sockaddr_in*>(&local);
    auto* r = reinterpret_cast<sockaddr_in*>(&remote);
    l->sin_family = r->sin_family = AF_INET;
    r->sin_port = htons(static_cast<std::uint16_t>(port));
    r->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sockaddr_in);
    if (!source.empty() && inet_pton(AF_INET, source.c_str(), &l->sin_addr) != 1) len = 0;
  }
  if (!source.empty() && (len == 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&local), len) != 0)) {
    ::close(fd);
    throw std::runtime_error("cannot bind to source address " + source);
  }
  socklen_t remote_len = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&remote), remote_len) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to port " + std::to_string(port) + " failed: " + std::strerror(errno));
  }
  return fd;
}

SSL_CTX* client_ctx(const std::string& cert, const std::string& key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // sensors commonly skip verification
  if (!cert.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx, cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM);
  }
  return ctx;
}

}  // namespace

SensorConnection::SensorConnection(int port, bool tls, const std::string& client_cert,
                                   const std::string& client_key, const std::string& source) {
  fd_ = connect_loopback(port, source);
  if (tls) start_tls(client_cert, client_key);
}

void SensorConnection::start_tls(const std::string& client_cert, const std::string& client_key) {
  ctx_ = client_ctx(client_cert, client_key);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  if (SSL_connect(ssl_) != 1) {
    ERR_clear_error();
    close();
    throw std::runtime_error("TLS handshake failed");
  }
}

SensorConnection::SensorConnection(int port, bool tls, const BeforeTls& before) {
  fd_ = connect_loopback(port, before.source);
  if (!before.bytes.empty() && ::send(fd_, before.bytes.data(), before.bytes.size(), MSG_NOSIGNAL) !=
                                   static_cast<ssize_t>(before.bytes.size())) {
    close();
    throw std::runtime_error("sending the bytes before TLS failed");
  }
  if (tls) start_tls({}, {});
}

SensorConnection::~SensorConnection() {
  close();
}

bool SensorConnection::send(std::span<const std::uint8_t> data) {
  if (fd_ < 0) return false;
  std::size_t off = 0;
  while (off < data.size()) {
    if (ssl_) {
      std::size_t n = 0;
      if (SSL_write_ex(ssl_, data.data() + off, data.size() - off, &n) != 1) {
        ERR_clear_error();
        return false;
      }
      off += n;
    } else {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
  }
  return true;
}

bool SensorConnection::wait_closed(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  // Non-blocking while waiting: a TLS record (session ticket) must not make SSL_read wait for more.
  int flags = fcntl(fd_, F_GETFL, 0);
  fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  struct Restore {
    int fd, flags;
    ~Restore() { fcntl(fd, F_SETFL, flags); }
  } restore{fd_, flags};
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    int r = ::poll(&p, 1, static_cast<int>(std::max<long long>(1, left.count())));
    if (r <= 0) continue;
    // The server never sends data: anything readable is session tickets, EOF or an error.
    if (ssl_) {
      std::size_t n = 0;
      if (SSL_read_ex(ssl_, buf, sizeof buf, &n) == 1) continue;
      int err = SSL_get_error(ssl_, 0);
      ERR_clear_error();
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;
      return true;
    }
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n <= 0) return true;
  }
  return false;
}

void SensorConnection::close() {
  if (ssl_) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (ctx_) {
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void SensorConnection::abort() {
  if (fd_ >= 0) {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd_);
    fd_ = -1;
  }
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (ctx_) {
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
  }
}

std::string tls12_negotiated_cipher(int port, const std::string& ciphers) {
  int fd = connect_loopback(port);
  SSL_CTX* ctx = client_ctx({}, {});
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  std::string negotiated;
  if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) == 1) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) negotiated = SSL_get_cipher_name(ssl);
    SSL_free(ssl);
  }
  ERR_clear_error();
  SSL_CTX_free(ctx);
  ::close(fd);
  return negotiated;
}

bool tls_handshake_ok(int port, const std::string& client_cert, const std::string& client_key) {
  try {
    SensorConnection c(port, true, client_cert, client_key);
    // TLS 1.3 reports a refused client certificate after the handshake: the server closes.
    return !c.wait_closed(300ms);
  } catch (const std::exception&) {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
ServerProcess::ServerProcess(RedisServer& redis, ServerOptions options)
    : redis_(redis), options_(std::move(options)), tls_port_(0), plain_port_(0), metrics_port_(0) {
  Process gen({(bin_dir() / "d4-server").string(), "--generate-cert", (dir_.path() / "certs").string()},
              Process::Options{{}, dir_.path() / "gen.out", dir_.path() / "gen.err", {}, {}});
  if (gen.wait(30s) != 0) throw std::runtime_error("d4-server --generate-cert failed");
  write_config(options_);
  start();
}

void ServerProcess::write_config(const ServerOptions& o) {
  options_ = o;
  std::ofstream f(config_path());
  f << "[general]\nlog_level = \"debug\"\nlog_format = \"" << o.log_format << "\"\n\n"
    << "[redis]\nstream = \""
    << (o.stream_endpoint.empty()
            ? "127.0.0.1:" + std::to_string(redis_.port()) + "/" + std::to_string(o.stream_db)
            : o.stream_endpoint)
    << "\"\nmeta = \""
    << (o.meta_endpoint.empty()
            ? "127.0.0.1:" + std::to_string(o.meta_redis ? o.meta_redis->port() : redis_.port()) + "/" +
                  std::to_string(o.meta_db)
            : o.meta_endpoint)
    << "\"\n"
    << (o.key_layout.empty() ? std::string() : "key_layout = \"" + o.key_layout + "\"\n") << "\n"
    << "[server]\n"
    // Port 0: the server binds what the kernel gives and reports it (start() reads the log).
    << "listen = [\"127.0.0.1:0\"]\n"
    << "plain_listen = [\"" << o.plain_listen << "\"]\n"
    << "metrics_listen = \"127.0.0.1:0\"\n"
    << "tls_cert = \"certs/server.crt\"\ntls_key = \"certs/server.key\"\n"
    << "mode = \"" << o.mode << "\"\n"
    << "default_hmac_key = \"" << o.default_key << "\"\n"
    << "threads = " << o.threads << "\n"
    << "policy_refresh_ms = 200\nsweep_interval_ms = 50\nflush_interval_ms = 100\n"
    << "heartbeat_interval = 1\ninstance_ttl = 3\n"
    << "coalesce_max_bytes = " << o.coalesce_max_bytes << "\n"
    << o.extra_server_toml << "\n";
}

ServerProcess::~ServerProcess() {
  if (proc_.running()) proc_.stop(5s);
}

void ServerProcess::start() {
  proc_ = Process({(bin_dir() / "d4-server").string(), "-c", config_path().string()},
                  Process::Options{{}, {}, dir_.path() / "server.log", {}, dir_.path()});
  // Generous timeouts: sanitizer builds on a loaded CI machine start slowly.
  metrics_port_ = wait_for_listening(dir_.path() / "server.log", "metrics and health, HTTP", proc_, 60s);
  tls_port_ = wait_for_listening(dir_.path() / "server.log", "sensors, TLS", proc_, 60s);
  plain_port_ = wait_for_listening(dir_.path() / "server.log", "sensors, plain TCP", proc_, 60s);
  std::string last = "no answer";
  bool up = eventually(
      [&] {
        auto r = http_get(metrics_port_, "/health");
        if (r) last = std::to_string(r->status) + " " + r->body;
        return r && r->status == 200;
      },
      60s, 20ms);
  if (!up)
    throw std::runtime_error("d4-server did not become healthy (/health on port " +
                             std::to_string(metrics_port_) + ": " + last + "):\n" + log());
}

int ServerProcess::stop(std::chrono::milliseconds grace) {
  return proc_.stop(grace);
}
void ServerProcess::kill_hard() {
  proc_.signal(9);
  proc_.wait(5s);
}
void ServerProcess::signal(int sig) {
  proc_.signal(sig);
}
bool ServerProcess::running() {
  return proc_.running();
}

bool ServerProcess::wait_policy_reloads(std::chrono::milliseconds timeout) {
  auto loads = [&] { return metric(metrics_port_, "d4_server_policy_loads_total"); };
  auto before = loads();
  if (!before) return false;
  // The first load may have started before the change was written; the second began after it.
  return eventually([&] { return loads().value_or(0) >= *before + 2; }, timeout, 20ms);
}

bool ServerProcess::wait_meta_flushed(std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        // One scrape: the server writes "completed" before "started" (see metrics.cpp).
        auto r = http_get(metrics_port_, "/metrics");
        if (!r || r->status != 200) return false;
        auto value = [&](std::string_view name) -> std::optional<double> {
          std::string prefix = "\n" + std::string(name) + " ";
          auto at = r->body.find(prefix);
          if (at == std::string::npos) return std::nullopt;
          return std::stod(r->body.substr(at + prefix.size()));
        };
        auto completed = value("d4_server_meta_flushes_completed_total");
        auto started = value("d4_server_meta_flushes_total");
        return completed && started && *completed == *started;
      },
      timeout, 20ms);
}

std::string ServerProcess::log() const {
  return read_text(dir_.path() / "server.log");
}

core::RedisClient ServerProcess::stream() {
  return core::RedisClient(*core::RedisEndpoint::parse(redis_.endpoint(options_.stream_db)));
}
core::RedisClient ServerProcess::meta() {
  if (!options_.meta_endpoint.empty())
    return core::RedisClient(*core::RedisEndpoint::parse(options_.meta_endpoint));
  RedisServer& r = options_.meta_redis ? *options_.meta_redis : redis_;
  return core::RedisClient(*core::RedisEndpoint::parse(r.endpoint(options_.meta_db)));
}

std::string stream_payloads(core::RedisClient& stream, const std::string& key, std::size_t* entries) {
  std::string out;
  std::size_t n = 0;
  std::string start = "-";
  for (;;) {
    auto r = stream.command({"XRANGE", key, start, "+", "COUNT", "1000"});
    if (r.type != core::RedisReply::Type::Array || r.elements.empty()) break;
    for (const auto& e : r.elements) {
      const auto& fields = e.elements.at(1).elements;
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
        if (fields[i].str == "message") out += fields[i + 1].str;
      ++n;
    }
    start = "(" + r.elements.back().elements.at(0).str;
  }
  if (entries) *entries = n;
  return out;
}

std::vector<std::string> stream_keys(core::RedisClient& stream, int type) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    auto r =
        stream.command({"SCAN", cursor, "MATCH", "stream:" + std::to_string(type) + ":*", "COUNT", "1000"});
    cursor = r.elements.at(0).str;
    for (const auto& k : r.elements.at(1).elements) keys.push_back(k.str);
  } while (cursor != "0");
  return keys;
}

std::string wait_stream(core::RedisClient& stream, int type, std::size_t bytes, std::string* key_out,
                        std::chrono::milliseconds timeout) {
  std::string data;
  eventually(
      [&] {
        auto ks = stream_keys(stream, type);
        if (ks.size() != 1) return false;
        data = stream_payloads(stream, ks[0]);
        if (key_out) *key_out = ks[0];
        return data.size() >= bytes;
      },
      timeout, 20ms);
  return data;
}

std::string local_day() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y%m%d", &tm);
  return text;
}

}  // namespace d4::test
