#pragma once
// HMAC-SHA256 of D4 packets through OpenSSL's EVP_MAC. The MAC covers the 62-byte header with its
// hmac field (bytes 26..57) zeroed, followed by the payload. The key is the raw bytes of the key
// string (no hex/base64 decoding), as every D4 client and server does.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "protocol/header.hpp"

struct evp_mac_ctx_st;

namespace d4::protocol {

// Not safe for concurrent use from several threads: copy it per thread or connection.
class HmacKey {
 public:
  explicit HmacKey(std::string_view key);
  HmacKey(const HmacKey& other);
  HmacKey& operator=(const HmacKey& other);
  HmacKey(HmacKey&&) noexcept;
  HmacKey& operator=(HmacKey&&) noexcept;
  ~HmacKey();

  const std::string& key() const { return key_; }

  // MAC of a packet given as a 62-byte header (whose hmac field is ignored: zeros are fed in its
  // place) and its payload.
  Hmac compute(std::span<const std::uint8_t, kHeaderSize> header,
               std::span<const std::uint8_t> payload) const;
  // Constant-time check of the hmac carried in the header.
  bool verify(std::span<const std::uint8_t, kHeaderSize> header, std::span<const std::uint8_t> payload) const;
  // Computes and writes the hmac field into the header in place.
  void sign(std::span<std::uint8_t, kHeaderSize> header, std::span<const std::uint8_t> payload) const;

 private:
  std::string key_;
  // A context initialised with the key; each computation re-initialises it without re-keying,
  // which keeps the precomputed inner/outer pads.
  struct CtxDeleter {
    void operator()(evp_mac_ctx_st* c) const;
  };
  std::unique_ptr<evp_mac_ctx_st, CtxDeleter> ctx_;
};

// Constant-time comparison of two MACs.
bool hmac_equal(const Hmac& a, const Hmac& b);

}  // namespace d4::protocol
