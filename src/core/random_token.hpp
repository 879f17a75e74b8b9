#pragma once
// Random text for secrets the project generates (session and CSRF tokens, first-run keys and
// passwords), one copy for the project: OpenSSL's CSPRNG.
#include <cstddef>
#include <string>

namespace d4::core {

// `n` characters from [A-Za-z0-9_-] (6 bits each, no modulo bias). Throws std::runtime_error when
// the random generator fails.
std::string random_token(std::size_t n);

}  // namespace d4::core
