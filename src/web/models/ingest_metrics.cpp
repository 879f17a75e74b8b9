// d4-server's metrics, read over plain HTTP with a deadline.
#include "web/models/ingest_metrics.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>

namespace d4::web::models {

namespace {

struct HttpTarget {
  std::string host, port;
  std::string host_header;  // host:port as written in the URL
  std::string path;
};

// "http://host:port/path" (IPv6 hosts in brackets); the wildcard listen addresses d4-server may
// be configured with are reached on loopback.
std::optional<HttpTarget> parse_http_url(const std::string& url) {
  if (url.rfind("http://", 0) != 0) return std::nullopt;
  std::string rest = url.substr(7);
  auto slash = rest.find('/');
  HttpTarget t;
  t.host_header = rest.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = t.host_header.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  t.host = t.host_header.substr(0, colon);
  t.port = t.host_header.substr(colon + 1);
  if (t.host.size() >= 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
  if (t.host == "0.0.0.0") t.host = "127.0.0.1";
  if (t.host == "::") t.host = "::1";
  return t;
}

// A non-blocking socket whose every wait ends at one deadline.
class DeadlineSocket {
 public:
  DeadlineSocket(const addrinfo& a, std::chrono::steady_clock::time_point deadline)
      : fd_(socket(a.ai_family, a.ai_socktype | SOCK_NONBLOCK, a.ai_protocol)), deadline_(deadline) {}
  ~DeadlineSocket() {
    if (fd_ >= 0) close(fd_);
  }
  DeadlineSocket(const DeadlineSocket&) = delete;
  DeadlineSocket& operator=(const DeadlineSocket&) = delete;

  bool connect_to(const addrinfo& a) {
    if (fd_ < 0) return false;
    int rc = connect(fd_, a.ai_addr, a.ai_addrlen);
    if (rc != 0 && !(errno == EINPROGRESS && wait(POLLOUT))) return false;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    return getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0;
  }
  bool send_all(const std::string& data) {
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Everything until the peer closes, the deadline, or `max` bytes.
  std::string receive(std::size_t max) {
    std::string out;
    char buf[16384];
    while (out.size() < max && wait(POLLIN)) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  bool wait(short events) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, events, 0};
    return poll(&p, 1, static_cast<int>(left.count())) == 1;
  }

  int fd_;
  std::chrono::steady_clock::time_point deadline_;
};

// The body of a 200 reply to GET `t`, empty on any failure.
std::string http_get(const HttpTarget& t, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &res) != 0) return {};
  std::string reply;
  {
    DeadlineSocket s(*res, std::chrono::steady_clock::now() + timeout);
    if (s.connect_to(*res) &&
        s.send_all("GET " + t.path + " HTTP/1.0\r\nHost: " + t.host_header + "\r\nConnection: close\r\n\r\n"))
      reply = s.receive(4u << 20);
  }
  freeaddrinfo(res);
  auto body = reply.find("\r\n\r\n");
  if (reply.rfind("HTTP/1.", 0) != 0 || reply.find(" 200 ") > 12 || body == std::string::npos) return {};
  return reply.substr(body + 4);
}

// Prometheus text: "name{labels} value" lines, comments skipped, at most 200.
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> metrics;
  std::size_t pos = 0;
  while (pos < text.size() && metrics.size() < 200) {
    auto nl = text.find('\n', pos);
    auto line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    metrics[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return metrics;
}

}  // namespace

IngestState read_ingest_metrics(const std::string& url, std::chrono::milliseconds timeout) {
  IngestState s;
  s.url = url;
  auto target = parse_http_url(url);
  if (!target) return s;
  auto text = http_get(*target, timeout);
  if (text.empty()) return s;
  s.reachable = true;
  s.metrics = parse_metrics(text);
  return s;
}

}  // namespace d4::web::models
