#pragma once
// Shared helpers of the client tests: temporary directories, configuration directories, parsing
// of D4 streams with the protocol library's Framer, pcap helpers.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "protocol/framer.hpp"
#include "protocol/hmac.hpp"
#include "support/bytes.hpp"

namespace d4::test {

inline const char* kTestUuid = "8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01";
inline const char* kTestKey = "d4-test-key";

inline std::string client_binary() {
  return D4_CLIENT_BINARY;
}

class ClientTempDir {
 public:
  ClientTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "d4-client-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~ClientTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ClientTempDir(const ClientTempDir&) = delete;
  ClientTempDir& operator=(const ClientTempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}
inline void write_file(const std::string& path, const std::vector<std::uint8_t>& content) {
  write_file(path, std::string(content.begin(), content.end()));
}
inline std::string read_text(const std::string& path) {
  auto v = read_file(path);
  return {v.begin(), v.end()};
}

// A configuration directory like the reference sample (uuid, key, type, snaplen, version, source,
// destination), each value followed by "\n".
inline void make_config(const std::string& dir, int type, int snaplen,
                        const std::string& destination = "stdout") {
  std::filesystem::create_directories(dir);
  write_file(dir + "/uuid", std::string(kTestUuid) + "\n");
  write_file(dir + "/key", std::string(kTestKey) + "\n");
  write_file(dir + "/type", std::to_string(type) + "\n");
  write_file(dir + "/snaplen", std::to_string(snaplen) + "\n");
  write_file(dir + "/version", "1\n");
  write_file(dir + "/source", "stdin\n");
  write_file(dir + "/destination", destination + "\n");
}

struct RxPacket {
  protocol::Header header;
  std::vector<std::uint8_t> payload;
};

// Parses a complete D4 stream, verifying every HMAC; fails the test on any error.
inline std::vector<RxPacket> parse_stream(const std::vector<std::uint8_t>& bytes,
                                          std::string* error = nullptr) {
  protocol::Framer f;
  f.set_key(protocol::HmacKey(kTestKey));
  f.feed(bytes);
  std::vector<RxPacket> out;
  protocol::Packet p;
  while (f.next(p) == protocol::Framer::Status::Ready)
    out.push_back({p.header, {p.payload.begin(), p.payload.end()}});
  if (error) {
    if (f.error() != protocol::FrameError::None)
      *error = f.error_detail();
    else if (f.finish() != protocol::FrameError::None)
      *error = f.error_detail();
  }
  return out;
}
inline std::vector<RxPacket> parse_stream(const std::string& s, std::string* error = nullptr) {
  return parse_stream(std::vector<std::uint8_t>(s.begin(), s.end()), error);
}

inline std::vector<std::uint8_t> concat_payloads(const std::vector<RxPacket>& pkts) {
  std::vector<std::uint8_t> out;
  for (auto& p : pkts) out.insert(out.end(), p.payload.begin(), p.payload.end());
  return out;
}

// pcap helpers: records of a capture (without the global header).
inline std::vector<std::vector<std::uint8_t>> pcap_records(const std::vector<std::uint8_t>& pcap) {
  std::vector<std::vector<std::uint8_t>> recs;
  std::size_t o = 24;
  while (o + 16 <= pcap.size()) {
    std::uint32_t incl = protocol::load_le32(pcap.data() + o + 8);
    if (o + 16 + incl > pcap.size()) break;
    recs.emplace_back(pcap.begin() + static_cast<std::ptrdiff_t>(o),
                      pcap.begin() + static_cast<std::ptrdiff_t>(o + 16 + incl));
    o += 16 + incl;
  }
  return recs;
}

// True when bytes are a pcap global header followed by whole records, nothing left over.
inline bool is_valid_pcap(const std::vector<std::uint8_t>& bytes, std::size_t* records = nullptr) {
  if (bytes.size() < 24 || protocol::load_le32(bytes.data()) != 0xa1b2c3d4) return false;
  std::size_t o = 24, n = 0;
  while (o + 16 <= bytes.size()) {
    std::uint32_t incl = protocol::load_le32(bytes.data() + o + 8);
    if (o + 16 + incl > bytes.size()) return false;
    o += 16 + incl;
    ++n;
  }
  if (records) *records = n;
  return o == bytes.size();
}

// A pcap of about `bytes` bytes made of the vector captures' records (distinct timestamps).
inline std::vector<std::uint8_t> make_big_pcap(std::size_t bytes) {
  std::vector<std::vector<std::uint8_t>> recs;
  for (const char* name : {"dns.pcap", "backscatter.pcap", "tls.pcap"}) {
    auto r = pcap_records(read_file(vector_path(name)));
    recs.insert(recs.end(), r.begin(), r.end());
  }
  auto gh = read_file(vector_path("dns.pcap"));
  std::vector<std::uint8_t> out(gh.begin(), gh.begin() + 24);
  for (std::size_t i = 0; out.size() < bytes; ++i) {
    auto r = recs[i % recs.size()];
    protocol::store_le32(r.data(), static_cast<std::uint32_t>(1700000000 + i / 1000));
    protocol::store_le32(r.data() + 4, static_cast<std::uint32_t>(i % 1000000));
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

// Numbered text lines: "line 000001 ...\n", about `bytes` bytes.
inline std::string make_lines(std::size_t bytes) {
  std::string out;
  for (int i = 0; out.size() < bytes; ++i) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "line %08d sshd[1234]: Invalid user admin from 192.0.2.%d port %d\n", i,
                  i % 250, 1024 + i % 60000);
    out += buf;
  }
  return out;
}

}  // namespace d4::test
