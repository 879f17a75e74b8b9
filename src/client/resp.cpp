#include "client/resp.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "client/net.hpp"
#include "client/options.hpp"
#include "core/redact.hpp"
#include "protocol/clock.hpp"
#include "protocol/resp_writer.hpp"

namespace d4::client {
namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

int parse_db(std::string_view text, std::string_view what) {
  return static_cast<int>(parse_uint(text, 0, 1'000'000, std::string(what) + " database number"));
}

// "host:port", "[v6]:port", optional "/db".
void parse_tcp(std::string_view rest, RedisAddress& a, std::string_view what, const std::string& whole) {
  auto bad = [&](const std::string& why) {
    throw_invalid(what, std::string(what) + ": '" + whole + "': " + why +
                            " (expected HOST:PORT/DB, [IPV6]:PORT/DB, unix:/PATH/DB or "
                            "redis://:PASSWORD@HOST:PORT/DB)");
  };
  std::string_view hostport = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) a.db = parse_db(db, what);
  }
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) bad("missing ']'");
    a.host = std::string(hostport.substr(1, close - 1));
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') bad("expected ':' after ']'");
      a.port = std::string(hostport.substr(close + 2));
    }
  } else {
    auto colon = hostport.rfind(':');
    if (colon != std::string_view::npos && hostport.find(':') != colon)
      bad("IPv6 addresses must be written in brackets");
    a.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) a.port = std::string(hostport.substr(colon + 1));
  }
  if (a.host.empty()) bad("empty host");
  if (a.port.empty()) a.port = "6379";
  parse_uint(a.port, 1, 65535, std::string(what) + " port");
}

// "/path/to/socket" with an optional trailing "/db" (a last component made of digits).
void parse_unix(std::string_view rest, RedisAddress& a, std::string_view what) {
  a.unix_socket = true;
  if (auto slash = rest.rfind('/');
      slash != std::string_view::npos && slash > 0 && all_digits(rest.substr(slash + 1))) {
    a.db = parse_db(rest.substr(slash + 1), what);
    rest = rest.substr(0, slash);
  }
  if (rest.empty()) throw_invalid(what, std::string(what) + ": empty Unix socket path");
  a.path = std::string(rest);
}

// A one-line secret file, its final line break dropped.
std::string resp_read_password_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_invalid(what, std::string(what) + ": cannot read password file " + path);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) throw_invalid(what, std::string(what) + ": password file " + path + " is empty");
  return secret;
}

// The URL's query: TLS files, password file, db (the names of the server-side endpoints).
void resp_apply_query(std::string_view query, bool bare_userinfo, RedisAddress& a, std::string_view what,
                      const std::string& whole) {
  const std::string at = std::string(what) + ": '" + whole + "'";  // the address, password masked
  std::string password_file;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = item.find('=');
    std::string name(item.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1));
    if (value.empty()) throw_invalid(what, at + ": query parameter " + name + " needs a value");
    bool tls_setting = name == "ca" || name == "cert" || name == "key" || name == "sni";
    if (tls_setting && !a.tls) throw_invalid(what, at + ": " + name + "= needs rediss://");
    if (name == "ca")
      a.tls_settings.ca_file = value;
    else if (name == "cert")
      a.tls_settings.cert_file = value;
    else if (name == "key")
      a.tls_settings.key_file = value;
    else if (name == "sni")
      a.tls_settings.server_name = value;
    else if (name == "db")
      a.db = parse_db(value, what);
    else if (name == "password_file")
      password_file = value;
    else
      throw_invalid(
          what, at + ": unknown query parameter " + name + " (known: ca, cert, key, sni, password_file, db)");
  }
  if (a.tls_settings.cert_file.empty() != a.tls_settings.key_file.empty())
    throw_invalid(what, at + ": cert= and key= go together");
  if (password_file.empty()) return;
  if (bare_userinfo) a.user = std::move(a.password), a.password.clear();  // redis://user@host?password_file=
  if (!a.password.empty()) throw_invalid(what, at + ": the password is given twice");
  a.password = resp_read_password_file(password_file, what);
}

}  // namespace

std::string RedisAddress::describe() const {
  std::string where = unix_socket
                          ? "unix:" + path
                          : (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  return (tls ? "rediss://" : "") + where + "/" + std::to_string(db);
}

RedisAddress parse_redis_address(std::string_view text, std::string_view what) {
  RedisAddress a;
  std::string whole = core::redact_endpoint(text);  // for messages
  std::string_view rest = text;
  if (rest.starts_with("redis-sentinel://") || rest.starts_with("rediss-sentinel://"))
    throw_invalid(what, std::string(what) + ": '" + whole +
                            "': d4-client follows one Redis master, not Sentinel; give the master's address "
                            "(redis:// or rediss://)");
  bool url = false, unix_url = false;
  if (rest.starts_with("redis://") || rest.starts_with("rediss://")) {
    a.tls = rest.starts_with("rediss://");
    rest.remove_prefix(a.tls ? 9 : 8);
    url = true;
  } else if (rest.starts_with("unix://")) {
    rest.remove_prefix(7);
    url = unix_url = true;
  }
  std::string_view query;
  bool bare_userinfo = false;
  if (url) {
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    // Credentials end at the last '@' before the host part.
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
      std::string_view cred = rest.substr(0, at);
      rest = rest.substr(at + 1);
      if (auto colon = cred.find(':'); colon != std::string_view::npos) {
        a.user = std::string(cred.substr(0, colon));
        a.password = std::string(cred.substr(colon + 1));
      } else {
        a.password = std::string(cred);  // redis://password@host (as several clients accept)
        bare_userinfo = true;
      }
    }
    if (unix_url) {
      parse_unix(rest, a, what);
      resp_apply_query(query, bare_userinfo, a, what, whole);
      return a;
    }
  } else if (rest.starts_with("unix:")) {
    parse_unix(rest.substr(5), a, what);
    return a;
  }
  parse_tcp(rest, a, what, whole);
  resp_apply_query(query, bare_userinfo, a, what, whole);
  return a;
}

// ---- RESP ----

std::optional<RespReply> RespParser::next() {
  std::size_t pos = off_;
  RespReply r;
  if (!parse(pos, r, 0)) return std::nullopt;
  off_ = pos;
  if (off_ == buf_.size()) {
    buf_.clear();
    off_ = 0;
  } else if (off_ > (1u << 20)) {
    buf_.erase(0, off_);
    off_ = 0;
  }
  return r;
}

bool RespParser::parse(std::size_t& pos, RespReply& out, int depth) {
  if (depth > 8) throw std::runtime_error("Redis reply nested too deeply");
  auto eol = buf_.find("\r\n", pos);
  if (eol == std::string::npos) return false;
  if (eol == pos) throw std::runtime_error("empty Redis reply line");
  char kind = buf_[pos];
  std::string_view line(buf_.data() + pos + 1, eol - pos - 1);
  auto number = [&]() -> long long {
    long long v = 0;
    bool neg = !line.empty() && line.front() == '-';
    std::string_view digits = neg ? line.substr(1) : line;
    if (!all_digits(digits) || digits.size() > 18) throw std::runtime_error("bad number in Redis reply");
    for (char c : digits) v = v * 10 + (c - '0');
    return neg ? -v : v;
  };
  std::size_t after = eol + 2;
  switch (kind) {
    case '+':
      out.kind = RespReply::Kind::Status;
      out.text = std::string(line);
      pos = after;
      return true;
    case '-':
      out.kind = RespReply::Kind::Error;
      out.text = std::string(line);
      pos = after;
      return true;
    case ':':
      out.kind = RespReply::Kind::Integer;
      out.integer = number();
      pos = after;
      return true;
    case '$': {
      long long len = number();
      if (len < 0) {
        out.kind = RespReply::Kind::Nil;
        pos = after;
        return true;
      }
      auto n = static_cast<std::size_t>(len);
      if (buf_.size() < after + n + 2) return false;
      out.kind = RespReply::Kind::Bulk;
      out.text.assign(buf_, after, n);
      pos = after + n + 2;
      return true;
    }
    case '*': {
      long long count = number();
      if (count < 0) {
        out.kind = RespReply::Kind::Nil;
        pos = after;
        return true;
      }
      out.kind = RespReply::Kind::Array;
      out.elements.clear();
      std::size_t p = after;
      for (long long i = 0; i < count; ++i) {
        RespReply e;
        if (!parse(p, e, depth + 1)) return false;
        out.elements.push_back(std::move(e));
      }
      pos = p;
      return true;
    }
    default:
      throw std::runtime_error("unexpected Redis reply type '" + std::string(1, kind) + "'");
  }
}

// ---- client ----

RespClient::RespClient(RedisAddress address, int stop_fd, int timeout_ms)
    : addr_(std::move(address)), stop_fd_(stop_fd), timeout_ms_(timeout_ms) {}

RespClient::~RespClient() {
  close();
}

void RespClient::close() {
  if (ssl_) SSL_free(ssl_);
  if (tls_context_) SSL_CTX_free(tls_context_);
  ssl_ = nullptr;
  tls_context_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  answered_ = false;
  parser_.clear();
}

// The TLS handshake on the connected non-blocking socket, within the deadline.
bool RespClient::start_tls(long long deadline_ms) {
  try {
    tls_context_ = protocol::new_tls_client_context(addr_.tls_settings);
  } catch (const std::runtime_error& e) {
    return fail(e.what());
  }
  ssl_ = SSL_new(tls_context_);
  SSL_set_fd(ssl_, fd_);
  protocol::prepare_tls_client(ssl_, addr_.tls_settings, addr_.host);
  for (;;) {
    ERR_clear_error();
    int rc = SSL_connect(ssl_);
    if (rc == 1) return true;
    int err = SSL_get_error(ssl_, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      int e = errno;
      std::string detail = err == SSL_ERROR_SSL ? ""
                           : rc == 0 || e == 0  ? "connection closed"
                                                : std::strerror(e);
      return fail(protocol::tls_client_failure(ssl_, addr_.tls_settings, detail, true));
    }
    if (!wait_fd(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_ms))
      return fail("TLS handshake: " + error_);
  }
}

long RespClient::send_some(const char* data, std::size_t n, short& want) {
  if (!ssl_) {
    ssize_t w = ::send(fd_, data, n, MSG_NOSIGNAL);
    if (w > 0) return w;
    if (w < 0 && errno == EINTR) return 0;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return want = POLLOUT, 0;
    error_ = std::string("write: ") + (w < 0 ? std::strerror(errno) : "no progress");
    return -1;
  }
  ERR_clear_error();
  int w = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
  if (w > 0) return w;
  return tls_retry(w, want, "write");
}

long RespClient::receive_some(char* data, std::size_t n, short& want) {
  if (!ssl_) {
    ssize_t r = ::recv(fd_, data, n, 0);
    if (r > 0) return r;
    if (r == 0) return error_ = "connection closed by Redis", -1;
    if (errno == EINTR) return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return want = POLLIN, 0;
    error_ = std::string("read: ") + std::strerror(errno);
    return -1;
  }
  ERR_clear_error();
  int r = SSL_read(ssl_, data, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
  if (r > 0) return r;
  return tls_retry(r, want, "read");
}

// After a TLS read or write returned rc <= 0: 0 with `want` set when it is to be retried when the
// socket is ready, -1 with error_ (with hints before the first reply) otherwise.
long RespClient::tls_retry(int rc, short& want, const char* op) {
  int e = errno;
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ) return want = POLLIN, 0;
  if (err == SSL_ERROR_WANT_WRITE) return want = POLLOUT, 0;
  std::string detail = err == SSL_ERROR_SSL                                ? ""
                       : err == SSL_ERROR_ZERO_RETURN || rc == 0 || e == 0 ? "connection closed by Redis"
                                                                           : std::strerror(e);
  if (detail.empty() || !answered_)
    detail = protocol::tls_client_failure(ssl_, addr_.tls_settings, detail, !answered_);
  error_ = std::string(op) + ": " + detail;
  return -1;
}

bool RespClient::fail(std::string why) {
  error_ = std::move(why);
  close();
  return false;
}

// Waits for `events` on the socket until the absolute deadline; false on timeout or stop.
bool RespClient::wait_fd(short events, long long deadline_ms) {
  for (;;) {
    long long left = deadline_ms - clock::monotonic_millis();
    if (left <= 0) {
      error_ = "timed out";
      return false;
    }
    pollfd fds[2] = {{fd_, events, 0}, {stop_fd_, POLLIN, 0}};
    int r = ::poll(fds, stop_fd_ >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      error_ = std::string("poll: ") + std::strerror(errno);
      return false;
    }
    if (stop_fd_ >= 0 && (fds[1].revents & POLLIN)) {
      stopped_ = true;
      error_ = "stopped";
      return false;
    }
    if (fds[0].revents) return true;
  }
}

bool RespClient::connect() {
  close();
  stopped_ = false;
  long long deadline = clock::monotonic_millis() + timeout_ms_;
  if (addr_.unix_socket) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (addr_.path.size() >= sizeof sun.sun_path) return fail("Unix socket path too long: " + addr_.path);
    std::memcpy(sun.sun_path, addr_.path.c_str(), addr_.path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 && errno != EINPROGRESS &&
        errno != EAGAIN)
      return fail(addr_.path + ": " + std::strerror(errno));
    if (!wait_fd(POLLOUT, deadline)) return fail(addr_.path + ": " + error_);
    if (int e = protocol::net::connect_result(fd_)) return fail(addr_.path + ": " + std::strerror(e));
  } else {
    std::string err;
    auto addrs = protocol::net::resolve(addr_.host, addr_.port, SOCK_STREAM, &err);
    if (addrs.empty()) return fail(err);
    std::string errors;
    for (const auto& a : addrs) {
      fd_ = protocol::net::start_connect(a, &err);
      if (fd_ < 0) {
        errors += (errors.empty() ? "" : "; ") + a.text + ": " + err;
        continue;
      }
      if (!wait_fd(POLLOUT, deadline)) {
        if (stopped_) return fail("stopped");
        errors += (errors.empty() ? "" : "; ") + a.text + ": " + error_;
        close();
        continue;
      }
      if (int e = protocol::net::connect_result(fd_)) {
        errors += (errors.empty() ? "" : "; ") + a.text + ": " + std::strerror(e);
        close();
        continue;
      }
      break;
    }
    if (fd_ < 0) return fail(errors);
    configure_socket(fd_, SocketOptions{std::chrono::milliseconds(30'000), std::chrono::milliseconds(0)});
    if (addr_.tls && !start_tls(deadline)) return false;
  }
  std::vector<std::vector<std::string>> setup;
  if (!addr_.password.empty()) {
    if (addr_.user.empty())
      setup.push_back({"AUTH", addr_.password});
    else
      setup.push_back({"AUTH", addr_.user, addr_.password});
  }
  if (addr_.db != 0) setup.push_back({"SELECT", std::to_string(addr_.db)});
  if (setup.empty()) return true;
  auto replies = pipeline(setup);
  if (!replies) return false;
  for (std::size_t i = 0; i < replies->size(); ++i)
    if ((*replies)[i].is_error()) return fail(setup[i][0] + ": " + (*replies)[i].text);
  return true;
}

std::optional<std::vector<RespReply>> RespClient::pipeline(
    const std::vector<std::vector<std::string>>& commands, int extra_wait_ms) {
  if (fd_ < 0) {
    error_ = "not connected";
    return std::nullopt;
  }
  std::string out;
  protocol::RespWriter writer(out);
  for (const auto& c : commands) writer.command(c);
  long long deadline = clock::monotonic_millis() + timeout_ms_ + extra_wait_ms;
  std::size_t off = 0;
  while (off < out.size()) {
    short want = 0;
    long w = send_some(out.data() + off, out.size() - off, want);
    if (w < 0) return fail(error_), std::nullopt;
    off += static_cast<std::size_t>(w);
    if (want && !wait_fd(want, deadline)) return fail("write: " + error_), std::nullopt;
  }
  std::vector<RespReply> replies;
  replies.reserve(commands.size());
  char buf[65536];
  try {
    while (replies.size() < commands.size()) {
      if (auto r = parser_.next()) {
        replies.push_back(std::move(*r));
        answered_ = true;
        continue;
      }
      short want = 0;
      long n = receive_some(buf, sizeof buf, want);
      if (n < 0) return fail(error_), std::nullopt;
      parser_.feed(buf, static_cast<std::size_t>(n));
      if (want && !wait_fd(want, deadline)) return fail("read: " + error_), std::nullopt;
    }
  } catch (const std::exception& e) {
    return fail(e.what()), std::nullopt;
  }
  return replies;
}

std::optional<RespReply> RespClient::command(const std::vector<std::string>& args, int extra_wait_ms) {
  auto r = pipeline({args}, extra_wait_ms);
  if (!r) return std::nullopt;
  return std::move(r->front());
}

}  // namespace d4::client
