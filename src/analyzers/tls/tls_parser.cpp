#include "analyzers/tls/tls_parser.hpp"

#include <openssl/evp.h>

#include <cstring>

namespace d4::analyzers::tls {
namespace {

constexpr std::uint8_t kRecordChangeCipherSpec = 20;
constexpr std::uint8_t kRecordAlert = 21;
constexpr std::uint8_t kRecordHandshake = 22;
constexpr std::uint8_t kRecordApplicationData = 23;
constexpr std::uint8_t kRecordHeartbeat = 24;

// The SHA-256 of "HelloRetryRequest" that replaces the ServerHello random (RFC 8446 4.1.3).
constexpr std::uint8_t kHelloRetryRandom[32] = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> d) : d_(d) {}
  bool u8(std::uint8_t& v) {
    if (pos_ + 1 > d_.size()) return false;
    v = d_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (pos_ + 2 > d_.size()) return false;
    v = static_cast<std::uint16_t>(d_[pos_] << 8 | d_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u24(std::uint32_t& v) {
    if (pos_ + 3 > d_.size()) return false;
    v = static_cast<std::uint32_t>(d_[pos_]) << 16 | static_cast<std::uint32_t>(d_[pos_ + 1]) << 8 |
        d_[pos_ + 2];
    pos_ += 3;
    return true;
  }
  bool bytes(std::size_t n, std::span<const std::uint8_t>& out) {
    if (pos_ + n > d_.size()) return false;
    out = d_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool vec8(std::span<const std::uint8_t>& out) {
    std::uint8_t n;
    return u8(n) && bytes(n, out);
  }
  bool vec16(std::span<const std::uint8_t>& out) {
    std::uint16_t n;
    return u16(n) && bytes(n, out);
  }
  bool vec24(std::span<const std::uint8_t>& out) {
    std::uint32_t n;
    return u24(n) && bytes(n, out);
  }
  bool done() const { return pos_ == d_.size(); }
  std::size_t remaining() const { return d_.size() - pos_; }

 private:
  std::span<const std::uint8_t> d_;
  std::size_t pos_ = 0;
};

bool u16_list(std::span<const std::uint8_t> d, std::vector<std::uint16_t>& out) {
  if (d.size() % 2) return false;
  for (std::size_t i = 0; i < d.size(); i += 2)
    out.push_back(static_cast<std::uint16_t>(d[i] << 8 | d[i + 1]));
  return true;
}

bool parse_client_extension(std::uint16_t type, std::span<const std::uint8_t> data, ClientHello& ch) {
  Reader r(data);
  std::span<const std::uint8_t> v;
  switch (type) {
    case 0: {  // server_name: list of (type, name)
      if (!r.vec16(v)) return false;
      Reader names(v);
      while (!names.done()) {
        std::uint8_t name_type;
        std::span<const std::uint8_t> name;
        if (!names.u8(name_type) || !names.vec16(name)) return false;
        if (name_type == 0 && ch.sni.empty()) ch.sni.assign(name.begin(), name.end());
      }
      return true;
    }
    case 10:
      return r.vec16(v) && u16_list(v, ch.groups);
    case 11:
      if (!r.vec8(v)) return false;
      ch.point_formats.assign(v.begin(), v.end());
      return true;
    case 13:
      return r.vec16(v) && u16_list(v, ch.signature_algorithms);
    case 16: {
      if (!r.vec16(v)) return false;
      Reader protos(v);
      while (!protos.done()) {
        std::span<const std::uint8_t> p;
        if (!protos.vec8(p)) return false;
        ch.alpn.emplace_back(p.begin(), p.end());
      }
      return true;
    }
    case 43:
      return r.vec8(v) && u16_list(v, ch.supported_versions);
    default:
      return true;
  }
}

template <typename T>
void append_list(std::string& s, const std::vector<T>& v, bool filter_grease, bool quirk) {
  bool first = true;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto x = v[i];
    if (filter_grease && is_grease(static_cast<std::uint16_t>(x))) continue;
    if (quirk) {
      // Reference sensor: a separator after every element that is not last in the unfiltered list.
      s += std::to_string(x);
      if (i + 1 < v.size()) s += '-';
    } else {
      if (!first) s += '-';
      s += std::to_string(x);
      first = false;
    }
  }
}

}  // namespace

bool parse_client_hello(std::span<const std::uint8_t> body, ClientHello& ch) {
  Reader r(body);
  std::span<const std::uint8_t> random, session, ciphers, compression;
  if (!r.u16(ch.legacy_version) || !r.bytes(32, random) || !r.vec8(session) || !r.vec16(ciphers) ||
      !r.vec8(compression))
    return false;
  if (!u16_list(ciphers, ch.ciphers)) return false;
  if (r.done()) return true;  // no extensions (SSL 3.0 style)
  std::span<const std::uint8_t> exts;
  if (!r.vec16(exts)) return false;
  Reader e(exts);
  while (!e.done()) {
    std::uint16_t type;
    std::span<const std::uint8_t> data;
    if (!e.u16(type) || !e.vec16(data)) return false;
    ch.extensions.push_back(type);
    if (!parse_client_extension(type, data, ch)) return false;
  }
  return true;
}

bool parse_server_hello(std::span<const std::uint8_t> body, ServerHello& sh) {
  Reader r(body);
  std::span<const std::uint8_t> random, session;
  std::uint8_t compression;
  if (!r.u16(sh.legacy_version) || !r.bytes(32, random) || !r.vec8(session) || !r.u16(sh.cipher) ||
      !r.u8(compression))
    return false;
  sh.hello_retry_request = std::memcmp(random.data(), kHelloRetryRandom, 32) == 0;
  if (r.done()) return true;
  std::span<const std::uint8_t> exts;
  if (!r.vec16(exts)) return false;
  Reader e(exts);
  while (!e.done()) {
    std::uint16_t type;
    std::span<const std::uint8_t> data;
    if (!e.u16(type) || !e.vec16(data)) return false;
    sh.extensions.push_back(type);
    Reader d(data);
    if (type == 43 && data.size() == 2) {
      d.u16(sh.selected_version);
    } else if (type == 16) {
      std::span<const std::uint8_t> list, proto;
      if (d.vec16(list)) {
        Reader l(list);
        if (l.vec8(proto)) sh.alpn.assign(proto.begin(), proto.end());
      }
    }
  }
  return true;
}

bool parse_certificate_list(std::span<const std::uint8_t> body,
                            std::vector<std::span<const std::uint8_t>>& out) {
  Reader r(body);
  std::span<const std::uint8_t> list;
  if (!r.vec24(list)) return false;
  Reader l(list);
  while (!l.done()) {
    std::span<const std::uint8_t> cert;
    if (!l.vec24(cert)) return false;
    out.push_back(cert);
  }
  return true;
}

std::string ja3_string(const ClientHello& ch, bool quirk) {
  std::string s = std::to_string(ch.legacy_version);
  s += ',';
  append_list(s, ch.ciphers, true, quirk);
  s += ',';
  append_list(s, ch.extensions, true, quirk);
  s += ',';
  append_list(s, ch.groups, true, quirk);
  s += ',';
  append_list(s, ch.point_formats, false, quirk);
  return s;
}

std::string ja3s_string(const ServerHello& sh, bool quirk) {
  std::string s = std::to_string(sh.legacy_version);
  s += ',';
  if (!is_grease(sh.cipher)) s += std::to_string(sh.cipher);
  s += ',';
  append_list(s, sh.extensions, true, quirk);
  return s;
}

std::string tls_version_name(std::uint16_t v) {
  switch (v) {
    case 0x0300:
      return "SSL 3.0";
    case 0x0301:
      return "TLS 1.0";
    case 0x0302:
      return "TLS 1.1";
    case 0x0303:
      return "TLS 1.2";
    case 0x0304:
      return "TLS 1.3";
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%04x", v);
      return buf;
    }
  }
}

void HandshakeStream::feed(std::span<const std::uint8_t> data, std::uint64_t frame) {
  while (state_ == State::Active && !data.empty()) {
    // Complete the 5-byte record header, then the record body.
    if (record_.size() < 5) {
      std::size_t take = std::min<std::size_t>(5 - record_.size(), data.size());
      record_.insert(record_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
      data = data.subspan(take);
      if (record_.size() < 5) return;
      std::uint8_t type = record_[0];
      bool known_type = type == kRecordChangeCipherSpec || type == kRecordAlert || type == kRecordHandshake ||
                        type == kRecordApplicationData || type == kRecordHeartbeat;
      std::size_t len = static_cast<std::size_t>(record_[3] << 8 | record_[4]);
      if (!known_type || record_[1] != 3 || record_[2] > 4 || len > kMaxRecord ||
          (records_ == 0 && type != kRecordHandshake)) {
        state_ = State::NotTls;
        return;
      }
    }
    std::size_t len = static_cast<std::size_t>(record_[3] << 8 | record_[4]);
    std::size_t need = 5 + len - record_.size();
    std::size_t take = std::min(need, data.size());
    record_.insert(record_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    data = data.subspan(take);
    if (record_.size() < 5 + len) return;
    ++records_;
    std::uint8_t type = record_[0];
    if (type == kRecordHandshake) {
      handshake_bytes({record_.data() + 5, len}, frame);
    } else if (type == kRecordChangeCipherSpec || type == kRecordApplicationData) {
      state_ = State::Encrypted;
    }
    record_.clear();
  }
}

void HandshakeStream::handshake_bytes(std::span<const std::uint8_t> data, std::uint64_t frame) {
  handshake_.insert(handshake_.end(), data.begin(), data.end());
  std::size_t off = 0;
  while (state_ == State::Active && handshake_.size() - off >= 4) {
    std::size_t len = static_cast<std::size_t>(handshake_[off + 1]) << 16 |
                      static_cast<std::size_t>(handshake_[off + 2]) << 8 | handshake_[off + 3];
    if (len > kMaxHandshakeMessage) {
      state_ = State::Overflow;
      break;
    }
    if (handshake_.size() - off < 4 + len) break;
    std::uint8_t type = handshake_[off];
    cb_(type, {handshake_.data() + off + 4, len}, frame);
    off += 4 + len;
  }
  handshake_.erase(handshake_.begin(), handshake_.begin() + static_cast<std::ptrdiff_t>(off));
}

}  // namespace d4::analyzers::tls
