#pragma once
// TLS handshake parsing for fingerprinting: the record layer of one direction of a TCP stream
// (handshake messages reassembled across records and TCP segments), ClientHello / ServerHello /
// Certificate decoding, and JA3 / JA3S exactly as the public definition (GREASE values removed
// from ciphers, extensions and groups; decimal values joined by '-', fields by ',').
//
// Every length is checked against its enclosing structure; anything that is not TLS stops the
// parser for that direction (counted by the caller) instead of guessing.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/digest.hpp"

namespace d4::analyzers::tls {

namespace handshake {
inline constexpr std::uint8_t kClientHello = 1;
inline constexpr std::uint8_t kServerHello = 2;
inline constexpr std::uint8_t kCertificate = 11;
}  // namespace handshake

// GREASE (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa.
inline bool is_grease(std::uint16_t v) {
  return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

struct ClientHello {
  std::uint16_t legacy_version = 0;
  std::vector<std::uint16_t> ciphers;
  std::vector<std::uint16_t> extensions;
  std::vector<std::uint16_t> groups;                // supported_groups (10)
  std::vector<std::uint8_t> point_formats;          // ec_point_formats (11)
  std::vector<std::uint16_t> supported_versions;    // (43)
  std::vector<std::uint16_t> signature_algorithms;  // (13)
  std::string sni;                                  // server_name (0), host_name entry
  std::vector<std::string> alpn;                    // (16)
};

struct ServerHello {
  std::uint16_t legacy_version = 0;
  std::uint16_t cipher = 0;
  std::vector<std::uint16_t> extensions;
  std::uint16_t selected_version = 0;  // supported_versions (43), 0 when absent
  std::string alpn;                    // selected protocol
  bool hello_retry_request = false;    // TLS 1.3 HelloRetryRequest (special random)
  // The version actually negotiated: selected_version when present, else legacy_version.
  std::uint16_t version() const { return selected_version ? selected_version : legacy_version; }
};

bool parse_client_hello(std::span<const std::uint8_t> body, ClientHello& out);
bool parse_server_hello(std::span<const std::uint8_t> body, ServerHello& out);
// TLS 1.0-1.2 Certificate message (TLS 1.3 is encrypted): the DER certificates in order.
bool parse_certificate_list(std::span<const std::uint8_t> body,
                            std::vector<std::span<const std::uint8_t>>& out);

// JA3 / JA3S strings and their MD5 digests (lower-case hex). `trailing_grease_quirk` reproduces
// the reference Go sensor, which kept a trailing '-' when the last element of a list was GREASE.
std::string ja3_string(const ClientHello& ch, bool trailing_grease_quirk = false);
std::string ja3s_string(const ServerHello& sh, bool trailing_grease_quirk = false);
// JA3 digests are MD5 hex (core/digest.hpp).
using core::md5_hex;

std::string tls_version_name(std::uint16_t v);  // "TLS 1.2", "SSL 3.0", "0x7f1c"

// The record layer of one direction. Handshake messages are delivered with the frame number of
// the packet that completed them; parsing stops at ChangeCipherSpec or application data (the
// rest is encrypted) or at the first byte sequence that is not TLS.
class HandshakeStream {
 public:
  using Callback =
      std::function<void(std::uint8_t type, std::span<const std::uint8_t> body, std::uint64_t frame)>;
  enum class State { Active, Encrypted, NotTls, Overflow };

  explicit HandshakeStream(Callback cb) : cb_(std::move(cb)) {}
  void feed(std::span<const std::uint8_t> data, std::uint64_t frame);
  State state() const { return state_; }
  bool active() const { return state_ == State::Active; }
  // Stops parsing (e.g. after bytes were lost: what follows cannot be framed reliably).
  void abandon() { state_ = State::NotTls; }
  std::uint64_t records() const { return records_; }
  // Bytes buffered for partial records and handshake messages.
  std::size_t memory_bytes() const { return record_.capacity() + handshake_.capacity(); }

  static constexpr std::size_t kMaxRecord = 16384 + 2048;
  static constexpr std::size_t kMaxHandshakeMessage = 256 * 1024;

 private:
  void handshake_bytes(std::span<const std::uint8_t> data, std::uint64_t frame);

  Callback cb_;
  State state_ = State::Active;
  std::vector<std::uint8_t> record_;     // partial record
  std::vector<std::uint8_t> handshake_;  // partial handshake message(s)
  std::uint64_t records_ = 0;
};

}  // namespace d4::analyzers::tls
