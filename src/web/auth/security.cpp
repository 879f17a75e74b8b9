#include "web/auth/security.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <stdexcept>
#include "protocol/uuid.hpp"

namespace d4::web {

namespace {
void init_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium initialisation failed");
}
}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {
struct Argon2Limits {
  unsigned long long passes;
  std::size_t memory;
};
Argon2Limits limits_of(PasswordHashCost cost) {
  switch (cost) {
    case PasswordHashCost::Minimum:
      return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
    case PasswordHashCost::Moderate:
      return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
    case PasswordHashCost::Sensitive:
      return {crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_SENSITIVE};
    case PasswordHashCost::Interactive:
      break;
  }
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}
}  // namespace

std::optional<PasswordHashCost> parse_password_hash_cost(std::string_view name) {
  if (name == "interactive") return PasswordHashCost::Interactive;
  if (name == "moderate") return PasswordHashCost::Moderate;
  if (name == "sensitive") return PasswordHashCost::Sensitive;
  if (name == "minimum") return PasswordHashCost::Minimum;
  return std::nullopt;
}

std::string hash_password(std::string_view password, PasswordHashCost cost) {
  init_sodium();
  char out[crypto_pwhash_STRBYTES];
  const auto limits = limits_of(cost);
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), limits.passes, limits.memory,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("password hashing failed (out of memory?)");
  return out;
}

PasswordCheck verify_password(std::string_view password, const std::string& stored, PasswordHashCost cost) {
  PasswordCheck r;
  if (stored.rfind("$argon2", 0) == 0) {
    init_sodium();
    r.ok = crypto_pwhash_str_verify(stored.c_str(), password.data(), password.size()) == 0;
    const auto limits = limits_of(cost);
    r.needs_rehash =
        r.ok && crypto_pwhash_str_needs_rehash(stored.c_str(), limits.passes, limits.memory) != 0;
    return r;
  }
  // Users imported from the reference server carry bcrypt hashes ("$2b$..."): libxcrypt checks
  // them; the caller replaces them by an Argon2id hash after a successful login.
  if (stored.rfind("$2", 0) == 0 && password.find('\0') == std::string_view::npos) {
    auto data = std::make_unique<crypt_data>();
    std::memset(data.get(), 0, sizeof(crypt_data));
    std::string pw(password);
    const char* h = crypt_r(pw.c_str(), stored.c_str(), data.get());
    r.ok = h != nullptr && h[0] != '*' && constant_time_equal(h, stored);
    r.needs_rehash = r.ok;
  }
  return r;
}

std::optional<std::string> password_policy_violation(std::string_view password) {
  if (password.size() < 10 || password.size() > 100) return "the password must have 10 to 100 characters";
  int digits = 0, lower = 0, upper = 0;
  for (unsigned char c : password) {
    if (std::isdigit(c))
      ++digits;
    else if (std::islower(c))
      ++lower;
    else if (std::isupper(c))
      ++upper;
  }
  if (digits < 2 || lower < 1 || upper < 1)
    return "the password must contain at least 2 digits, 1 lower-case and 1 upper-case letter";
  return std::nullopt;
}

std::string generate_password() {
  for (;;) {
    std::string p = random_token(30);
    if (!password_policy_violation(p)) return p;
  }
}

std::string random_uuid4() {
  return protocol::Uuid::generate_v4().dashed();
}

}  // namespace d4::web
