#include "protocol/hmac.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <stdexcept>

namespace d4::protocol {
namespace {

EVP_MAC* hmac_algorithm() {
  // Fetched once; EVP_MAC objects are reference counted and thread-safe to share.
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) throw std::runtime_error("OpenSSL: HMAC is not available");
  return mac;
}

evp_mac_ctx_st* new_keyed_ctx(const std::string& key) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac_algorithm());
  if (!ctx) throw std::runtime_error("OpenSSL: EVP_MAC_CTX_new failed");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  // An empty key is legal for HMAC; OpenSSL wants a non-null pointer.
  static const unsigned char kEmpty = 0;
  const auto* k = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx, k, key.size(), params) != 1) {
    EVP_MAC_CTX_free(ctx);
    throw std::runtime_error("OpenSSL: EVP_MAC_init failed");
  }
  return ctx;
}

}  // namespace

void HmacKey::CtxDeleter::operator()(evp_mac_ctx_st* c) const {
  EVP_MAC_CTX_free(c);
}

HmacKey::HmacKey(std::string_view key) : key_(key), ctx_(new_keyed_ctx(key_)) {}
HmacKey::HmacKey(const HmacKey& other) : key_(other.key_), ctx_(new_keyed_ctx(key_)) {}
HmacKey& HmacKey::operator=(const HmacKey& other) {
  if (this != &other) {
    key_ = other.key_;
    ctx_.reset(new_keyed_ctx(key_));
  }
  return *this;
}
HmacKey::HmacKey(HmacKey&&) noexcept = default;
HmacKey& HmacKey::operator=(HmacKey&&) noexcept = default;
HmacKey::~HmacKey() = default;

Hmac HmacKey::compute(std::span<const std::uint8_t, kHeaderSize> header,
                      std::span<const std::uint8_t> payload) const {
  static const std::uint8_t kZeros[kHmacSize] = {};
  EVP_MAC_CTX* ctx = ctx_.get();
  // Re-initialise with the key already set: HMAC keeps its ipad/opad state.
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 || EVP_MAC_update(ctx, header.data(), kHmacOffset) != 1 ||
      EVP_MAC_update(ctx, kZeros, kHmacSize) != 1 ||
      EVP_MAC_update(ctx, header.data() + kSizeOffset, kHeaderSize - kSizeOffset) != 1 ||
      (!payload.empty() && EVP_MAC_update(ctx, payload.data(), payload.size()) != 1))
    throw std::runtime_error("OpenSSL: HMAC update failed");
  Hmac out{};
  std::size_t len = 0;
  if (EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != out.size())
    throw std::runtime_error("OpenSSL: HMAC final failed");
  return out;
}

bool HmacKey::verify(std::span<const std::uint8_t, kHeaderSize> header,
                     std::span<const std::uint8_t> payload) const {
  Hmac expected = compute(header, payload);
  return CRYPTO_memcmp(expected.data(), header.data() + kHmacOffset, kHmacSize) == 0;
}

void HmacKey::sign(std::span<std::uint8_t, kHeaderSize> header, std::span<const std::uint8_t> payload) const {
  Hmac mac = compute(header, payload);
  std::memcpy(header.data() + kHmacOffset, mac.data(), kHmacSize);
}

bool hmac_equal(const Hmac& a, const Hmac& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace d4::protocol
