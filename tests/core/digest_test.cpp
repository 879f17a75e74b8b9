// core/digest.hpp against the FIPS 180 / RFC 1321 test vectors ("abc" and the empty string).
#include "core/digest.hpp"

#include <gtest/gtest.h>

#include <vector>

TEST(Digest, Sha1) {
  EXPECT_EQ(d4::core::sha1_hex(std::string_view("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(d4::core::sha1_hex(std::string_view("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(Digest, Sha256OfTextAndOfBytesAgree) {
  const std::string abc = "abc";
  const std::vector<std::uint8_t> bytes(abc.begin(), abc.end());
  EXPECT_EQ(d4::core::sha256_hex(std::string_view(abc)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(d4::core::sha256_hex(bytes), d4::core::sha256_hex(std::string_view(abc)));
  EXPECT_EQ(d4::core::sha1_hex(bytes), d4::core::sha1_hex(std::string_view(abc)));
}

TEST(Digest, Md5) {
  EXPECT_EQ(d4::core::md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(d4::core::md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
}
