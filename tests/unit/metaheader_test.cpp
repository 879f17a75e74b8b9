#include <gtest/gtest.h>

#include "protocol/metaheader.hpp"

using namespace d4::protocol;

TEST(MetaHeader, ParsesTypeAndKeepsOtherFields) {
  std::string err;
  auto m = parse_meta_header(R"({"type": "ja3-jl", "tags": ["tlp:white"]})", &err);
  ASSERT_TRUE(m) << err;
  EXPECT_EQ(m->type, "ja3-jl");
  EXPECT_EQ(m->json["tags"][0], "tlp:white");
}

TEST(MetaHeader, RejectsInvalidHeadersWithReasons) {
  for (const char* bad : {"", "[]", "{}", R"({"type": 3})", R"({"type": ""})", R"({"type": "../etc"})",
                          R"({"type": "a/b"})", "{\"type\": \"x\"", "not json"}) {
    std::string err;
    EXPECT_FALSE(parse_meta_header(bad, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(MetaHeader, AssemblesAcrossPacketsIgnoringNewlines) {
  MetaHeaderAssembler a;
  EXPECT_EQ(a.feed("{\"ty"), MetaHeaderAssembler::State::Incomplete);
  EXPECT_EQ(a.feed("pe\": \"d4-\n"), MetaHeaderAssembler::State::Incomplete);
  EXPECT_EQ(a.feed("telemetry\", \"x\": {\"}\": \"{\\\"\"}"), MetaHeaderAssembler::State::Incomplete);
  EXPECT_EQ(a.feed("}\n"), MetaHeaderAssembler::State::Complete);
  EXPECT_EQ(a.result().type, "d4-telemetry");
  EXPECT_EQ(a.result().json["x"]["}"], "{\"");
}

TEST(MetaHeader, AssemblerBoundsAndErrors) {
  MetaHeaderAssembler small(16);
  EXPECT_EQ(small.feed("{\"type\": \"aaaaaaaaaaaaaaaaaaaaaaa\"}"), MetaHeaderAssembler::State::Error);
  MetaHeaderAssembler notobj;
  EXPECT_EQ(notobj.feed("[1,2]"), MetaHeaderAssembler::State::Error);
  MetaHeaderAssembler notype;
  EXPECT_EQ(notype.feed("{\"a\": 1}"), MetaHeaderAssembler::State::Error);
  EXPECT_NE(notype.error().find("type"), std::string::npos);
}
