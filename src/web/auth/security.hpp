#pragma once
// Cryptographic helpers of the web tier: random tokens, password hashing (Argon2id via
// libsodium, with verification of legacy bcrypt hashes from the reference server) and the
// password policy.
#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/digest.hpp"
#include "core/random_token.hpp"

namespace d4::web {

using core::random_token;  // core/random_token.hpp
using core::sha256_hex;    // core/digest.hpp
bool constant_time_equal(std::string_view a, std::string_view b);

struct PasswordCheck {
  bool ok = false;
  bool needs_rehash = false;  // a legacy (bcrypt) or weaker Argon2id hash: rehash on login
};

// The Argon2id cost of new password hashes ([web] password_hash). libsodium's named limits:
// interactive (2 passes over 64 MiB, the default), moderate (3 over 256 MiB), sensitive (4 over
// 1 GiB). Minimum (1 pass over 8 KiB) offers no protection of a stolen hash: it exists for
// throw-away test instances, where hashing dominated the test suite's CPU, and d4-web warns when
// it is configured.
enum class PasswordHashCost { Minimum, Interactive, Moderate, Sensitive };
std::optional<PasswordHashCost> parse_password_hash_cost(std::string_view name);

// Argon2id at `cost`; the result is the self-describing "$argon2id$..." string stored in
// user:all.
std::string hash_password(std::string_view password, PasswordHashCost cost = PasswordHashCost::Interactive);
// needs_rehash: a legacy (bcrypt) hash, or an Argon2id hash made at another cost than `cost`.
PasswordCheck verify_password(std::string_view password, const std::string& stored_hash,
                              PasswordHashCost cost = PasswordHashCost::Interactive);

// The reference policy: 10..100 characters, >= 2 digits, >= 1 lower case and >= 1 upper case
// letter. Returns the reason when the password is refused.
std::optional<std::string> password_policy_violation(std::string_view password);
// A random password that satisfies the policy.
std::string generate_password();

// Bounds the Argon2id verifications running at once (each takes 64 MiB and tens of milliseconds of
// CPU): a check beyond the bound is refused at once rather than queued behind an attacker's.
class PasswordCheckGate {
 public:
  explicit PasswordCheckGate(std::size_t max) : max_(max) {}
  bool try_enter() {
    auto n = in_use_.load();
    do {
      if (n >= max_) return false;
    } while (!in_use_.compare_exchange_weak(n, n + 1));
    return true;
  }
  void leave() { --in_use_; }

 private:
  std::size_t max_;
  std::atomic<std::size_t> in_use_{0};
};

// A dashed lowercase random UUID v4.
std::string random_uuid4();

}  // namespace d4::web
