// protocol/encoding.hpp: hex and Base64 against RFC 4648's test vectors, and what the decoder
// tolerates (line breaks, trailing spaces, missing padding) or refuses.
#include "protocol/encoding.hpp"

#include <gtest/gtest.h>

#include <random>

using d4::protocol::base64_decode;
using d4::protocol::base64_encode;

TEST(Base64, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(base64_encode(std::string_view("")), "");
  EXPECT_EQ(base64_encode(std::string_view("f")), "Zg==");
  EXPECT_EQ(base64_encode(std::string_view("fo")), "Zm8=");
  EXPECT_EQ(base64_encode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(base64_encode(std::string_view("foob")), "Zm9vYg==");
  EXPECT_EQ(base64_encode(std::string_view("fooba")), "Zm9vYmE=");
  EXPECT_EQ(base64_encode(std::string_view("foobar")), "Zm9vYmFy");
}

TEST(Base64, DecodesTheRfc4648Vectors) {
  for (std::string_view plain : {"", "f", "fo", "foo", "foob", "fooba", "foobar"})
    EXPECT_EQ(base64_decode(base64_encode(plain)), std::string(plain)) << plain;
}

TEST(Base64, RoundTripsEveryByteValueAtEveryLength) {
  std::mt19937 rng(7);
  for (std::size_t n = 0; n < 300; ++n) {
    std::vector<std::uint8_t> bytes(n);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    auto decoded = d4::protocol::base64_decode_bytes(base64_encode(bytes));
    ASSERT_TRUE(decoded) << n;
    EXPECT_EQ(*decoded, bytes) << n;
  }
}

TEST(Base64, IgnoresLineBreaksTrailingSpacesAndMissingPadding) {
  EXPECT_EQ(base64_decode("Zm9v\r\nYmFy\n"), "foobar");
  EXPECT_EQ(base64_decode("Zm9vYg==\r"), "foob");
  EXPECT_EQ(base64_decode("Zm9vYg==  "), "foob");
  EXPECT_EQ(base64_decode("Zm9vYg"), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE"), "fooba");
}

TEST(Base64, RefusesWhatNoEncoderProduces) {
  EXPECT_FALSE(base64_decode("Zm9v!mFy"));   // outside the alphabet
  EXPECT_FALSE(base64_decode("Zm=vYmFy"));   // padding inside the text
  EXPECT_FALSE(base64_decode("Zm9vY"));      // 4n + 1 characters
  EXPECT_FALSE(base64_decode("Zm9 vYmFy"));  // a space inside
  EXPECT_FALSE(base64_decode("Zg=a"));       // padding before a character
}

TEST(Hex, LowerAndUpperCase) {
  const std::vector<std::uint8_t> bytes{0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(d4::protocol::hex(bytes), "000fa5ff");
  EXPECT_EQ(d4::protocol::hex(bytes, /*upper=*/true), "000FA5FF");
  std::string out = "x";
  d4::protocol::append_hex(out, bytes);
  EXPECT_EQ(out, "x000fa5ff");
}
