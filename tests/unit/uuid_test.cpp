#include <gtest/gtest.h>

#include <set>

#include "protocol/uuid.hpp"

using d4::protocol::Uuid;

TEST(Uuid, ParsesDashedAndDashlessForms) {
  auto a = Uuid::parse("8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01");
  auto b = Uuid::parse("8BD5B2B23C8A4A399A5E1A4F1F2B7C01");
  auto c = Uuid::parse(" {8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01}\r\n");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, *c);
  EXPECT_EQ(a->bytes()[0], 0x8b);
  EXPECT_EQ(a->bytes()[15], 0x01);
  EXPECT_EQ(a->dashed(), "8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01");
  EXPECT_EQ(a->dashless(), "8bd5b2b23c8a4a399a5e1a4f1f2b7c01");
}

TEST(Uuid, RejectsMalformedText) {
  for (const char* bad : {"", "8bd5b2b2", "8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c0",
                          "8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c0g", "8bd5b2b23c8a-4a39-9a5e-1a4f1f2b7c01a",
                          "8bd5b2b2x3c8a-4a39-9a5e-1a4f1f2b7c01", "8bd5b2b23c8a4a399a5e1a4f1f2b7c0z"})
    EXPECT_FALSE(Uuid::parse(bad)) << bad;
}

TEST(Uuid, V4ValidationFollowsTheServerRule) {
  EXPECT_TRUE(Uuid::parse("8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01")->is_v4());
  EXPECT_TRUE(Uuid::parse("8bd5b2b2-3c8a-4a39-bfff-1a4f1f2b7c01")->is_v4());
  EXPECT_FALSE(Uuid::parse("8bd5b2b2-3c8a-1a39-9a5e-1a4f1f2b7c01")->is_v4());  // version 1
  EXPECT_FALSE(Uuid::parse("8bd5b2b2-3c8a-4a39-7a5e-1a4f1f2b7c01")->is_v4());  // NCS variant
  EXPECT_FALSE(Uuid::parse("8bd5b2b2-3c8a-4a39-ca5e-1a4f1f2b7c01")->is_v4());  // Microsoft variant
  EXPECT_FALSE(Uuid().is_v4());
  EXPECT_TRUE(Uuid().is_nil());
}

TEST(Uuid, GeneratedUuidsAreDistinctV4) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    Uuid u = Uuid::generate_v4();
    ASSERT_TRUE(u.is_v4());
    ASSERT_TRUE(seen.insert(u.dashless()).second);
    ASSERT_EQ(Uuid::parse(u.dashed()), u);
  }
}

TEST(Uuid, Normalize) {
  EXPECT_EQ(d4::protocol::normalize_uuid("8BD5B2B2-3C8A-4A39-9A5E-1A4F1F2B7C01"),
            "8bd5b2b23c8a4a399a5e1a4f1f2b7c01");
  EXPECT_FALSE(d4::protocol::normalize_uuid("nope"));
}
