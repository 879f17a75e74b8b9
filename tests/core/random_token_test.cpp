// core/random_token.hpp: the length asked for, the URL-safe alphabet, and no two tokens alike.
#include "core/random_token.hpp"

#include <gtest/gtest.h>

#include <set>

TEST(RandomToken, HasTheLengthAskedForInTheUrlSafeAlphabet) {
  for (std::size_t n : {0u, 1u, 40u, 64u, 65u, 200u}) {
    const std::string token = d4::core::random_token(n);
    EXPECT_EQ(token.size(), n);
    EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos)
        << token;
  }
}

TEST(RandomToken, TokensDifferAndUseTheWholeAlphabet) {
  std::set<std::string> tokens;
  std::set<char> symbols;
  for (int i = 0; i < 100; ++i) {
    const std::string token = d4::core::random_token(32);
    tokens.insert(token);
    symbols.insert(token.begin(), token.end());
  }
  EXPECT_EQ(tokens.size(), 100u);
  // 3200 symbols drawn from 64: each is missed with probability (63/64)^3200, about 1e-22.
  EXPECT_EQ(symbols.size(), 64u);
}
