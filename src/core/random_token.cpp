#include "core/random_token.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace d4::core {

std::string random_token(std::size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    unsigned char buf[64];
    if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("RAND_bytes failed");
    for (unsigned char c : buf)
      if (out.size() < n) out += kAlphabet[c & 63];  // 64 symbols: no modulo bias
  }
  return out;
}

}  // namespace d4::core
