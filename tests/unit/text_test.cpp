// protocol/text.hpp: ASCII case folding and trimming, independent of the C locale.
#include <gtest/gtest.h>

#include "protocol/text.hpp"

namespace {

TEST(AsciiText, CaseFoldingChangesAsciiLettersOnly) {
  EXPECT_EQ(d4::text::ascii_lower("X-Forwarded-For 42"), "x-forwarded-for 42");
  EXPECT_EQ(d4::text::ascii_upper("redis__stream-1"), "REDIS__STREAM-1");
  // UTF-8 bytes (here "É" and "ß") are left as they are, whatever the locale.
  EXPECT_EQ(d4::text::ascii_lower("\xC3\x89t\xC3\x9F"), "\xC3\x89t\xC3\x9F");
  EXPECT_EQ(d4::text::ascii_upper("\xC3\xA9t"), "\xC3\xA9T");
}

TEST(AsciiText, IequalsIgnoresTheCaseOfAsciiLettersOnly) {
  EXPECT_TRUE(d4::text::iequals("Forwarded", "forwarded"));
  EXPECT_TRUE(d4::text::iequals("", ""));
  EXPECT_FALSE(d4::text::iequals("forwarded", "forwarded-for"));
  EXPECT_FALSE(d4::text::iequals("a-b", "a_b"));
  EXPECT_FALSE(d4::text::iequals("\xC3\x89", "\xC3\xA9")) << "no case folding outside ASCII";
}

TEST(AsciiText, TrimRemovesAsciiWhiteSpaceAtBothEnds) {
  EXPECT_EQ(d4::text::trim(" \t value \r\n"), "value");
  EXPECT_EQ(d4::text::trim(" \t\r\n"), "");
}

TEST(AsciiText, HexDigitsAreTheDigitsAndTheLettersAToFInEitherCase) {
  for (char c : std::string_view("0123456789abcdefABCDEF")) EXPECT_TRUE(d4::text::is_hex_digit(c)) << c;
  for (char c : std::string_view("gG/:@` \x80")) EXPECT_FALSE(d4::text::is_hex_digit(c)) << c;
}

}  // namespace
