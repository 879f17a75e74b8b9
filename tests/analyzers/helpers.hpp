#pragma once
// Test helpers for the analyzers: building frames (Ethernet/VLAN/SLL, IPv4/IPv6, TCP/UDP) and
// capture files byte by byte, running the analyzer executables, and plain HTTP requests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/bytes.hpp"
#include "support/process.hpp"

namespace d4::test::an {

using Bytes = std::vector<std::uint8_t>;

// SHA-1 of the server certificate in the TLS vector capture (its MANIFEST.md).
inline constexpr const char* kCertSha1 = "51e40bc32a067617cd4f01b797e7b66a0da121d9";

inline void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
inline void append(Bytes& b, const Bytes& x) {
  b.insert(b.end(), x.begin(), x.end());
}
inline Bytes text_bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

inline Bytes addr4(const std::string& s) {
  Bytes b(4);
  inet_pton(AF_INET, s.c_str(), b.data());
  return b;
}
inline Bytes addr6(const std::string& s) {
  Bytes b(16);
  inet_pton(AF_INET6, s.c_str(), b.data());
  return b;
}

struct Tcp {
  std::uint16_t sport = 1234, dport = 80;
  std::uint32_t seq = 1000, ack = 0;
  std::uint8_t flags = 0x18;
  Bytes payload;
  Bytes options;  // padded to 4 bytes by the caller
};

inline Bytes tcp(const Tcp& t) {
  Bytes b;
  put16(b, t.sport);
  put16(b, t.dport);
  put32(b, t.seq);
  put32(b, t.ack);
  b.push_back(static_cast<std::uint8_t>((20 + t.options.size()) / 4 << 4));
  b.push_back(t.flags);
  put16(b, 65535);
  put16(b, 0);  // checksum: not verified by the analyzers
  put16(b, 0);
  append(b, t.options);
  append(b, t.payload);
  return b;
}

inline Bytes tcp_seg(std::uint16_t sport, std::uint16_t dport, std::uint32_t seq, std::uint8_t flags,
                     Bytes payload = {}, std::uint32_t ack = 0) {
  Tcp t;
  t.sport = sport;
  t.dport = dport;
  t.seq = seq;
  t.ack = ack;
  t.flags = flags;
  t.payload = std::move(payload);
  return tcp(t);
}

inline Bytes udp(std::uint16_t sport, std::uint16_t dport, const Bytes& payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<std::uint16_t>(8 + payload.size()));
  put16(b, 0);
  append(b, payload);
  return b;
}

inline Bytes ipv4(const std::string& src, const std::string& dst, std::uint8_t proto, const Bytes& l4,
                  const Bytes& options = {}, std::uint16_t frag = 0) {
  Bytes b;
  std::size_t ihl = 20 + options.size();
  b.push_back(static_cast<std::uint8_t>(0x40 | ihl / 4));
  b.push_back(0);
  put16(b, static_cast<std::uint16_t>(ihl + l4.size()));
  put16(b, 0x1234);
  put16(b, frag);
  b.push_back(64);
  b.push_back(proto);
  put16(b, 0);
  append(b, addr4(src));
  append(b, addr4(dst));
  append(b, options);
  append(b, l4);
  return b;
}

// `ext` is a list of (header type, body) extension headers placed before the transport header;
// bodies must make each header a multiple of 8 bytes once the 2 leading bytes are added.
inline Bytes ipv6(const std::string& src, const std::string& dst, std::uint8_t proto, const Bytes& l4,
                  const std::vector<std::pair<std::uint8_t, Bytes>>& ext = {}) {
  Bytes exts;
  for (std::size_t i = 0; i < ext.size(); ++i) {
    std::uint8_t next = i + 1 < ext.size() ? ext[i + 1].first : proto;
    const Bytes& body = ext[i].second;
    exts.push_back(next);
    if (ext[i].first == 44)
      exts.push_back(0);  // fragment header: reserved byte, fixed 8 bytes
    else
      exts.push_back(static_cast<std::uint8_t>((body.size() + 2) / 8 - 1));
    append(exts, body);
  }
  Bytes b;
  put32(b, 0x60000000);
  put16(b, static_cast<std::uint16_t>(exts.size() + l4.size()));
  b.push_back(ext.empty() ? proto : ext[0].first);
  b.push_back(64);
  append(b, addr6(src));
  append(b, addr6(dst));
  append(b, exts);
  append(b, l4);
  return b;
}

inline Bytes ethernet(std::uint16_t ethertype, const Bytes& payload,
                      const std::vector<std::uint16_t>& vlans = {}) {
  Bytes b = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
  for (auto v : vlans) {
    put16(b, 0x8100);
    put16(b, v);
  }
  put16(b, ethertype);
  append(b, payload);
  return b;
}

inline Bytes sll(std::uint16_t protocol, const Bytes& payload) {
  Bytes b;
  put16(b, 0);  // packet type: to us
  put16(b, 1);  // ARPHRD_ETHER
  put16(b, 6);
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(i < 6 ? 0xAA : 0));
  put16(b, protocol);
  append(b, payload);
  return b;
}

inline Bytes sll2(std::uint16_t protocol, const Bytes& payload) {
  Bytes b;
  put16(b, protocol);
  put16(b, 0);
  put32(b, 2);  // interface index
  put16(b, 1);  // ARPHRD_ETHER
  b.push_back(0);
  b.push_back(6);
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(i < 6 ? 0xBB : 0));
  append(b, payload);
  return b;
}

struct CaptureFile {
  std::uint32_t linktype = 1;
  std::vector<std::pair<std::int64_t, Bytes>> frames;  // (ts ns, frame)

  void add(std::int64_t ts_ns, Bytes frame) { frames.emplace_back(ts_ns, std::move(frame)); }
  Bytes pcap(bool nanoseconds = false, bool big_endian = false) const {
    Bytes b;
    auto p32 = [&](std::uint32_t v) {
      if (big_endian)
        put32(b, v);
      else
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    auto p16 = [&](std::uint16_t v) {
      if (big_endian)
        put16(b, v);
      else {
        b.push_back(static_cast<std::uint8_t>(v));
        b.push_back(static_cast<std::uint8_t>(v >> 8));
      }
    };
    p32(nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4);
    p16(2);
    p16(4);
    p32(0);
    p32(0);
    p32(262144);
    p32(linktype);
    for (const auto& [ts, f] : frames) {
      p32(static_cast<std::uint32_t>(ts / 1000000000));
      p32(static_cast<std::uint32_t>(nanoseconds ? ts % 1000000000 : ts % 1000000000 / 1000));
      p32(static_cast<std::uint32_t>(f.size()));
      p32(static_cast<std::uint32_t>(f.size()));
      append(b, f);
    }
    return b;
  }
  void write(const std::filesystem::path& p, bool nanoseconds = false, bool big_endian = false) const {
    auto b = pcap(nanoseconds, big_endian);
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
};

inline void write_bytes(const std::filesystem::path& p, const Bytes& b) {
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

struct RunResult {
  int status = -1;
  std::string out, err;
};

// Runs one of the project's executables to completion (bounded), capturing stdout and stderr.
inline RunResult run_tool(const std::string& tool, const std::vector<std::string>& args, const TempDir& dir,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(60000),
                          const std::filesystem::path& stdin_file = {}) {
  static int counter = 0;
  ++counter;
  auto out = dir / ("out" + std::to_string(counter) + ".txt");
  auto err = dir / ("err" + std::to_string(counter) + ".txt");
  std::vector<std::string> argv{(bin_dir() / tool).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process::Options o;
  o.stdout_file = out;
  o.stderr_file = err;
  o.stdin_file = stdin_file;
  Process p(argv, o);
  RunResult r;
  r.status = p.wait(timeout);
  if (r.status < 0) p.stop();
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  std::string content_type;
};

// A minimal HTTP/1.1 GET over a plain socket (Connection: close, read to the end), so the tests
// exercise the server with an independent client.
inline HttpResult http_get(std::uint16_t port, const std::string& target, const std::string& bearer = {}) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket");
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to port " + std::to_string(port) + " failed");
  }
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!bearer.empty()) req += "Authorization: Bearer " + bearer + "\r\n";
  req += "\r\n";
  for (std::size_t off = 0; off < req.size();) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("send failed");
    }
    off += static_cast<std::size_t>(n);
  }
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  HttpResult r;
  std::size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0)
    throw std::runtime_error("bad HTTP response");
  std::string head = raw.substr(0, head_end);
  r.status = std::stoi(head.substr(head.find(' ') + 1, 3));
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos < head.size()) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[line.substr(0, colon)] = value;
    }
    pos = next;
  }
  std::string body = raw.substr(head_end + 4);
  auto te = r.headers.find("Transfer-Encoding");
  if (te != r.headers.end() && te->second.find("chunked") != std::string::npos) {
    std::string decoded;
    std::size_t p = 0;
    for (;;) {
      std::size_t eol = body.find("\r\n", p);
      if (eol == std::string::npos) break;
      std::size_t len = std::stoul(body.substr(p, eol - p), nullptr, 16);
      if (len == 0) break;
      decoded += body.substr(eol + 2, len);
      p = eol + 2 + len + 2;
    }
    body = decoded;
  }
  r.body = body;
  auto ct = r.headers.find("Content-Type");
  if (ct != r.headers.end()) r.content_type = ct->second;
  return r;
}

// Starts a "serve" subcommand on port 0, reads the port it reports ("listening on host:port" on
// its standard output) and waits until it answers.
inline Process start_server(const std::string& tool, std::vector<std::string> args, int& port,
                            const TempDir& dir) {
  args.push_back("--listen");
  args.push_back("127.0.0.1:0");
  std::vector<std::string> argv{(bin_dir() / tool).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process::Options o;
  o.stdout_file = dir / (tool + "-serve.out");
  o.stderr_file = dir / (tool + "-serve.err");
  Process p(argv, o);
  try {
    port = wait_for_listening(dir / (tool + "-serve.out"), "", p, std::chrono::milliseconds(30000));
  } catch (const std::exception& e) {
    throw std::runtime_error(tool + " serve did not start: " + e.what() +
                             read_text(dir / (tool + "-serve.err")));
  }
  int the_port = port;
  bool up = eventually(
      [&] {
        try {
          http_get(static_cast<std::uint16_t>(the_port), "/info");
          return true;
        } catch (...) {
          return false;
        }
      },
      std::chrono::milliseconds(15000), std::chrono::milliseconds(50));
  if (!up) throw std::runtime_error(tool + " serve did not start: " + read_text(dir / (tool + "-serve.err")));
  return p;
}

}  // namespace d4::test::an
